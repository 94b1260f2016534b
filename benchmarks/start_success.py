"""Success of a task's clipped start (or any saved OGPO model) on another env id, e.g. the released reward's id.

    python benchmarks/start_success.py --env RobomimicLiftSuccessBonus-v0 --init start:RobomimicLift-v0 \
        --episodes 128 --seed 0

A start is measured on the env it was cloned in (``start.json``); the released rewards' ids can change the
horizon (Robomimic: 300 steps instead of 400), so a run on them needs the start's success on them too. The
deterministic ODE of the model's actor (the one ``init_policy`` copies), on ``--episodes`` episodes seeded from ``--seed``.
``--ode-noise-scale 0`` integrates the ODE from the noise mean instead of N(0, I): the flow's mode, what DSRL's
deterministic policy executes before it has learnt anything (its noise action starts at 0).
``--sde-sigma S`` runs the stochastic sampler with per-step noise S instead (the sampler that collects the data and
that the released code clips its starts on): how much of the start's success survives its exploration noise.

    python benchmarks/start_success.py --env AdroitHandRelocateSparse-v1 --init start:AdroitHandRelocate-v1 \
        --episodes 128 --sde-sigma 0.05
"""

import argparse
import time

import sb3_ogpo  # noqa: F401  (registers env ids and the "start" scheme)
from sb3_ogpo import OGPO
from sb3_ogpo.common.evaluation import evaluate_success
from sb3_ogpo.common.init_policy import resolve_init_policy
from sb3_ogpo.zoo.presets import load_preset

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--env", required=True, help="the env id to measure on (an entry of hyperparams/ogpo.yml)")
parser.add_argument("--init", required=True, help='"start:<env id>" or the path of a saved OGPO model')
parser.add_argument("--episodes", type=int, default=128)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--actor", choices=["current", "ema", "slow"], default="current",
                    help="the actor to integrate: current (what init_policy copies), ema or slow (a run's evaluated actors)")
parser.add_argument("--ode-noise-scale", type=float, default=1.0,
                    help="std of the ODE's initial noise (1: N(0, I), the start's success; 0: the flow's mode)")
parser.add_argument("--sde-sigma", type=float, default=None,
                    help="run the stochastic sampler with this per-step noise std instead of the ODE (0: no noise)")
args = parser.parse_args()
if args.sde_sigma is not None and args.sde_sigma < 0:
    parser.error(f"--sde-sigma must be >= 0, got {args.sde_sigma}")

preset = load_preset(args.env)
env = preset.make_env()
actor = {key: preset.kwargs[key] for key in ("chunk_size", "denoising_steps") if key in preset.kwargs}
actor["actor_net_arch"] = preset.kwargs["policy_kwargs"]["actor_net_arch"]
# By default the actor that OGPO(init_policy=...) copies into its actor, EMA and slow actor: the current actor.
model = OGPO.load(resolve_init_policy(args.init, actor), env=env, device="cpu", custom_objects={"buffer_size": 1})
model.policy.deterministic_actor = args.actor
model.policy.ode_noise_scale = args.ode_noise_scale
stochastic = args.sde_sigma is not None
if stochastic:
    model.policy.sampler.sigma = args.sde_sigma
sampler = f"SDE with sigma {args.sde_sigma:g}" if stochastic else f"ODE from {args.ode_noise_scale:g} x N(0, I)"
began = time.time()
result = evaluate_success(model, env, args.episodes, seed=args.seed, deterministic=not stochastic)
print(f"{args.init} on {args.env}: success {result.success_rate:.3f} over {args.episodes} episodes "
      f"(seed {args.seed}, {sampler}, {time.time() - began:.0f} s)")
