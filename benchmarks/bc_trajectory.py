"""Success of a task's BC policy along training: the last iterate against EMAs of the iterates.

    python benchmarks/bc_trajectory.py --env AdroitHandHammer-v1 --ema-tau none 0.005 0.001 \
        --steps 12000 --eval-freq 500 --episodes 64 --out docs/bc_trajectory_hammer.json

BC runs as the task's clipped start does (its StartConfig: demonstrations, actor, lr, batch, seed), but
without stopping at the threshold: every ``--eval-freq`` steps the policy (the last iterate, or with
``--ema-tau`` the EMA of the iterates, see ``OGPO.pretrain_bc``) is evaluated on the same ``--episodes``
episodes (same env seeds and flow noise each time). The variants share the demonstrations, the
initialisation and the BC minibatches, so their curves differ only by the averaging. A jagged curve
means the clipped start (the first evaluation past 0.45) can be an unrepresentative iterate.
"""

import argparse
import json
import time

import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

import sb3_ogpo  # noqa: F401  (registers the env ids)
from sb3_ogpo import OGPO
from sb3_ogpo.starts import actor_variant, clip_eval_seed, collect_start_demos, evaluate_success, get_start_config, make_start_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="AdroitHandHammer-v1")
    parser.add_argument("--ema-tau", nargs="+", default=["none", "0.001"], help="'none' = the last iterate")
    parser.add_argument("--steps", type=int, default=12_000)
    parser.add_argument("--eval-freq", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--actor-net-arch", default=None, help="e.g. 512,512,512,512 (default: the task's)")
    parser.add_argument("--out", default=None, help="write the curves as JSON here")
    args = parser.parse_args()
    th.set_num_threads(1)
    config = get_start_config(args.env)
    demos = collect_start_demos(config, args.seed)
    eval_seed = clip_eval_seed(args.seed)
    if args.actor_net_arch:
        config, _ = actor_variant(args.env, {"actor_net_arch": [int(w) for w in args.actor_net_arch.split(",")]})
    curves = {}
    for tau_text in args.ema_tau:
        tau = None if tau_text.lower() == "none" else float(tau_text)
        env = DummyVecEnv([lambda: make_start_env(config, seed=eval_seed)])
        model = OGPO(config.policy, env, buffer_size=64, learning_starts=0, n_critics=2, seed=args.seed,
                     **config.model_kwargs())
        curve = []

        def evaluate(current: OGPO, step: int) -> bool:
            rate = evaluate_success(current, env, args.episodes, seed=eval_seed).success_rate
            curve.append((step, rate))
            print(f"ema_tau {tau_text} step {step}: success {rate:.2f}", flush=True)
            return True

        start = time.perf_counter()
        model.pretrain_bc(demos, gradient_steps=args.steps, batch_size=config.bc_batch_size,
                          learning_rate=config.bc_learning_rate, eval_freq=args.eval_freq,
                          eval_callback=evaluate, ema_tau=tau)
        curves[tau_text] = {"curve": curve, "time_s": time.perf_counter() - start}
        env.close()
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"env_id": args.env, "seed": args.seed, "episodes": args.episodes, "variants": curves}, handle, indent=1)


if __name__ == "__main__":
    main()
