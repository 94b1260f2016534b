"""Make a task's clipped flow-BC start (the checkpoint OGPO fine-tuning begins from).

    python -m sb3_ogpo.pretrain --env RobomimicLift-v0
    python -m sb3_ogpo.pretrain --env AdroitHandDoor-v1 --max-success 0.45 --seed 0 --episodes 50
    python -m sb3_ogpo.pretrain --env RobomimicNutAssemblySquare-v0 --demos square_ph.hdf5
    python -m sb3_ogpo.pretrain --env AdroitHandPen-v1 --demos D4RL/pen/expert-v2

Collects scripted-expert demonstrations (or loads ``--demos``: a Minari id / dataset directory or a
robomimic-style .hdf5), runs flow-matching BC with periodic evaluation, stops at the first evaluation
whose success reaches ``--max-success`` and measures the start's success on ``--eval-episodes`` fresh
episodes. By default the start goes into the cache (``$SB3_OGPO_CACHE`` or ``~/.cache/sb3_ogpo``), where
``init_policy="start:<env id>"`` (and so RL Zoo's ``--algo ogpo``) finds it. See :mod:`sb3_ogpo.starts`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from sb3_ogpo import starts


def _parse_threshold(text: str) -> float | None:
    if text.lower() in ("none", "off", "no"):
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a success rate must lie in [0, 1] (or be 'none'), got {value}.")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_ogpo.pretrain",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--env", required=True, help=f"env id, one of {sorted(starts.START_CONFIGS)}")
    parser.add_argument("--max-success", type=_parse_threshold, default=starts.DEFAULT_THRESHOLD,
                        help="stop BC at the first evaluation with at least this success ('none': no clipping)")
    parser.add_argument("--success-cap", type=_parse_threshold, default=0.5,
                        help="if the start measures above this on --eval-episodes, keep the latest policy evaluated "
                             "before the stop that does not ('none': no cap)")
    parser.add_argument("--seed", type=int, default=0, help="seed of demos, BC and evaluations (cache: seed<N>/)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--demos", default=None,
                        help="Minari dataset id / directory or robomimic .hdf5 (default: scripted expert)")
    source.add_argument("--episodes", type=int, default=None, help="scripted-expert episodes (default: per task)")
    parser.add_argument("--noise", type=float, default=None, help="scripted-expert noise scale (default: per task)")
    parser.add_argument("--out", default=None, help="output directory (default: the cache, seen by start:<env id>)")
    parser.add_argument("--eval-episodes", type=int, default=64, help="episodes of the final success measurement")
    parser.add_argument("--clip-eval-episodes", type=int, default=None,
                        help="episodes of each periodic evaluation (default: per task)")
    parser.add_argument("--eval-freq", type=int, default=None, help="BC steps between evaluations (default: per task)")
    parser.add_argument("--eval-refine", type=int, default=None,
                        help="on reaching the threshold, also evaluate snapshots every eval-freq/N steps before it")
    parser.add_argument("--max-steps", type=int, default=None, help="BC step budget (default: per task)")
    parser.add_argument("--lr", type=float, default=None, help="BC learning rate (default: per task, 1e-3)")
    parser.add_argument("--batch-size", type=int, default=None, help="BC batch size (default: per task, 256)")
    parser.add_argument("--ema-tau", default=None,
                        help="evaluate, clip and keep the EMA of the BC iterates with this Polyak rate per step "
                        "('none': the last iterate; default: per task)")
    parser.add_argument("--chunk-size", type=int, default=None, help="actor: chunk size h (default: per task)")
    parser.add_argument("--denoising-steps", type=int, default=None, help="actor: denoising steps K (default: per task)")
    parser.add_argument("--actor-net-arch", default=None,
                        help="actor: hidden widths, e.g. 512,512,512,512 (default: per task); another actor than "
                        "the task's goes to its own cache variant, as init_policy='start:...' of such a model expects")
    parser.add_argument("--device", default="cpu", help="torch device of BC")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: leave torch's default)")
    parser.add_argument("--force", action="store_true", help="regenerate even if a start exists there")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = starts.get_start_config(args.env)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    actor: dict[str, Any] = {}
    if args.chunk_size is not None:
        actor["chunk_size"] = args.chunk_size
    if args.denoising_steps is not None:
        actor["denoising_steps"] = args.denoising_steps
    if args.actor_net_arch is not None:
        try:
            actor["actor_net_arch"] = [int(width) for width in args.actor_net_arch.split(",") if width.strip()]
        except ValueError:
            print(f"error: --actor-net-arch must be comma-separated integers, got {args.actor_net_arch!r}.", file=sys.stderr)
            return 2
    if any(value < 1 for value in [*actor.get("actor_net_arch", [1]), actor.get("chunk_size", 1),
                                   actor.get("denoising_steps", 1)]) or actor.get("actor_net_arch") == []:
        print("error: --chunk-size, --denoising-steps and --actor-net-arch widths must be positive.", file=sys.stderr)
        return 2
    actor_config, variant = starts.actor_variant(args.env, actor)
    out = Path(args.out).expanduser() if args.out else starts.start_dir(args.env, args.seed, variant=variant)
    overrides: dict[str, Any] = {"threshold": args.max_success, "max_success": args.success_cap,
                                 "eval_episodes": args.eval_episodes}
    if variant:
        overrides.update({key: getattr(actor_config, key) for key in starts.ACTOR_KEYS})
    for name, value in (
        ("demo_episodes", args.episodes),
        ("demo_noise", args.noise),
        ("clip_eval_episodes", args.clip_eval_episodes),
        ("eval_freq", args.eval_freq),
        ("eval_refine", args.eval_refine),
        ("max_gradient_steps", args.max_steps),
        ("bc_learning_rate", args.lr),
        ("bc_batch_size", args.batch_size),
    ):
        if value is not None:
            overrides[name] = value
    if args.ema_tau is not None:
        try:
            ema_tau = None if args.ema_tau.strip().lower() == "none" else float(args.ema_tau)
        except ValueError:
            ema_tau = float("nan")  # rejected below
        if ema_tau is not None and not 0.0 < ema_tau <= 1.0:
            print(f"error: --ema-tau must be 'none' or a number in (0, 1], got {args.ema_tau!r}.", file=sys.stderr)
            return 2
        overrides["bc_ema_tau"] = ema_tau
    for name in ("demo_episodes", "eval_episodes", "clip_eval_episodes", "eval_freq", "eval_refine", "max_gradient_steps",
                 "bc_batch_size"):
        if name in overrides and overrides[name] < 1:
            print(f"error: {name.replace('_', '-')} must be positive, got {overrides[name]}.", file=sys.stderr)
            return 2

    if args.threads > 0:
        import torch as th

        th.set_num_threads(args.threads)
    with starts._locked(out / starts.LOCK_FILE, verbose=1):
        existing = starts.read_start_info(out)
        if existing is not None and not args.force and starts._cached(out, actor_config):
            print(f"A start already exists in {out} (pass --force to make it again):")
            print(starts.summary(existing, out / starts.MODEL_FILE))
            return 0
        try:
            demos = None
            if args.demos is not None:
                demos = _load_demos(args.demos, config)
            info = starts.generate_start(
                args.env,
                out,
                args.seed,
                demos=demos,
                demos_source=args.demos,
                overrides=overrides,
                device=args.device,
                verbose=1,
                progress=not args.no_progress,
            )
        except (starts.StartUnavailableError, ValueError, FileNotFoundError, ImportError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(starts.summary(info, out / starts.MODEL_FILE))
    if info["bc"]["threshold"] is not None and not info["bc"]["reached_threshold"]:
        print(f"warning: BC never reached success {info['bc']['threshold']}; the start is the last BC policy.")
    return 0


def _load_demos(source: str, config: starts.StartConfig):
    from sb3_ogpo.datasets import load_demonstrations

    env = starts.make_start_env(config)
    try:
        return load_demonstrations(source, observation_space=env.observation_space, action_space=env.action_space)
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(main())
