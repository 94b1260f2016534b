"""Make a task's clipped flow-BC start (the checkpoint OGPO fine-tuning begins from).

    python -m sb3_ogpo.starts --env RobomimicLift-v0
    python -m sb3_ogpo.starts --env AdroitHandDoor-v1 --threshold 0.45 --seed 0 --episodes 50
    python -m sb3_ogpo.starts --env RobomimicNutAssemblySquare-v0 --demos square_ph.hdf5
    python -m sb3_ogpo.starts --env AdroitHandPen-v1 --demos D4RL/pen/expert-v2

Collects scripted-expert demonstrations (or loads ``--demos``: a Minari id / dataset directory or a
robomimic-style .hdf5), runs flow-matching BC with periodic evaluation, stops at the first evaluation
whose success reaches ``--threshold`` and measures the start's success on ``--eval-episodes`` fresh
episodes (falling back to an earlier policy if it measures above ``--success-cap``). By default the start
goes into the cache (``$SB3_OGPO_CACHE`` or ``~/.cache/sb3_ogpo``), where ``init_policy="start:<env id>"``
(and so RL Zoo's ``--algo ogpo``) finds it. See :mod:`sb3_ogpo.starts`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from sb3_ogpo import starts
from sb3_ogpo.starts.cache import is_cached, locked

# CLI option -> StartConfig field, for the options that override a field only when given.
_OPTIONAL_OVERRIDES = (
    ("episodes", "demo_episodes"),
    ("noise", "demo_noise"),
    ("clip_eval_episodes", "clip_eval_episodes"),
    ("eval_freq", "eval_freq"),
    ("eval_refine", "eval_refine"),
    ("max_steps", "max_gradient_steps"),
    ("lr", "bc_learning_rate"),
    ("batch_size", "bc_batch_size"),
)


def _parse_rate(text: str) -> Optional[float]:
    if text.lower() in ("none", "off", "no"):
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a success rate must lie in [0, 1] (or be 'none'), got {value}.")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_ogpo.starts",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--env", required=True, help=f"env id, one of {sorted(starts.START_CONFIGS)}")
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=_parse_rate, default=starts.DEFAULT_THRESHOLD,
                           help="stop BC at the first evaluation with at least this success ('none': no clipping)")
    threshold.add_argument("--max-success", dest="deprecated_max_success", metavar="THRESHOLD", type=_parse_rate,
                           default=argparse.SUPPRESS,
                           help="deprecated alias of --threshold (the cap on the measured success is --success-cap)")
    parser.add_argument("--success-cap", type=_parse_rate, default=0.5,
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


def _actor_args(args: argparse.Namespace) -> dict[str, Any]:
    """The actor options given (a mapping for :meth:`ActorSpec.from_mapping`)."""
    actor: dict[str, Any] = {}
    if args.chunk_size is not None:
        actor["chunk_size"] = args.chunk_size
    if args.denoising_steps is not None:
        actor["denoising_steps"] = args.denoising_steps
    if args.actor_net_arch is not None:
        try:
            actor["actor_net_arch"] = [int(width) for width in args.actor_net_arch.split(",") if width.strip()]
        except ValueError:
            raise ValueError(f"--actor-net-arch must be comma-separated integers, got {args.actor_net_arch!r}.") from None
    return actor


def _parse_ema_tau(text: str) -> Optional[float]:
    try:
        return None if text.strip().lower() == "none" else float(text)
    except ValueError:
        raise ValueError(f"--ema-tau must be 'none' or a number in (0, 1], got {text!r}.") from None


def _overrides(args: argparse.Namespace, actor: Optional[starts.ActorSpec]) -> dict[str, Any]:
    """The StartConfig fields the options set (``actor``: the actor, when it is not the task's own)."""
    overrides: dict[str, Any] = {"threshold": args.threshold, "max_success": args.success_cap,
                                 "eval_episodes": args.eval_episodes, **(actor.as_dict() if actor else {})}
    for option, name in _OPTIONAL_OVERRIDES:
        if getattr(args, option) is not None:
            overrides[name] = getattr(args, option)
    if args.ema_tau is not None:
        overrides["bc_ema_tau"] = _parse_ema_tau(args.ema_tau)
    return overrides


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "deprecated_max_success"):
        warnings.warn("--max-success is deprecated: it sets the clipping threshold, use --threshold "
                      "(the cap on the measured success is --success-cap)", DeprecationWarning, stacklevel=2)
        args.threshold = args.deprecated_max_success
    try:
        actor_config, variant = starts.actor_variant(args.env, _actor_args(args))
        overrides = _overrides(args, starts.ActorSpec.of_config(actor_config) if variant else None)
        dataclasses.replace(actor_config, **overrides)  # checks the values before any work
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out).expanduser() if args.out else starts.start_dir(args.env, args.seed, variant=variant)

    if args.threads > 0:
        import torch as th

        th.set_num_threads(args.threads)
    with locked(out / starts.LOCK_FILE, verbose=1):
        existing = starts.read_start_info(out)
        if existing is not None and not args.force and is_cached(out, actor_config):
            print(f"A start already exists in {out} (pass --force to make it again):")
            print(starts.summary(existing, out / starts.MODEL_FILE))
            return 0
        try:
            demos = None if args.demos is None else _load_demos(args.demos, actor_config)
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
