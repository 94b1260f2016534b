"""States a model's own policy visits: where diagnostics probe it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import gymnasium as gym
    from stable_baselines3.common.base_class import BaseAlgorithm


def visited_observations(model: BaseAlgorithm, env: gym.Env, n_steps: int, every: int = 1, seed: int = 0,
                         deterministic: bool = False) -> list[Any]:
    """Step ``env`` (reset with ``seed``, then unseeded after each episode end) with ``model.predict`` for ``n_steps``
    steps, carrying the predict state (OGPO's open-loop chunks); return the observation after every ``every``-th step.
    ``deterministic=False`` follows the model's stochastic sampler, as the data a run trains on."""
    observations, (observation, _), state = [], env.reset(seed=seed), None
    for step in range(n_steps):
        action, state = model.predict(observation, state=state, deterministic=deterministic)
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            (observation, _), state = env.reset(), None
        if step % every == 0:
            observations.append(observation)
    return observations


__all__ = ["visited_observations"]
