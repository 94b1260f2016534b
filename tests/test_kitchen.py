"""Franka Kitchen env wrapper, mujoco compatibility and the scripted kitchen expert (short episodes)."""

import gymnasium as gym
import mujoco
import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")

import sb3_ogpo  # noqa: E402,F401  (registers the env ids)
from sb3_ogpo.envs import KITCHEN_ID  # noqa: E402
from sb3_ogpo.envs.kitchen import (  # noqa: E402
    DEFAULT_TASKS,
    KitchenDictWrapper,
    make_kitchen,
    patch_gymnasium_robotics_joint_type_check,
)
from sb3_ogpo.experts import make_expert, rollout_expert  # noqa: E402
from sb3_ogpo.experts.kitchen import KitchenExpert  # noqa: E402

SUBTASKS = ["microwave", "kettle", "light switch", "slide cabinet"]


def _count_time_limits(env: gym.Env) -> int:
    count = 0
    while isinstance(env, gym.Wrapper):
        count += isinstance(env, gym.wrappers.TimeLimit)
        env = env.env
    return count


def test_registered_id_constructs_and_steps():
    env = gym.make(KITCHEN_ID)
    assert env.spec.max_episode_steps == 280
    assert _count_time_limits(env) == 1
    assert env.unwrapped.tasks_to_complete == set(DEFAULT_TASKS)
    observation, info = env.reset(seed=0)
    assert set(observation) == {
        "observation",
        "achieved_goal_microwave",
        "achieved_goal_kettle",
        "achieved_goal_light_switch",
        "achieved_goal_slide_cabinet",
    }
    assert env.observation_space.contains(observation)
    assert info["is_success"] is False
    for _ in range(3):
        observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(observation)
        assert all(value.dtype == np.float32 for value in observation.values())
        assert reward == 0.0 and not terminated and not truncated and info["is_success"] is False
    env.close()


def test_horizon_is_280_steps_exactly():
    env = gym.make(KITCHEN_ID, tasks=("microwave",))
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    for step in range(1, 281):
        _, _, terminated, truncated, _ = env.step(zero)
        assert not terminated
        assert truncated == (step == 280)


def test_sb3_dict_replay_buffer_and_multi_input_policy_accept_the_space():
    from stable_baselines3 import SAC
    from stable_baselines3.common.buffers import DictReplayBuffer

    env = gym.make(KITCHEN_ID)
    observation, _ = env.reset(seed=0)
    buffer = DictReplayBuffer(8, env.observation_space, env.action_space, device="cpu")
    action = env.action_space.sample()
    next_observation, reward, terminated, truncated, info = env.step(action)
    batch = lambda obs: {key: value[None] for key, value in obs.items()}  # noqa: E731
    buffer.add(
        batch(observation), batch(next_observation), action[None], np.array([reward]), np.array([terminated]), [info]
    )
    sample = buffer.sample(1)
    assert set(sample.observations) == set(env.observation_space.spaces)
    model = SAC("MultiInputPolicy", env, buffer_size=16, policy_kwargs={"net_arch": [8]}, device="cpu")
    predicted, _ = model.predict(observation, deterministic=True)
    assert env.action_space.contains(predicted.astype(env.action_space.dtype))


def test_tasks_option_desired_goals_and_validation():
    env = gym.make(KITCHEN_ID, tasks=("light_switch", "kettle"), include_desired_goal=True)
    assert tuple(env.unwrapped.goal) == ("light switch", "kettle")
    observation, _ = env.reset(seed=0)
    assert set(observation) == {
        "observation",
        "achieved_goal_light_switch",
        "achieved_goal_kettle",
        "desired_goal_light_switch",
        "desired_goal_kettle",
    }
    np.testing.assert_allclose(observation["desired_goal_light_switch"], [-0.69, -0.05], atol=1e-6)
    with pytest.raises(ValueError):
        make_kitchen(tasks=("toaster",))
    with pytest.raises(ValueError):
        make_kitchen(tasks=())
    assert isinstance(make_kitchen(tasks="microwave"), KitchenDictWrapper)


def test_installed_mujoco_reads_joint_positions():
    """gymnasium-robotics 1.4.2's joint helpers break with mujoco >= 3.12 unless patched (kitchen.py)."""
    from gymnasium_robotics.utils import mujoco_utils

    env = gym.make(KITCHEN_ID)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    model, data = env.unwrapped.model, env.unwrapped.data
    np.testing.assert_array_equal(mujoco_utils.get_joint_qpos(model, data, "microwave"), data.qpos[22:23])  # hinge
    np.testing.assert_array_equal(mujoco_utils.get_joint_qpos(model, data, "slide_cabinet"), data.qpos[19:20])  # slide
    np.testing.assert_array_equal(mujoco_utils.get_joint_qpos(model, data, "kettle"), data.qpos[23:30])  # free
    assert mujoco_utils.get_joint_qvel(model, data, "kettle").shape == (6,)
    robot_qpos, robot_qvel = mujoco_utils.robot_get_obs(model, data, env.unwrapped.robot_env.model_names.joint_names)
    assert robot_qpos.shape == (9,) and robot_qvel.shape == (9,)
    assert patch_gymnasium_robotics_joint_type_check() is False  # idempotent: already patched or not needed
    patched = getattr(mujoco_utils, "_sb3_ogpo_joint_type_patch", False)
    hinge = mujoco.mjtJoint.mjJNT_HINGE
    assert patched == (np.int32(int(hinge)) not in (hinge,))  # patched exactly when the check is broken


def test_reward_termination_and_success_semantics():
    env = gym.make(KITCHEN_ID, tasks=("light switch", "slide cabinet"))
    expert = KitchenExpert(env)
    result = rollout_expert(env, expert, seed=0)
    rewards = result["rewards"]
    assert result["success"] and result["terminated"] and not result["truncated"]
    assert rewards.sum() == 2.0 and set(np.unique(rewards)) <= {0.0, 1.0}
    assert rewards[-1] == 1.0  # terminates on the step that completes the last task

    # partial: the env asks for two tasks, the expert does only one -> reward 1, no success, no termination
    env = gym.make(KITCHEN_ID, tasks=("microwave", "light switch"))
    expert = KitchenExpert(env, tasks=("light switch",))
    _, info = env.reset(seed=0)
    expert.reset(np.random.default_rng(0))
    assert info["is_success"] is False
    total = 0.0
    for _ in range(60):
        _, reward, terminated, truncated, info = env.step(expert.act(None))
        total += reward
        assert not terminated and not truncated and info["is_success"] is False
        if total:
            break
    assert total == 1.0 and info["episode_task_completions"] == ["light switch"]
    completions = info["episode_task_completions"]
    env.reset(seed=1)
    assert completions == ["light switch"]  # info lists are copies: reset does not clear stored infos


@pytest.mark.parametrize("task", SUBTASKS)
def test_expert_does_each_subtask_alone(task):
    env = gym.make(KITCHEN_ID, tasks=(task,))
    expert = make_expert(KITCHEN_ID, env, noise_scale=0.1)
    result = rollout_expert(env, expert, seed=0)
    assert result["success"] and result["terminated"]
    assert result["rewards"].sum() == 1.0
    assert len(result["actions"]) < 80
    assert result["actions"].dtype == np.float32 and np.all(np.abs(result["actions"]) <= 1.0)


def test_expert_chains_all_four():
    env = gym.make(KITCHEN_ID)
    expert = make_expert(KITCHEN_ID, env, noise_scale=0.1)
    result = rollout_expert(env, expert, seed=0)
    assert result["success"] and result["rewards"].sum() == 4.0
    assert len(result["actions"]) < 280


def test_expert_noise_diversifies_and_zero_noise_is_deterministic():
    env = gym.make(KITCHEN_ID, tasks=("slide cabinet",))
    noisy = [rollout_expert(env, KitchenExpert(env, noise_scale=0.1), seed=seed)["actions"] for seed in (0, 1)]
    assert not np.allclose(noisy[0][:10], noisy[1][:10])
    clean = [rollout_expert(env, KitchenExpert(env), seed=0)["actions"] for _ in range(2)]
    np.testing.assert_allclose(clean[0], clean[1])
    with pytest.raises(ValueError):
        KitchenExpert(env, tasks=("hinge cabinet",))
