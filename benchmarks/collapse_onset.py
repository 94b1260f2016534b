"""A logged training statistic in the windows where a run collapses, holds, or recovers.

    python -m rl_zoo3.train --algo ogpo ... > runs/door/seed0.log      # the training runs' stdout
    python benchmarks/collapse_onset.py runs/door/seed*.log [--key advantage_outlier_corr] [--low 0.2 --high 0.4]

Reads the stdout of ``rl_zoo3.train`` runs (SB3's logger tables and EvalCallback's "Success rate" lines). Each
``train/<key>`` value logged between two evaluations is put in a window by the success of the evaluations on
either side (the run's start counts as ``--start`` before the first): *onset* (before >= high, after < low),
*stable* (both >= high), *recovery* (before < low, after >= high). Prints the mean and standard error per window.
"""

import argparse
import re

import numpy as np

ROW = re.compile(r"\|\s+(\w+)\s+\|\s+([-+\d.eE]+|nan)\s+\|")
EVAL = re.compile(r"Eval num_timesteps=(\d+)")
SUCCESS = re.compile(r"Success rate: ([\d.]+)%")


def read_log(path: str, key: str) -> tuple[list[tuple[int, float]], dict[int, float]]:
    """The ``(total_timesteps, train/<key>)`` rows of one run's stdout and its evaluations ``{step: success}``."""
    rows, evaluations, table, step = [], {}, {}, None
    with open(path) as log:
        for line in log:
            if match := ROW.match(line):
                table[match.group(1)] = float(match.group(2))
            elif match := EVAL.match(line):
                step = int(match.group(1))
            elif (match := SUCCESS.match(line)) and step is not None:
                evaluations[step] = float(match.group(1)) / 100
            elif line.startswith("----") and "total_timesteps" in table:
                if key in table:
                    rows.append((int(table["total_timesteps"]), table[key]))
                table = {}
    return rows, evaluations


def window_of(before: float, after: float, low: float, high: float) -> str | None:
    """The window between evaluations of success ``before`` and ``after``: onset, stable, recovery or None."""
    if before >= high and after < low:
        return "onset"
    if before >= high and after >= high:
        return "stable"
    if before < low and after >= high:
        return "recovery"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", help="stdout of rl_zoo3.train runs")
    parser.add_argument("--key", default="advantage_outlier_corr", help="the train/ statistic to read")
    parser.add_argument("--low", type=float, default=0.2, help="success below this is collapsed")
    parser.add_argument("--high", type=float, default=0.4, help="success at or above this is holding")
    parser.add_argument("--start", type=float, default=0.5, help="success before the first evaluation (the start)")
    args = parser.parse_args()
    if not 0 <= args.low <= args.high <= 1:
        parser.error(f"need 0 <= --low <= --high <= 1, got --low {args.low} --high {args.high}")
    windows: dict[str, list[float]] = {"onset": [], "stable": [], "recovery": []}
    for path in args.logs:
        rows, evaluations = read_log(path, args.key)
        if not evaluations:
            parser.error(f"{path} has no 'Success rate' lines: pass the stdout of rl_zoo3.train with an EvalCallback")
        evaluations[0] = args.start
        steps = sorted(evaluations)
        for step, value in rows:
            before = [s for s in steps if s < step]
            after = [s for s in steps if s >= step]
            if before and after:
                window = window_of(evaluations[before[-1]], evaluations[after[0]], args.low, args.high)
                if window is not None and np.isfinite(value):
                    windows[window].append(value)
    print(f"train/{args.key} by window ({len(args.logs)} runs; collapsed < {args.low}, holding >= {args.high})")
    for name, values in windows.items():
        if values:
            v = np.array(values)
            error = f"{v.std(ddof=1) / np.sqrt(len(v)):.3f}" if len(v) > 1 else "-"
            print(f"  {name:9s} n = {len(v):3d}  mean {v.mean():+.3f}  standard error {error}")
        else:
            print(f"  {name:9s} n =   0")


if __name__ == "__main__":
    main()
