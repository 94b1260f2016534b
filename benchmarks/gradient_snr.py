"""How much of an OGPO actor step's gradient is signal, at the CPU presets' chain count and at the paper's?

    OMP_NUM_THREADS=1 python benchmarks/gradient_snr.py --env AdroitHandDoorSparse-v1 \
        --model runs/door_nobc/pg/seed0/ogpo/AdroitHandDoorSparse-v1_1/AdroitHandDoorSparse-v1.zip \
        --chains 64x16 256x32 [--signal critics mode_seeking] [--collect 4000] [--pairs 16]

A saved OGPO model (its actor, EMA actor and trained critics) collects ``--collect`` env steps with its own policy
into a fresh replay buffer (no update is taken). Then, for each ``N_batch x N_group`` in ``--chains``, the gradient of
the actor step's loss (the clipped surrogate over group advantages, as in training: bf16, EMA actor as pi_old) is
computed on two independent batches of states and chains, ``--pairs`` times. For g1 = s + n1 and g2 = s + n2
(n independent noise of variance sigma^2 / chains), E[cos(g1, g2)] ~ |s|^2 / (|s|^2 + sigma^2 / chains): the fraction
of the step that is the expected gradient, the rest a random walk. The same for the success-BC term's gradient (a
batch of N_batch success transitions) as a reference, with both gradients' norms and the cosine between a PG and a
success-BC gradient: under Adam the step follows their sum, so a PG gradient much larger than the BC term's (times
``success_bc_coef``) leaves the BC term little say in OGPO+.

``--signal mode_seeking`` scores the chunks with ``benchmarks/mode_seeking.py``'s values (minus each chunk's
distance from its group's mean) instead of the critics: the positive control's signal on the same states.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3.common.logger import configure

import sb3_ogpo  # noqa: F401  (registers env ids)
from mode_seeking import use_mode_seeking_values  # the positive control's signal (benchmarks/, the script's folder)
from sb3_ogpo import OGPO
from sb3_ogpo.zoo.presets import load_preset


def parse_chains(text: str) -> tuple[int, int]:
    """``"64x16"`` -> (N_batch, N_group)."""
    batch, _, group = text.partition("x")
    if not (batch.isdigit() and group.isdigit()):
        raise argparse.ArgumentTypeError(f"--chains takes N_batch x N_group such as 64x16, not {text!r}")
    return int(batch), int(group)


def flat_gradient(model: OGPO, loss: th.Tensor | None) -> th.Tensor:
    """The actor's gradient of ``loss`` as one vector (zeros for None)."""
    parameters = list(model.policy.actor.parameters())
    if loss is None:
        return th.zeros(sum(p.numel() for p in parameters))
    gradients = th.autograd.grad(loss, parameters, allow_unused=True)
    return th.cat([(g if g is not None else th.zeros_like(p)).reshape(-1) for g, p in zip(gradients, parameters)])


def cosine(a: th.Tensor, b: th.Tensor) -> float:
    denominator = a.norm() * b.norm()
    return float((a @ b) / denominator) if denominator > 0 else float("nan")


def measure(model: OGPO, batch: int, group: int, signal: str, pairs: int) -> dict[str, float]:
    """Mean cosine of two independent PG gradients (and of two success-BC gradients) at ``batch x group`` chains."""
    saved = model.n_group, model.success_bc_coef
    model.n_group, model.success_bc_coef = group, 0.0
    undo = use_mode_seeking_values(model, batch * group) if signal == "mode_seeking" else (lambda: None)
    clip_range = model.clip_range_schedule(1.0)
    pg_cos, bc_cos, norms, bc_norms, pg_bc_cos, metrics = [], [], [], [], [], defaultdict(list)
    for _ in range(pairs):
        metrics = defaultdict(list)
        first = flat_gradient(model, model._actor_loss(batch, clip_range, metrics))
        second = flat_gradient(model, model._actor_loss(batch, clip_range, metrics))
        pg_cos.append(cosine(first, second))
        norms.append(float((first.norm() + second.norm()) / 2))
        bc = [flat_gradient(model, model._success_bc_loss(batch)) for _ in range(2)]
        bc_cos.append(cosine(*bc))
        bc_norms.append(float((bc[0].norm() + bc[1].norm()) / 2))
        pg_bc_cos.append(cosine(first, bc[0]))
    model.n_group, model.success_bc_coef = saved
    undo()
    return dict(pg_cos=float(np.nanmean(pg_cos)), pg_cos_sem=float(np.nanstd(pg_cos) / np.sqrt(pairs)),
                pg_norm=float(np.mean(norms)), bc_cos=float(np.nanmean(bc_cos)), bc_norm=float(np.mean(bc_norms)),
                pg_bc_cos=float(np.nanmean(pg_bc_cos)),
                clip_fraction=float(np.mean(metrics["clip_fraction"])) if metrics["clip_fraction"] else float("nan"),
                action_std=float(np.mean(metrics["action_std"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="the model's env id (an entry of hyperparams/ogpo.yml)")
    parser.add_argument("--model", required=True, type=Path, help="a saved OGPO zip with trained critics")
    parser.add_argument("--chains", nargs="+", type=parse_chains, default=[(64, 16), (256, 32)],
                        help="N_batch x N_group per actor step, e.g. 64x16 256x32")
    parser.add_argument("--signal", nargs="+", choices=["critics", "mode_seeking"], default=["critics"])
    parser.add_argument("--collect", type=int, default=4000, help="env steps the model collects with its own policy")
    parser.add_argument("--pairs", type=int, default=16, help="independent gradient pairs per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.model.is_file():
        parser.error(f"--model {args.model} is not a file: pass the .zip of a finished OGPO run")

    th.manual_seed(args.seed)
    preset = load_preset(args.env)
    env = preset.make_env()
    model = OGPO.load(args.model, env=env, device="cpu", seed=args.seed,
                      custom_objects={"buffer_size": args.collect + 1, "learning_starts": args.collect + 1})
    model.set_logger(configure(None, [""]))
    model.learn(args.collect)  # fills the replay and success buffers; no update before learning_starts
    print(f"{args.model}: {args.collect} steps collected, {model.replay_buffer.size()} in the replay buffer")
    print("| signal | chains (N_batch x N_group) | cos(PG grad 1, PG grad 2) | its s.e. | PG grad norm | "
          "cos(BC grad 1, BC grad 2) | BC grad norm | cos(PG grad, BC grad) | clip fraction | action_std |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for signal in args.signal:
        for batch, group in args.chains:
            row = measure(model, batch, group, signal, args.pairs)
            print(f"| {signal} | {batch} x {group} = {batch * group} | {row['pg_cos']:.3f} | {row['pg_cos_sem']:.3f} | "
                  f"{row['pg_norm']:.3g} | {row['bc_cos']:.3f} | {row['bc_norm']:.3g} | {row['pg_bc_cos']:.3f} | "
                  f"{row['clip_fraction']:.2f} | {row['action_std']:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
