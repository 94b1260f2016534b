"""Plot the critics' within-group ranking against their training budget, from critic_ranking.py's output.

    python benchmarks/plot_ranking.py runs/rank_u1.log runs/rank_u4.log --labels "critic_utd 1" "critic_utd 4" \
        --out docs/door_ranking.png

Each log holds the JSON lines critic_ranking.py prints after each ``--train-steps`` budget (on one probe set, so
that every budget and setting meets the same chunks). The dashed line is the probe set's split-half Spearman of the
Monte-Carlo returns: the ranking the returns themselves allow. Also prints the rows as a table for docs/benchmarks.md.
"""

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_results(path: str) -> list[dict]:
    """The JSON result lines of one critic_ranking.py log, in budget order."""
    with open(path, errors="replace") as log:
        rows = [json.loads(line) for line in log if line.startswith("{")]
    if not rows:
        raise SystemExit(f"{path} has no result line: is it the output of benchmarks/critic_ranking.py?")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--labels", nargs="+", help="legend entries, one per log (default: the logs' settings)")
    parser.add_argument("--title", default="Critics' within-group Spearman against Monte-Carlo returns")
    args = parser.parse_args()
    if args.labels and len(args.labels) != len(args.logs):
        raise SystemExit(f"{len(args.labels)} labels for {len(args.logs)} logs: give one label per log.")
    figure, axis = plt.subplots(figsize=(7, 4))
    ceilings = set()
    for index, path in enumerate(args.logs):
        rows = read_results(path)
        label = args.labels[index] if args.labels else json.dumps(rows[0]["settings"])
        steps = [row["train_steps"] for row in rows]
        values = [row["mean_spearman"] for row in rows]
        axis.plot(steps, values, marker="o", label=label)
        ceilings.update(row.get("mc_split_half_spearman") for row in rows)
        print(f"| {label} | " + " | ".join(f"{step}: {value:+.2f} ({row['states_with_a_ranking']})"
                                           for step, value, row in zip(steps, values, rows)) + " |")
    for ceiling in sorted(value for value in ceilings if value is not None):
        axis.axhline(ceiling, color="gray", linestyle="--", label=f"split-half of the returns ({ceiling:+.2f})")
    axis.axhline(0.0, color="black", linewidth=0.5)
    axis.set_xlabel("env steps of critic training (actor frozen at the start)")
    axis.set_ylabel("mean Spearman over ranked states")
    axis.set_title(args.title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
