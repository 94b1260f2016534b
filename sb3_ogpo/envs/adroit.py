"""Success reporting (and optional sparse reward / early termination) for the Adroit hand tasks.

The gymnasium-robotics Adroit envs (``AdroitHandDoor-v1``, ``AdroitHandHammer-v1``,
``AdroitHandRelocate-v1``, ``AdroitHandPen-v1``) report ``info["success"]`` on every step but
nothing on reset, and never terminate. :class:`AdroitSuccessWrapper` adds the SB3 convention
``info["is_success"]``, gives reset the same info keys as a step (Minari's ``record_infos`` needs
this), and can switch the reward to a sparse success indicator or end the episode on success.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import gymnasium.utils


class AdroitSuccessWrapper(gym.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Expose the Adroit success flag as ``info["is_success"]``.

    Every step's info carries ``success`` and ``is_success`` (both Python bools, copied from the
    env's ``info["success"]``); reset's info carries ``success=False`` and ``is_success=False`` so
    that reset and step infos have the same keys.

    :param env: an Adroit env (``AdroitHand*-v1``, possibly already wrapped, e.g. by ``TimeLimit``).
    :param sparse: if True the reward is 1.0 on a step that reports success and 0.0 otherwise;
        if False (the default, as in the paper) the env's dense reward is passed through.
    :param terminate_on_success: if True, a step that reports success ends the episode
        (``terminated=True``); by default the episode runs to the time limit, as in the benchmark.
    """

    def __init__(self, env: gym.Env, sparse: bool = False, terminate_on_success: bool = False) -> None:
        gymnasium.utils.RecordConstructorArgs.__init__(
            self, sparse=sparse, terminate_on_success=terminate_on_success
        )
        gym.Wrapper.__init__(self, env)
        self.sparse = sparse
        self.terminate_on_success = terminate_on_success

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        info["success"] = False
        info["is_success"] = False
        return observation, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        success = bool(info.get("success", False))
        info = dict(info)
        info["success"] = success
        info["is_success"] = success
        if self.sparse:
            reward = 1.0 if success else 0.0
        if self.terminate_on_success and success:
            terminated = True
        return observation, reward, terminated, truncated, info


def make_adroit(
    env_id: str, sparse: bool = False, terminate_on_success: bool = False, **make_kwargs: Any
) -> AdroitSuccessWrapper:
    """``gym.make(env_id, **make_kwargs)`` wrapped in :class:`AdroitSuccessWrapper`.

    :param env_id: a gymnasium-robotics Adroit id, e.g. ``"AdroitHandDoor-v1"``.
    :param sparse: reward 1.0 on success steps and 0.0 otherwise (default: the env's dense reward).
    :param terminate_on_success: end the episode on the first success step.
    :param make_kwargs: passed to ``gym.make`` (e.g. ``max_episode_steps``, ``render_mode``).
    """
    import gymnasium_robotics  # noqa: F401  (registers the Adroit ids)

    return AdroitSuccessWrapper(
        gym.make(env_id, **make_kwargs), sparse=sparse, terminate_on_success=terminate_on_success
    )
