"""Learning, honestly: OGPO lifts a clipped BC start on a sparse-reward multimodal task.

The point-mass task has four goals, two of which fail; the expert favours the failing ones, so BC
succeeds about 30-40% of the time. With the policy update switched off (``actor_utd=0``) the same
run stays there: the improvement comes from OGPO's update, not from the critic or from more data.
"""

import numpy as np
import pytest
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_ogpo import OGPO
from sb3_ogpo.experts.collect import collect_demonstrations

ENV_ID = "PointMassMultimodal-v0"
BUDGET = 1500  # env steps of online fine-tuning
CONFIG = dict(
    learning_starts=300, batch_size=64, n_group=16, denoising_steps=5, chunk_size=2, n_critics=4,
    learning_rate=1e-3, critic_learning_rate=1e-3, gamma=0.95, tau_actor=0.1,
    policy_kwargs=dict(actor_net_arch=[128, 128], critic_net_arch=[128, 128]),
)


def success_rate(model: OGPO, n_episodes: int = 100) -> float:
    successes = []

    def record(locals_, globals_):
        if locals_["done"]:
            successes.append(bool(locals_["info"].get("is_success", False)))

    evaluate_policy(model, model.get_env(), n_eval_episodes=n_episodes, deterministic=True, callback=record)
    return float(np.mean(successes))


@pytest.fixture(scope="module")
def demonstrations():
    return collect_demonstrations(ENV_ID, 300, noise_scale=0.1, seed=0, progress=False)


def bc_start(demonstrations, actor_utd: int) -> OGPO:
    model = OGPO("MlpPolicy", ENV_ID, actor_utd=actor_utd, seed=0, **CONFIG)
    model.pretrain_bc(demonstrations, gradient_steps=3000, batch_size=256, learning_rate=1e-3)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("actor_utd", [1, 0], ids=["ogpo", "policy-update-off"])
def test_fine_tuning_lifts_clipped_bc_start(demonstrations, actor_utd):
    model = bc_start(demonstrations, actor_utd)
    start = success_rate(model)
    assert start <= 0.5, f"the BC start should be clipped to at most 50% success, got {start}"
    model.learn(BUDGET)
    final = success_rate(model)
    if actor_utd:
        assert final >= 0.9, f"OGPO went from {start:.2f} to {final:.2f} in {BUDGET} steps"
    else:
        assert final < 0.6, f"without the policy update success should stay near the start ({start:.2f}), got {final:.2f}"
