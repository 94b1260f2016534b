"""Fine-tune a task's clipped start with OGPO, its controls or its rivals, through RL Zoo, on the same evaluation
episodes.

    python benchmarks/finetune_controls.py --env AdroitHandDoorSparse-v1 --variant pg --seed 0 [--folder runs] \
        [--eval-freq 5000] [--eval-episodes 64] [-n 40000] [-params key:value ...]
    python benchmarks/finetune_controls.py --env AdroitHandDoorSparse-v1 --algo dsrl --seed 0 [--folder runs] ...

OGPO's variants (each the entry of hyperparams/ogpo.yml plus these overrides, so that they differ in one thing):

- ``pg``: the entry as it is (the policy-gradient term from the first update after ``learning_starts``);
- ``success_bc``: the success-buffer BC term alone, at coefficient 1 even where the entry runs plain OGPO (the
  policy-gradient term never joins);
- ``frozen_actor``: no actor update at all (``actor_utd 0``; the critics still learn): the start's own success
  under the same data collection;
- ``random_critic``: the policy-gradient term against critics frozen at their random initialization
  (``critic_utd 0``): a consistent but uninformative push, to tell "the critics are wrong" from "any consistent
  push breaks this start";
- ``mode_seeking``: a positive control, the policy-gradient term with a known-good signal instead of the critics'
  (each chunk scored by minus its distance from its group's mean chunk: a push towards the flow's mode; see
  ``benchmarks/mode_seeking.py``).

The rivals (``--algo dsrl | dsrl_na | residual_sac | bon_sft``) run their own YAML's entry for the task, from the
same start. ``--eval-freq`` and ``-n`` count env steps for every algorithm (DSRL steps the zoo once per chunk, so its
evaluation frequency is converted to chunks).

Every run of a seed evaluates the same episodes (RL Zoo seeds the evaluation env with ``--seed``). Runs go to
``<folder>/<variant>/seed<S>/ogpo/<env>_<n>`` (OGPO) and ``<folder>/<algo>/seed<S>/<algo>/<env>_<n>`` (rivals): one
folder per seed, because RL Zoo numbers runs ``_<n>`` when they start, and two runs started together in one folder
would write into the same run directory. ``--summary`` prints the evaluation curves of every run found there;
``--table`` the side-by-side table of one task's folder (each method's end per seed, and their mean).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

VARIANTS: dict[str, list[str]] = {
    "pg": [],
    "success_bc": ["policy_gradient_starts:1000000000", "success_bc_coef:1.0"],
    "frozen_actor": ["actor_utd:0"],
    "random_critic": ["critic_utd:0"],
    "mode_seeking": ["callback:'mode_seeking.ModeSeekingCritic'"],
}

#: The rivals of issue 16, and whether the zoo steps them once per chunk (DSRL) instead of once per env step.
RIVALS: dict[str, bool] = {"dsrl": True, "dsrl_na": True, "residual_sac": False, "bon_sft": False}


def zoo_eval_freq(algo: str, env_id: str, eval_freq: int) -> int:
    """``--eval-freq`` for the zoo: ``eval_freq`` env steps in the algorithm's own steps."""
    if not RIVALS.get(algo, False):
        return eval_freq
    from sb3_ogpo.zoo.presets import load_preset

    return max(1, eval_freq // int(load_preset(env_id).kwargs["chunk_size"]))


def command(env_id: str, variant: str, seed: int, folder: Path, eval_freq: int, eval_episodes: int,
            n_timesteps: int | None, params: list[str], algo: str = "ogpo") -> list[str]:
    """The ``rl_zoo3.train`` command line of one run (``variant`` applies to OGPO only)."""
    label = variant if algo == "ogpo" else algo
    args = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "--seed", str(seed),
            "--eval-freq", str(zoo_eval_freq(algo, env_id, eval_freq)), "--eval-episodes", str(eval_episodes),
            "--n-eval-envs", "1", "-f", str(folder / label / f"seed{seed}"), "--log-interval", "10"]
    if n_timesteps is not None:
        args += ["-n", str(n_timesteps)]
    overrides = (VARIANTS[variant] if algo == "ogpo" else []) + list(params)
    return args + (["-params", *overrides] if overrides else [])


def end_success(successes: np.ndarray, last: int = 2) -> tuple[float, float]:
    """A run's end: the success over the episodes of its last ``last`` evaluations, and its binomial standard error."""
    pooled = np.asarray(successes, dtype=float)[-last:].ravel()
    rate = float(pooled.mean())
    return rate, float(np.sqrt(rate * (1.0 - rate) / pooled.size))


def summary(folder: Path) -> None:
    """Print every run's evaluation success per evaluation (mean over its episodes) and its end (last two)."""
    for path in sorted(folder.rglob("evaluations.npz")):
        data = np.load(path)
        curve = ", ".join(f"{int(t)}: {s:.2f}" for t, s in zip(data["timesteps"], data["successes"].mean(axis=1)))
        rate, error = end_success(data["successes"])
        print(f"{path.parent.relative_to(folder)}: {curve}; end (last two) {rate:.2f} +- {error:.2f}")


def side_by_side(folder: Path) -> str:
    """A markdown table of every method's end (last two evaluations) per seed under ``folder``, one task's runs
    laid out as ``<folder>/<variant or algo>/seed<S>/...`` (a seed folder with several runs: its latest)."""
    ends: dict[str, dict[int, tuple[float, int]]] = {}
    for path in sorted(folder.glob("*/seed*/*/*/evaluations.npz"), key=lambda p: (p.parent.stat().st_mtime, str(p))):
        label, seed = path.parts[-5], int(path.parts[-4].removeprefix("seed"))
        data = np.load(path)
        ends.setdefault(label, {})[seed] = (end_success(data["successes"])[0], int(data["timesteps"][-1]))
    if not ends:
        raise FileNotFoundError(f"no evaluations.npz under {folder}/<method>/seed<S>/; run some seeds first.")
    seeds = sorted({s for runs in ends.values() for s in runs})
    lines = ["| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | env steps |",
             "|---|" + "---|" * (len(seeds) + 2)]
    for label, runs in sorted(ends.items()):
        cells = [f"{runs[s][0]:.2f}" if s in runs else "" for s in seeds]
        mean = np.mean([rate for rate, _ in runs.values()])
        steps = "/".join(sorted({str(t) for _, t in runs.values()}))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.2f} | {steps} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env")
    parser.add_argument("--algo", choices=["ogpo", *RIVALS], default="ogpo")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="pg", help="OGPO's variant (OGPO only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=Path("runs"))
    parser.add_argument("--eval-freq", type=int, default=5000)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("-n", "--n-timesteps", type=int, default=None, help="default: the entry's n_timesteps")
    parser.add_argument("-params", "--params", nargs="*", default=[], help="more key:value overrides (RL Zoo syntax)")
    parser.add_argument("--summary", action="store_true", help="print the curves of the runs under --folder and exit")
    parser.add_argument("--table", action="store_true",
                        help="print a markdown table of each method's end per seed under --folder (one task) and exit")
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    args = parser.parse_args()
    if args.summary:
        summary(args.folder)
        return
    if args.table:
        print(side_by_side(args.folder))
        return
    if not args.env:
        parser.error("--env is required unless --summary is given")
    if args.algo != "ogpo" and args.variant != "pg":
        parser.error(f"--variant {args.variant} is one of OGPO's controls; leave it out with --algo {args.algo}")
    cmd = command(args.env, args.variant, args.seed, args.folder, args.eval_freq, args.eval_episodes,
                  args.n_timesteps, args.params, args.algo)
    print(" ".join(cmd[1:]), flush=True)
    if not args.dry_run:
        # benchmarks/ on the path: the mode_seeking variant's callback lives there.
        path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")]))
        sys.exit(subprocess.call(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                                           "PYTHONPATH": path}))


if __name__ == "__main__":
    main()
