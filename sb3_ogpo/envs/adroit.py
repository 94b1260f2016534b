"""Success reporting (and optional sparse reward / early termination) for the Adroit hand tasks.

The gymnasium-robotics Adroit envs (``AdroitHandDoor-v1``, ``AdroitHandHammer-v1``,
``AdroitHandRelocate-v1``, ``AdroitHandPen-v1``) report ``info["success"]`` on every step but
nothing on reset, and never terminate. :class:`AdroitSuccessWrapper` adds the SB3 convention
``info["is_success"]``, gives reset the same info keys as a step (Minari's ``record_infos`` needs
this), and can switch the reward to a sparse success indicator or end the episode on success.

It also restores the dense reward of D4RL / mj_envs where gymnasium-robotics changed it: since
gymnasium-robotics 1.2.1 the ``-v1`` Door, Hammer and Relocate envs add ``+0.1 * |palm - target|``
(Farama-Foundation/Gymnasium-Robotics#220; fixed only in ``-v2`` of >= 1.4.3), which pays the hand for
moving *away* from the handle / hammer / ball. A critic learns that immediate term long before the
delayed door-opening bonus, and the fine-tuned policy then pulls the hand off the handle (measured in
docs/benchmarks.md). The wrapper subtracts
``0.2 * |palm - target|`` so the term is D4RL's ``-0.1 * |palm - target|`` again.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from typing import Any, Callable, Optional, SupportsFloat

import gymnasium as gym
import gymnasium.utils
import numpy as np

# env class name -> (palm position, target position) read from the unwrapped env after a step, as the
# env's own dense reward reads them.
_DISTANCE_TERMS: dict[str, Callable[[Any], tuple[np.ndarray, np.ndarray]]] = {
    "AdroitHandDoorEnv": lambda env: (env.data.site_xpos[env.grasp_site_id], env.data.site_xpos[env.handle_site_id]),
    "AdroitHandHammerEnv": lambda env: (env.data.site_xpos[env.S_grasp_site_id], env.data.xpos[env.obj_body_id]),
    "AdroitHandRelocateEnv": lambda env: (env.data.site_xpos[env.S_grasp_site_id], env.data.xpos[env.obj_body_id]),
}


@functools.cache
def _release_flips_distance_sign() -> bool:
    """Whether the installed gymnasium-robotics has the flipped sign (since 1.2.1, in the ``-v1`` envs)."""
    release = tuple(int(part) for part in re.findall(r"\d+", importlib.metadata.version("gymnasium_robotics"))[:3])
    return release >= (1, 2, 1)


def _flipped_distance_term(env: gym.Env) -> Optional[Callable[[Any], tuple[np.ndarray, np.ndarray]]]:
    """The palm/target reader of an Adroit env whose dense reward has the flipped distance sign, else None."""
    unwrapped = env.unwrapped
    reader = _DISTANCE_TERMS.get(type(unwrapped).__name__)
    if reader is None or getattr(unwrapped, "sparse_reward", True):
        return None
    return reader if _release_flips_distance_sign() else None


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
    :param d4rl_reward: restore D4RL's ``-0.1 * |palm - target|`` term of the dense Door / Hammer /
        Relocate reward, which gymnasium-robotics >= 1.2.1 flipped to ``+0.1 * |palm - target|`` (see
        the module docstring). False passes the env's reward through unchanged.
    """

    def __init__(
        self, env: gym.Env, sparse: bool = False, terminate_on_success: bool = False, d4rl_reward: bool = True
    ) -> None:
        gymnasium.utils.RecordConstructorArgs.__init__(
            self, sparse=sparse, terminate_on_success=terminate_on_success, d4rl_reward=d4rl_reward
        )
        gym.Wrapper.__init__(self, env)
        self.sparse = sparse
        self.terminate_on_success = terminate_on_success
        self.d4rl_reward = d4rl_reward
        self._distance_term = _flipped_distance_term(env) if d4rl_reward and not sparse else None

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
        elif self._distance_term is not None:
            palm, target = self._distance_term(self.env.unwrapped)
            reward = float(reward) - 0.2 * float(np.linalg.norm(palm - target))
        if self.terminate_on_success and success:
            terminated = True
        return observation, reward, terminated, truncated, info


def make_adroit(
    env_id: str, sparse: bool = False, terminate_on_success: bool = False, d4rl_reward: bool = True, **make_kwargs: Any
) -> AdroitSuccessWrapper:
    """``gym.make(env_id, **make_kwargs)`` wrapped in :class:`AdroitSuccessWrapper`.

    :param env_id: a gymnasium-robotics Adroit id, e.g. ``"AdroitHandDoor-v1"``.
    :param sparse: reward 1.0 on success steps and 0.0 otherwise (default: the env's dense reward).
    :param terminate_on_success: end the episode on the first success step.
    :param d4rl_reward: restore D4RL's sign of the dense reward's distance term (see the wrapper).
    :param make_kwargs: passed to ``gym.make`` (e.g. ``max_episode_steps``, ``render_mode``).
    """
    import gymnasium_robotics  # noqa: F401  (registers the Adroit ids)

    return AdroitSuccessWrapper(
        gym.make(env_id, **make_kwargs), sparse=sparse, terminate_on_success=terminate_on_success,
        d4rl_reward=d4rl_reward,
    )
