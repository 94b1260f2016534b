"""A frozen flow policy: the actor of a saved OGPO model (or of a task's clipped start) as a fixed map from an
observation and an initial noise to an action chunk, for methods that steer or correct it (DSRL, residual RL)."""

from __future__ import annotations

from typing import Any, Optional

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs

from sb3_ogpo.common.init_policy import resolve_init_policy


class FrozenFlow:
    """The Euler ODE of a saved OGPO actor, ``chunk = ODE(s, x0)``, in the env's action units.

    :param init_policy: a saved OGPO model (path) or ``"start:<env id>"`` (the task's clipped BC start).
    :param ema: integrate the EMA actor (``actor_target``, the one a run's evaluations use) instead of the actor.
    :param device: torch device of the flow.
    """

    def __init__(self, init_policy: str, ema: bool = False, device: Any = "cpu") -> None:
        from sb3_ogpo.ogpo.ogpo import OGPO

        self.init_policy = init_policy
        self.ema = ema
        model = OGPO.load(resolve_init_policy(init_policy, {}), device=device, custom_objects={"buffer_size": 1})
        self.policy = model.policy
        self.policy.set_training_mode(False)
        self.actor = self.policy.actor_target if ema else self.policy.actor
        self.chunk_size = self.policy.chunk_size
        self.action_dim = self.policy.action_dim
        self.flow_dim = self.policy.flow_dim
        self.observation_space: spaces.Space = model.observation_space
        self.action_space: spaces.Box = model.action_space

    @th.no_grad()
    def chunks(self, observations: Any, noise: np.ndarray) -> np.ndarray:
        """Chunks ``(B, h, A)`` in the env's units for a batch of observations and initial noises ``(B, h * A)``."""
        obs_tensor, _ = self.policy.obs_to_tensor(observations)
        features = self.policy.features(obs_tensor)
        x0 = th.as_tensor(np.asarray(noise, dtype=np.float32), device=features.device).reshape(-1, self.flow_dim)
        chunk, _, _ = self.policy.sampler.sample(self.policy.velocity_fn(self.actor, features), x0, stochastic=False)
        scaled = chunk.cpu().numpy().reshape(-1, self.chunk_size, self.action_dim)
        return self.policy.unscale_action(scaled)

    @th.no_grad()
    def scaled_chunks(self, observations: Any, noise: th.Tensor) -> th.Tensor:
        """Flat chunks ``(B, h * A)`` in the flow's normalized units ([-1, 1]) from observation tensors and noise tensors."""
        features = self.policy.features(observations)
        chunk, _, _ = self.policy.sampler.sample(self.policy.velocity_fn(self.actor, features), noise.float(), stochastic=False)
        return chunk

    def chunk(self, observation: Any, noise: np.ndarray) -> np.ndarray:
        """The chunk ``(h, A)`` of one observation."""
        if isinstance(observation, dict):
            observation = {key: np.asarray(value)[None] for key, value in observation.items()}
        else:
            observation = np.asarray(observation)[None]
        return self.chunks(observation, np.asarray(noise)[None])[0]

    def check_env(self, env_observation_space: spaces.Space, env_action_space: spaces.Space,
                  owner: Optional[str] = None) -> None:
        """Refuse an env whose spaces are not the flow's, naming the difference."""
        for name, ours, theirs in (("observation space", self.observation_space, env_observation_space),
                                   ("action space", self.action_space, env_action_space)):
            if ours != theirs:
                raise ValueError(f"{owner or 'The frozen flow'} {self.init_policy!r} was trained with {name} {ours}, "
                                 f"but the env has {theirs}: use the start of this env.")


class FrozenFlowWrapper(gym.Wrapper, RecordConstructorArgs):
    """Base of the wrappers that act through a frozen flow (DSRL's noise, residual corrections): loads the flow,
    checks that the env is the one it was trained in, and keeps the wrapper's one positive knob.

    :param env: the env the flow was trained in (same spaces).
    :param init_policy: the frozen flow: a saved OGPO model or ``"start:<env id>"``.
    :param flow_ema: integrate the flow's EMA actor instead of its actor.
    :param owner: who uses the flow (for error messages).
    :param knob: the wrapper's knob, ``name=value`` (> 0), set as an attribute.
    """

    def __init__(self, env: gym.Env, init_policy: str, flow_ema: bool, owner: str, **knob: float) -> None:
        ((name, value),) = knob.items()
        RecordConstructorArgs.__init__(self, init_policy=init_policy, flow_ema=flow_ema, **knob)
        gym.Wrapper.__init__(self, env)
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}.")
        setattr(self, name, float(value))
        self.flow = FrozenFlow(init_policy, ema=flow_ema)
        self.flow.check_env(env.observation_space, env.action_space, owner=owner)
