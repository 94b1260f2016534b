"""Shared by the methods that act through an env wrapped around a frozen flow (DSRL, Residual SAC): wrapping a
user's env, recognizing a wrapped one, and reloading a model with the flow it was trained on."""

from __future__ import annotations

from typing import Any, Optional, Union

import gymnasium as gym
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.vec_env import VecEnv


def is_wrapped(env: Union[gym.Env, VecEnv], wrapper_class: type[gym.Wrapper]) -> bool:
    """Whether ``env`` (every env of a VecEnv) is wrapped in ``wrapper_class``."""
    if isinstance(env, VecEnv):
        return all(env.env_is_wrapped(wrapper_class))
    while isinstance(env, gym.Wrapper):
        if isinstance(env, wrapper_class):
            return True
        env = env.env
    return False


def flow_env(env: Union[gym.Env, VecEnv, str, None], wrapper_class: type[gym.Wrapper], init_policy: Optional[str],
             knob: str, value: float, flow_ema: bool) -> tuple[Union[gym.Env, VecEnv, None], dict[str, Any]]:
    """``env`` wrapped in ``wrapper_class(env, init_policy, value, flow_ema)`` unless it already is, and the
    wrapper's settings (``init_policy``, ``knob``, ``flow_ema``) to record on the model. A VecEnv must come wrapped
    (each of its envs): RL Zoo does it with the entry's ``env_wrapper``."""
    settings = {"init_policy": init_policy, knob: value, "flow_ema": flow_ema}
    if env is None:
        return env, settings
    if isinstance(env, (gym.Env, VecEnv)) and is_wrapped(env, wrapper_class):
        if isinstance(env, VecEnv):  # record the flow the caller wrapped it with
            flow = env.get_attr("flow")[0]
            settings = {"init_policy": flow.init_policy, knob: env.get_attr(knob)[0], "flow_ema": flow.ema}
        return env, settings
    if isinstance(env, VecEnv):
        raise ValueError(f"The envs of a VecEnv must be wrapped in {wrapper_class.__module__}.{wrapper_class.__name__} "
                         "first: pass a gym env or an env id instead, or wrap each env (RL Zoo: env_wrapper).")
    if init_policy is None:
        raise ValueError("init_policy is needed: the frozen flow (a saved OGPO model or 'start:<env id>').")
    return wrapper_class(gym.make(env) if isinstance(env, str) else env, init_policy, value, flow_ema), settings


def env_for_load(path: Any, env: Union[gym.Env, VecEnv, str, None], wrapper_class: type[gym.Wrapper],
                 knob: str) -> Union[gym.Env, VecEnv, None]:
    """The env to load a saved model into: a raw ``env`` is wrapped with the saved model's frozen flow."""
    if env is None or isinstance(env, VecEnv) or (isinstance(env, gym.Env) and is_wrapped(env, wrapper_class)):
        return env
    data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    return wrapper_class(gym.make(env) if isinstance(env, str) else env, data["init_policy"], data[knob], data["flow_ema"])
