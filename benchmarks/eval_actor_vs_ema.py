"""Deterministic-ODE success of saved OGPO models, current, EMA and slow-EMA actor, on the same episodes.

    python benchmarks/eval_actor_vs_ema.py logs/ogpo/AdroitHandDoor-v1_2/AdroitHandDoor-v1.zip \
        --env AdroitHandDoor-v1 --episodes 100 --seed 123 --with-start

Every model is evaluated on the same env seeds and flow noise, so the figures compare policies, not
episodes. ``--with-start`` adds the task's cached clipped BC start (``init_policy: "start:<env id>"``;
its current and EMA actors are the same network), i.e. the "before" of a fine-tuning run.
``predict(deterministic=True)`` integrates the current actor unless the policy was built with
``deterministic_actor="ema"`` (the EMA actor, which also collects data) or ``"slow"`` (the slow EMA, Polyak rate
``tau_slow_actor``). ``--env`` may be any id of hyperparams/ogpo.yml: an id without a start of its own (e.g.
``AdroitHandDoorSparse-v1``) is evaluated on the env of its entry's start (the same success test).
"""

import argparse

import torch as th

import sb3_ogpo  # noqa: F401  (registers the env ids)
from sb3_ogpo import OGPO
from sb3_ogpo.starts import START_CONFIGS, evaluate_success, get_start_config, make_start_env, resolve_start
from sb3_ogpo.zoo.presets import load_preset

ACTOR_LABELS = {"current": "current", "ema": "EMA", "slow": "slow EMA"}


def start_env_id(env_id: str) -> str:
    """``env_id`` if it has a clipped start of its own, else the id of its hyperparams/ogpo.yml entry's start."""
    if env_id in START_CONFIGS:
        return env_id
    init_policy = str(load_preset(env_id).kwargs.get("init_policy", ""))
    if not init_policy.startswith("start:"):
        raise ValueError(f"{env_id!r} has no clipped start and its entry's init_policy is {init_policy!r}.")
    return init_policy[len("start:"):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="saved OGPO zips (e.g. the run's <env id>.zip)")
    parser.add_argument("--env", default="AdroitHandDoor-v1")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--with-start", action="store_true", help="also evaluate the task's clipped BC start")
    parser.add_argument("--actors", nargs="+", choices=tuple(ACTOR_LABELS),
                        default=["current", "ema"])
    parser.add_argument("--repeats", type=int, default=1,
                        help="evaluate on seeds seed .. seed+repeats-1 (--episodes each) and report the mean")
    args = parser.parse_args()
    th.set_num_threads(1)
    start_id = start_env_id(args.env)
    env = make_start_env(get_start_config(start_id))  # the env (and wrapper) of the entry's start
    paths = ([str(resolve_start(start_id))] if args.with_start else []) + args.models
    for path in paths:
        model = OGPO.load(path, custom_objects={"buffer_size": 1})
        rates = {}
        for actor in args.actors:
            model.policy.deterministic_actor = actor
            successes = [evaluate_success(model, env, args.episodes, seed=args.seed + repeat).successes
                         for repeat in range(args.repeats)]
            rates[actor] = (sum(successes) / (args.episodes * args.repeats), successes)
        figures = ", ".join(f"{ACTOR_LABELS[actor]} actor {rate:.2f}" + (f" {successes}" if args.repeats > 1 else "")
                            for actor, (rate, successes) in rates.items())
        seeds = f"seed {args.seed}" if args.repeats == 1 else f"seeds {args.seed}..{args.seed + args.repeats - 1}"
        print(f"{path}: {figures} ({args.episodes} episodes per seed, {seeds})", flush=True)


if __name__ == "__main__":
    main()
