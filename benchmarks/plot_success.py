"""Plot evaluation success against env steps from RL Zoo / EvalCallback logs.

    python benchmarks/plot_success.py logs/ogpo/AdroitHandDoor-v1_1 [more run dirs] --out docs/door.png \
        --title "OGPO on AdroitHandDoor-v1" [--start-success 0.45]

Each run dir holds the ``evaluations.npz`` written by SB3's EvalCallback (``successes`` per
evaluation episode). Also prints the curve as a table for docs/benchmarks.md. ``--reference "LABEL=0.17,0.33,..."``
adds a curve read from an earlier table of docs/benchmarks.md (every ``--reference-freq`` env steps, dotted) when
its run's files are gone, e.g. an earlier session's run from the same start.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="OGPO fine-tuning")
    parser.add_argument("--labels", nargs="+", help="legend entries, one per run (default: run dir names)")
    parser.add_argument("--start-success", type=float, default=None, help="success of the BC start (dashed line)")
    parser.add_argument("--reference", nargs="*", default=[], help='"LABEL=v1,v2,...": a curve from a docs table')
    parser.add_argument("--reference-freq", type=int, default=5000, help="env steps between a reference's values")
    args = parser.parse_args()
    figure, axis = plt.subplots(figsize=(8, 4))
    labels = args.labels or [Path(run).name for run in args.runs]
    for run, label in zip(args.runs, labels):
        data = np.load(Path(run) / "evaluations.npz")
        if "successes" not in data or len(data["successes"]) == 0:
            raise SystemExit(f"{run}/evaluations.npz has no success record (is info['is_success'] reported?)")
        success = data["successes"].mean(axis=1)
        axis.plot(data["timesteps"], success, marker="o", label=label)
        print(f"{run}: " + ", ".join(f"{int(t)}: {s:.2f}" for t, s in zip(data["timesteps"], success)))
    for reference in args.reference:
        label, separator, values = reference.rpartition("=")
        if not separator:
            raise SystemExit(f'--reference takes "LABEL=v1,v2,...", got {reference!r}')
        success = [float(value) for value in values.split(",")]
        steps = args.reference_freq * np.arange(1, len(success) + 1)
        axis.plot(steps, success, linestyle=":", marker=".", label=label)
    if args.start_success is not None:
        axis.axhline(args.start_success, color="gray", linestyle="--", label="clipped BC start")
    axis.set_xlabel("env steps")
    axis.set_ylabel("evaluation success rate")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(args.title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))  # outside: curves stay visible
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
