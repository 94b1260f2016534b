"""What the released code does and ours must match: float32 critic values under bf16, fresh optimizers
with the actor's warm-restart schedule when online training starts and when the policy-gradient term
joins, the released rewards' env ids, and the frozen-random-critic control."""

import math
from collections import defaultdict

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import sb3_ogpo  # noqa: F401
from sb3_ogpo import OGPO
from sb3_ogpo.ogpo.losses import warm_restart_factor

SMALL = dict(policy_kwargs=dict(actor_net_arch=[32, 32], critic_net_arch=[32, 32]), n_critics=3,
             chunk_size=2, denoising_steps=3, n_group=4, batch_size=16)


def test_critic_values_are_float32_under_bf16_autocast():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", bf16=True, seed=0, **SMALL)
    policy = model.policy
    features, chunks = th.randn(8, 2), th.rand(8, policy.flow_dim) * 2 - 1
    with model._autocast():
        q_values = policy.critic(features, chunks)
    assert q_values.dtype == th.float32 and q_values.shape == (3, 8)
    # Finer than bfloat16 can hold: shift the output bias by a tenth of bf16's spacing at |Q| ~ 100.
    with th.no_grad():
        policy.critic.net[-1].bias.fill_(100.0)
        with model._autocast():
            base = policy.critic(features, chunks)
        policy.critic.net[-1].bias.add_(0.05)
        with model._autocast():
            shifted = policy.critic(features, chunks)
    assert th.allclose(shifted - base, th.full_like(base, 0.05), atol=1e-3)


def test_warm_restart_factor_follows_the_released_schedule():
    floor = 2e-5 / 4.5e-5
    assert warm_restart_factor(0, 50_000, 2_000, floor) == pytest.approx(floor)
    assert warm_restart_factor(1_000, 50_000, 2_000, floor) == pytest.approx((1 + floor) / 2)
    assert warm_restart_factor(2_000, 50_000, 2_000, floor) == pytest.approx(1.0)
    assert warm_restart_factor(26_000, 50_000, 2_000, floor) == pytest.approx((1 + floor) / 2)
    assert warm_restart_factor(49_999, 50_000, 2_000, floor) == pytest.approx(floor, abs=1e-6)
    assert warm_restart_factor(50_000, 50_000, 2_000, floor) == pytest.approx(floor)  # restarts
    assert warm_restart_factor(123, 0, 2_000, floor) == 1.0  # period 0: constant


def _adam_steps(optimizer: th.optim.Optimizer) -> int:
    states = [state for state in optimizer.state.values() if "step" in state]
    return int(max(float(state["step"]) for state in states)) if states else 0


def test_fresh_optimizers_when_online_training_starts_and_when_the_policy_gradient_joins():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", success_bc_coef=1.0, policy_gradient_starts=30,
                 learning_starts=20, learning_rate=1e-3, actor_lr_restart_period=100, actor_lr_warmup_steps=10,
                 seed=0, **SMALL)
    # Optimizer state from before online training (e.g. a user's own steps) is not carried over.
    actor_optimizer, critic_optimizer = model.policy.optimizer, model.critic_optimizer
    model.learn(40)  # 20 update rounds, success-BC only
    assert model.policy.optimizer is not actor_optimizer and model.critic_optimizer is not critic_optimizer
    assert _adam_steps(model.policy.optimizer) == 20 and _adam_steps(model.critic_optimizer) == 20
    assert model._actor_steps_since_reset == 20
    bc_optimizer = model.policy.optimizer
    model.learn(20, reset_num_timesteps=False)  # rounds 20..39: the policy gradient joins at 30
    assert model.policy.optimizer is not bc_optimizer
    assert _adam_steps(model.policy.optimizer) == 10 and model._actor_steps_since_reset == 10
    assert _adam_steps(model.critic_optimizer) == 40  # the critics' optimizer is kept
    # The actor's learning rate restarted with the optimizer: 10 steps into a 10-step warm-up = the peak.
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * warm_restart_factor(9, 100, 10, 2 / 4.5))


def test_reset_optimizers_false_keeps_the_optimizers():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", learning_starts=20, reset_optimizers=False, seed=0, **SMALL)
    actor_optimizer, critic_optimizer = model.policy.optimizer, model.critic_optimizer
    model.learn(30)
    assert model.policy.optimizer is actor_optimizer and model.critic_optimizer is critic_optimizer


def test_actor_optimizer_kwargs_reach_the_actors_optimizer_alone_and_survive_resets_and_save(tmp_path):
    kwargs = dict(SMALL, policy_kwargs=dict(SMALL["policy_kwargs"], optimizer_kwargs=dict(eps=1e-6),
                                            actor_optimizer_kwargs=dict(betas=(0.99, 0.999))))
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", learning_starts=20, policy_gradient_starts=25, seed=0, **kwargs)
    model.learn(40)  # fresh optimizers at update 0 and again when the policy gradient joins
    actor_group, critic_group = model.policy.optimizer.param_groups[0], model.critic_optimizer.param_groups[0]
    assert actor_group["betas"] == (0.99, 0.999) and critic_group["betas"] == (0.9, 0.999)
    assert actor_group["eps"] == critic_group["eps"] == 1e-6
    model.save(tmp_path / "model.zip")
    loaded = OGPO.load(tmp_path / "model.zip")
    assert loaded.policy.optimizer.param_groups[0]["betas"] == (0.99, 0.999)
    with pytest.raises(ValueError, match="must not set 'lr'"):
        OGPO("MlpPolicy", "PointMassMultimodal-v0", seed=0,
             **dict(SMALL, policy_kwargs=dict(SMALL["policy_kwargs"], actor_optimizer_kwargs=dict(lr=1.0))))


def test_frozen_random_critic_control_runs():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", learning_starts=20, critic_utd=0, seed=0, **SMALL)
    critic = [p.clone() for p in model.policy.critic.parameters()]
    actor = [p.clone() for p in model.policy.actor.parameters()]
    model.learn(60)
    assert all(th.equal(a, b) for a, b in zip(critic, model.policy.critic.parameters()))
    assert all(th.equal(a, b) for a, b in zip(critic, model.policy.critic_target.parameters()))
    assert not all(th.equal(a, b) for a, b in zip(actor, model.policy.actor.parameters()))
    assert np.isfinite(model.logger.name_to_value["train/policy_loss"])


def test_success_td_adds_a_critic_step_on_a_success_batch_once_the_success_buffer_holds_one():
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", success_td=True, learning_starts=20, seed=0, **SMALL)
    success_buffer = model.replay_buffer.success_buffer
    assert success_buffer is not None and model.success_bc_coef == 0  # kept for the TD step alone
    model.learn(30)
    success_buffer.pos, success_buffer.full = 0, False  # empty: only the replay step
    steps = _adam_steps(model.critic_optimizer)
    model.train(1, 16)
    assert _adam_steps(model.critic_optimizer) == steps + 1
    success_buffer.pos = 100  # pretend 100 successful transitions are stored
    sampled, original = [], success_buffer.sample
    success_buffer.sample = lambda batch_size, env=None: sampled.append(batch_size) or original(batch_size, env)
    model.train(1, 16)
    assert _adam_steps(model.critic_optimizer) == steps + 3 and sampled == [16]
    assert np.isfinite(model.logger.name_to_value["train/success_critic_loss"])
    with pytest.raises(ValueError, match="success_td"):
        OGPO("MlpPolicy", "PointMassMultimodal-v0", success_td="yes", **SMALL)


def test_adroit_sparse_id_gives_plus_ten_on_the_experts_success_steps():
    from sb3_ogpo.envs.adroit import make_adroit
    from sb3_ogpo.experts import make_expert

    env = make_adroit("AdroitHandDoorSparse-v1")
    expert = make_expert("AdroitHandDoor-v1", env, noise_scale=0.0)
    observation, _ = env.reset(seed=0)
    expert.reset(np.random.default_rng(0))
    rewards, successes = [], []
    truncated = terminated = False
    while not (terminated or truncated):
        observation, reward, terminated, truncated, info = env.step(expert.act(observation))
        rewards.append(reward)
        successes.append(info["is_success"])
    env.close()
    assert any(successes) and len(rewards) == 200
    for reward, success in zip(rewards, successes):
        assert reward == pytest.approx(10.0 if success else -0.1)


def test_robomimic_released_id_gives_plus_five_and_terminates_on_the_experts_success_step():
    from sb3_ogpo.experts import make_expert

    env = gym.make("RobomimicLiftSuccessBonus-v0")
    assert env.spec.max_episode_steps == 300
    expert = make_expert("RobomimicLift-v0", env, noise_scale=0.0)
    observation, _ = env.reset(seed=0)
    expert.reset(np.random.default_rng(0))
    rewards = []
    terminated = truncated = False
    while not (terminated or truncated):
        observation, reward, terminated, truncated, info = env.step(expert.act(observation))
        rewards.append(reward)
    env.close()
    assert terminated and info["is_success"]
    assert rewards[-1] == 5.0 and all(r == -1.0 for r in rewards[:-1])


def test_released_robomimic_ids_keep_the_v0_observations():
    assert math.isclose(sb3_ogpo.envs.RELEASED_SUCCESS_REWARD, 5.0)
    for env_id in sb3_ogpo.envs.RELEASED_ROBOMIMIC_TASKS:
        assert gym.spec(env_id).kwargs["success_reward"] == 5.0


def test_best_of_n_scores_each_candidate_with_its_own_random_critic_pair():
    from sb3_ogpo.ogpo.losses import best_of_n_choice

    th.manual_seed(0)
    # 4 members, 3 candidates, 1 state. Candidate 2 is best under every pair of members; candidate 0 only
    # under member 0 (which a pair never uses alone: the min over two distinct members hides it).
    q_values = th.tensor([[100.0, 0.0, 5.0], [0.0, 1.0, 5.0], [0.0, 1.0, 5.0], [0.0, 1.0, 5.0]])
    choices = {int(best_of_n_choice(q_values.view(4, 3), 3)) for _ in range(50)}
    assert choices == {2}
    # Pairs are drawn per candidate: member m values every chunk at m, so with one shared pair all 2000
    # candidates would tie and argmax would pick candidate 0; with a pair each, the winner's pair is (8, 9).
    q_values = th.arange(10.0).unsqueeze(1).repeat(1, 2000)
    winners = [int(best_of_n_choice(q_values, 2000)) for _ in range(3)]
    assert all(winner != 0 for winner in winners)


def test_kitchen_released_id_costs_done_minus_seven_per_step_and_zero_on_the_experts_success_step():
    from sb3_ogpo.experts import make_expert

    env = gym.make(sb3_ogpo.envs.RELEASED_KITCHEN_ID)
    assert env.spec.max_episode_steps == 600
    expert = make_expert(sb3_ogpo.envs.KITCHEN_ID, env, noise_scale=0.0)
    observation, _ = env.reset(seed=0)
    expert.reset(np.random.default_rng(0))
    rewards, done_counts = [], []
    terminated = truncated = False
    while not (terminated or truncated):
        observation, reward, terminated, truncated, info = env.step(expert.act(observation))
        rewards.append(reward)
        done_counts.append(len(info["episode_task_completions"]))
    env.close()
    assert terminated and info["is_success"] and rewards[-1] == 0.0
    assert [r for r, n in zip(rewards[:-1], done_counts[:-1])] == [float(n) - 7.0 for n in done_counts[:-1]]
    assert set(done_counts[:-1]) == {0, 1, 2, 3}  # each subtask lowers the cost of every later step by one


def test_kitchen_rejects_an_unknown_reward():
    from sb3_ogpo.envs.kitchen import make_kitchen

    with pytest.raises(ValueError, match="step_penalty"):
        make_kitchen(reward="sparse")


def test_preset_run_reports_a_short_run(tmp_path):
    """benchmarks/preset_run.py (the GPU machine's runner): evaluations of the start and the end, steps/s, and the
    critics' dtype under bf16, for a YAML entry with overrides."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "preset_run.py"
    out = tmp_path / "run.json"
    command = [sys.executable, str(script), "--env", "PointMassMultimodal-v0", "--device", "cpu", "-n", "300",
               "--eval-freq", "200", "--eval-episodes", "3", "--out", str(out),
               "-params", "init_policy:null", "learning_starts:100", "batch_size:8", "n_group:4", "bf16:true"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [step for step, _ in report["evaluations"]] == [0, 200, 300]
    assert report["env_steps"] == 300 and report["critic_dtype_under_bf16"] == "torch.float32"
    assert report["online_env_steps_per_second"] > 0


def test_finetune_controls_table_pools_each_methods_last_two_evaluations(tmp_path):
    """benchmarks/finetune_controls.py --table: one row per method, its end (last two evaluations) per seed."""
    import subprocess
    import sys
    from pathlib import Path

    def write(label: str, seed: int, successes: list[list[float]]) -> None:
        run = tmp_path / label / f"seed{seed}" / "ogpo" / "Task-v0_1"
        run.mkdir(parents=True)
        np.savez(run / "evaluations.npz", timesteps=np.arange(1, len(successes) + 1) * 5000,
                 successes=np.array(successes))

    write("pg", 0, [[0, 0], [1, 1], [1, 0]])
    write("pg", 1, [[1, 1], [0, 0], [0, 0]])
    write("dsrl", 1, [[1, 1], [1, 1]])
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "finetune_controls.py"
    result = subprocess.run([sys.executable, str(script), "--table", "--folder", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = result.stdout.strip().splitlines()
    assert rows[0] == "| method | seed 0 | seed 1 | mean | env steps |"
    assert rows[2] == "| dsrl |  | 1.00 | 1.00 | 10000 |"
    assert rows[3] == "| pg | 0.75 | 0.00 | 0.38 | 15000 |"
    empty = subprocess.run([sys.executable, str(script), "--table", "--folder", str(tmp_path / "none")],
                           capture_output=True, text=True, timeout=120)
    assert empty.returncode != 0 and "no evaluations.npz" in empty.stderr


def _load_benchmark(name: str):
    """Import ``benchmarks/<name>.py`` (a script folder, not a package) as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mode_seeking_positive_control_scores_chunks_by_closeness_to_their_group_mean():
    """benchmarks/mode_seeking.py: in the actor step the target critics score a chunk by minus its distance from its
    group's mean chunk; the other critic calls (TD targets) keep the trained critics."""
    from sb3_ogpo.ogpo.losses import group_advantage

    module = _load_benchmark("mode_seeking")
    # Two states (B = 2), three chunks each (G = 3), sample-major rows j * B + i; state 0's chunks at 0, 1, 5.
    chunks = th.tensor([[0.0], [2.0], [1.0], [2.0], [5.0], [2.0]])
    values = module.mode_seeking_values(chunks, n_group=3, n_members=2)
    assert values.shape == (2, 6) and th.equal(values[0], values[1])
    advantages = group_advantage(values.view(2, 3, 2), "vanilla")
    assert advantages[:, 0].argmax() == 1 and advantages[:, 0].argmin() == 2  # the chunk at 1 is nearest the mean 2
    assert th.allclose(advantages[:, 1], th.zeros(3))  # identical chunks: no preference

    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", learning_starts=20, seed=0, **SMALL)
    callback = module.ModeSeekingCritic()
    model.learn(60, callback=callback)
    critic, features = model.policy.critic_target, th.zeros(model.batch_size * model.n_group, 2)
    actor_step_chunks = th.randn(model.batch_size * model.n_group, model.policy.flow_dim)
    scored = critic(features, actor_step_chunks)
    assert th.allclose(scored, module.mode_seeking_values(actor_step_chunks, model.n_group, model.policy.n_critics))
    td_rows = th.randn(5, model.policy.flow_dim)
    assert not th.allclose(critic(th.zeros(5, 2), td_rows), module.mode_seeking_values(td_rows, 1, model.policy.n_critics))
    assert np.isfinite(model.logger.name_to_value["train/policy_loss"])


def test_success_bc_control_keeps_the_bc_term_where_the_entry_runs_plain_ogpo(tmp_path):
    """finetune_controls.py's success-BC control differs from its entry in the PG term only, even on an entry that
    sets ``success_bc_coef: 0`` (else the control would be a frozen actor)."""
    from sb3_ogpo.zoo.presets import load_preset

    module = _load_benchmark("finetune_controls")
    env_id = "AdroitHandDoorSparse-v1"
    assert load_preset(env_id).kwargs["success_bc_coef"] == 0.0
    args = module.command(env_id, "success_bc", 0, tmp_path, 5000, 64, None, [])
    overrides = dict(item.split(":", 1) for item in args[args.index("-params") + 1:])
    assert float(overrides["success_bc_coef"]) == 1.0 and int(overrides["policy_gradient_starts"]) >= 10**9
    pg = module.command(env_id, "pg", 0, tmp_path, 5000, 64, None, [])
    assert "-params" not in pg


def test_gradient_snr_measures_agreement_of_independent_actor_gradients(monkeypatch):
    """benchmarks/gradient_snr.py: the cosine of two independent PG gradients lies in [-1, 1], the mode-seeking
    signal is undone afterwards, and a batch measured against itself agrees perfectly."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))  # as when run as a script
    module = _load_benchmark("gradient_snr")
    assert module.parse_chains("64x16") == (64, 16)
    with pytest.raises(Exception, match="N_batch x N_group"):
        module.parse_chains("64-16")
    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", learning_starts=20, success_bc_coef=1.0, seed=0, **SMALL)
    model.learn(80)
    forward = model.policy.critic_target.forward
    for signal in ("critics", "mode_seeking"):
        row = module.measure(model, 8, 2, signal, pairs=2)
        assert -1.0 <= row["pg_cos"] <= 1.0 and -1.0 <= row["bc_cos"] <= 1.0 and row["pg_norm"] > 0
        assert row["bc_norm"] > 0 and -1.0 <= row["pg_bc_cos"] <= 1.0
    assert model.policy.critic_target.forward == forward and model.n_group == 4 and model.success_bc_coef == 1.0
    np.random.seed(0), th.manual_seed(0)
    first = module.flat_gradient(model, model._actor_loss(8, 0.01, defaultdict(list)))
    np.random.seed(0), th.manual_seed(0)
    again = module.flat_gradient(model, model._actor_loss(8, 0.01, defaultdict(list)))
    assert module.cosine(first, again) == pytest.approx(1.0, abs=1e-5)


def test_critic_ranking_probe_set_is_reused_only_with_the_same_actor(tmp_path, monkeypatch):
    """benchmarks/critic_ranking.py: a probe set (states, chunks, Monte-Carlo returns) written once ranks the critics of
    any later budget on the same chunks, and refuses a model whose EMA actor moved (its returns would be another's)."""
    import argparse
    import json
    from pathlib import Path

    from sb3_ogpo.zoo.presets import load_preset

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    module = _load_benchmark("critic_ranking")
    assert np.isnan(module.spearman(np.ones(3), np.arange(3.0)))  # nothing to rank
    assert module.spearman(np.array([1.0, 1.0, 2.0]), np.array([0.0, 0.0, 5.0])) == pytest.approx(1.0)  # ties
    settings = dict(init_policy=None, n_critics=2, n_group=4, batch_size=8, critic_batch_size=8, buffer_size=500,
                    policy_kwargs=dict(actor_net_arch=[16], critic_net_arch=[16]))
    args = argparse.Namespace(learning_starts=20, seed=0, bc_actor=False, set=json.dumps(settings), states=3, group=4,
                              rollouts=2, horizon=6, probe_steps=5)
    env_id = "PointMassMultimodal-v0"
    model = module.trained_model(env_id, args)
    model.learn(40)
    probe_set = module.build_probe_set(model, load_preset(env_id), args)
    assert probe_set["chunks"].shape == (3, 4, model.policy.flow_dim) and probe_set["returns"].shape == (3, 4, 2)
    path = str(tmp_path / "probes.npz")
    module.save_probe_set(path, probe_set)
    loaded = module.load_probe_set(path)
    before = module.ranking(model, probe_set)
    assert module.ranking(model, loaded) == before and before["states_with_a_ranking"].endswith("/3")
    model.learn(40, reset_num_timesteps=False)  # the critics learn, the actor stays (actor_utd 0)
    assert module.ranking(model, loaded)["rows"] != before["rows"]
    with th.no_grad():
        next(model.policy.actor_target.parameters()).add_(0.1)
    with pytest.raises(ValueError, match="another EMA actor"):
        module.ranking(model, loaded)


def test_bf16_effect_compares_the_actor_steps_numbers_with_float32(tmp_path):
    """benchmarks/bf16_effect.py: on a saved model's states, bf16 and float32 critic values rank a group alike on a
    trained model, and the clip fractions of both precisions are reported."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    model = OGPO("MlpPolicy", "PointMassMultimodal-v0", learning_starts=20, bf16=True, seed=0, **SMALL)
    model.learn(80)
    model.save(tmp_path / "model.zip")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bf16_effect.py"
    result = subprocess.run([sys.executable, str(script), "--env", "PointMassMultimodal-v0", "--model",
                             str(tmp_path / "model.zip"), "--steps", "40", "--every", "4", "--group", "8"],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["states"] == 10 and report["group"] == 8
    assert report["q_within_group_std"] > 0 and 0 <= report["q_bf16_error_std"] < report["q_within_group_std"]
    assert 0.5 < report["q_rank_agreement_bf16_float32"] <= 1.0
    assert 0 <= report["ratio_outside_clip_float32"] <= 1 and 0 <= report["ratio_outside_clip_bf16"] <= 1


def test_actor_eval_evaluates_other_actors_on_the_same_episodes_without_changing_the_run(tmp_path):
    """benchmarks/actor_eval.py: the callback writes eval_<actor>/evaluations.npz beside the run's Monitor file, gives
    every actor the same episodes and flow noise (identical actors score identically), and leaves the run's training
    exactly as without it."""
    from stable_baselines3.common.env_util import make_vec_env

    module = _load_benchmark("actor_eval")

    def run(callback):
        env = make_vec_env("PointMassMultimodal-v0", n_envs=1, seed=0, monitor_dir=str(tmp_path / "monitor"))
        model = OGPO("MlpPolicy", env, learning_starts=60, seed=0, **SMALL)
        model.learn(150, callback=callback)
        return model

    plain = run(None)
    callback = module.ActorEval(actors=["slow", "current"], eval_freq=50, n_eval_episodes=4)
    evaluated = run(callback)
    for name, parameter in plain.policy.state_dict().items():
        assert th.equal(parameter, evaluated.policy.state_dict()[name]), name
    curves = {actor: np.load(tmp_path / "monitor" / f"eval_{actor}" / "evaluations.npz") for actor in ("slow", "current")}
    for curve in curves.values():
        assert list(curve["timesteps"]) == [50, 100, 150] and curve["successes"].shape == (3, 4)
    # Before learning_starts the actors are one network: the same episodes and noise give the same returns.
    assert np.array_equal(curves["slow"]["results"][0], curves["current"]["results"][0])
    assert evaluated.policy.deterministic_actor == plain.policy.deterministic_actor
    # Each evaluation integrates the actor it names.
    policy, used = evaluated.policy, []
    sample_chunks = policy.sample_chunks
    policy.sample_chunks = lambda features, actor, **kwargs: used.append(actor) or sample_chunks(features, actor, **kwargs)
    for counter in (callback, *callback.evaluators.values()):
        counter.n_calls = callback.eval_freq - 1  # the next step evaluates
    callback.on_step()
    assert used and set(map(id, used)) == {id(policy.actor_slow), id(policy.actor)}


def test_collapse_onset_puts_each_logged_value_in_the_window_of_its_neighbouring_evaluations(tmp_path):
    """benchmarks/collapse_onset.py: a train/ value logged between an evaluation at or above --high and one below --low
    is an onset; both at or above --high, stable; below then above, recovery; the run's start counts before the first."""
    import subprocess
    import sys
    from pathlib import Path

    module = _load_benchmark("collapse_onset")

    def table(step, value):
        return (f"----------------\n| train/ | |\n|    advantage_outlier_corr | {value} |\n"
                f"| time/ | |\n|    total_timesteps | {step} |\n----------------\n")

    def evaluation(step, success):
        return f"Eval num_timesteps={step}, episode_reward=0.00 +/- 0.00\nSuccess rate: {success}%\n"

    log = tmp_path / "run.log"
    log.write_text(table(1000, 0.5) + evaluation(2000, 60.0) + table(3000, 0.25) + evaluation(4000, 10.0)
                   + table(5000, -0.5) + evaluation(6000, 50.0) + table(7000, 9.0))
    rows, evaluations = module.read_log(str(log), "advantage_outlier_corr")
    assert rows == [(1000, 0.5), (3000, 0.25), (5000, -0.5), (7000, 9.0)]
    assert evaluations == {2000: 0.6, 4000: 0.1, 6000: 0.5}
    assert module.window_of(0.6, 0.1, 0.2, 0.4) == "onset" and module.window_of(0.5, 0.45, 0.2, 0.4) == "stable"
    assert module.window_of(0.1, 0.5, 0.2, 0.4) == "recovery" and module.window_of(0.3, 0.3, 0.2, 0.4) is None
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "collapse_onset.py"
    result = subprocess.run([sys.executable, str(script), str(log), "--start", "0.5"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    # 1000: start 0.5 -> 0.6 stable; 3000: 0.6 -> 0.1 onset; 5000: 0.1 -> 0.5 recovery; 7000: no evaluation after it.
    assert "n =   1  mean +0.500" in lines["stable"] and "n =   1  mean +0.250" in lines["onset"]
    assert "n =   1  mean -0.500" in lines["recovery"]
    bad = subprocess.run([sys.executable, str(script), str(log), "--low", "0.5", "--high", "0.2"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--low" in bad.stderr
