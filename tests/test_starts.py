"""Clipped BC starts: the clipping rule, the cache (generate once, then hit; locking; stale entries),
loading a start into a fine-tuning model, the pretrain CLI and clear errors. Point mass only (fast)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
import warnings

import pytest
import torch as th

import sb3_ogpo  # noqa: F401  (registers env ids)
from sb3_ogpo import OGPO, starts
from sb3_ogpo.experts.collect import collect_demonstrations, make_demo_env
from sb3_ogpo.experts import EXPERTS
from sb3_ogpo.envs import ADROIT_IDS, KITCHEN_ID, POINT_MASS_ID, ROBOMIMIC_TASKS
from sb3_ogpo.starts.__main__ import main as pretrain_main
from sb3_ogpo.starts import (
    START_CONFIGS,
    EvalResult,
    StartUnavailableError,
    clip_bc,
    evaluate_success,
    resolve_start,
    start_dir,
    start_model_kwargs,
)

# A cheap version of the point mass start (same actor, so it stays compatible with start_model_kwargs).
SMALL = dict(demo_episodes=40, max_gradient_steps=400, eval_freq=200, clip_eval_episodes=16, eval_episodes=16)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty start cache in tmp_path, and the cheap point mass config."""
    monkeypatch.setenv(starts.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setitem(START_CONFIGS, POINT_MASS_ID, dataclasses.replace(START_CONFIGS[POINT_MASS_ID], **SMALL))
    return tmp_path / "cache"


def _point_mass_model(**kwargs):
    env = make_demo_env(POINT_MASS_ID)
    return OGPO("MlpPolicy", env, buffer_size=64, n_critics=2, seed=0, **start_model_kwargs(POINT_MASS_ID), **kwargs)


def _fake_evaluations(monkeypatch, rates, on_call=None):
    """Make evaluate_success return ``rates`` in turn; return the list of calls (threshold, episodes)."""
    calls = []

    def fake(model, env, n_episodes, seed=None, threshold=None):
        if on_call is not None:
            on_call(model)
        rate = rates[min(len(calls), len(rates) - 1)]
        calls.append((threshold, n_episodes))
        return EvalResult(success_rate=rate, episodes=n_episodes, successes=round(rate * n_episodes))

    monkeypatch.setattr(starts, "evaluate_success", fake)
    return calls


@pytest.fixture(scope="module")
def demos():
    return collect_demonstrations(POINT_MASS_ID, 5, noise_scale=0.1, seed=0, progress=False)


# ----- configs ------------------------------------------------------------------------------------------
def test_every_task_has_a_config():
    assert set(START_CONFIGS) == {POINT_MASS_ID, KITCHEN_ID, *ADROIT_IDS, *ROBOMIMIC_TASKS}
    for env_id, config in START_CONFIGS.items():
        assert config.env_id == env_id
        assert config.threshold == pytest.approx(0.45) and config.eval_episodes >= 64
        kwargs = start_model_kwargs(env_id)
        assert set(kwargs) == {"chunk_size", "denoising_steps", "gamma", "policy_kwargs"}
        assert kwargs["policy_kwargs"]["actor_net_arch"] == list(config.actor_net_arch)
        if env_id in ADROIT_IDS:
            assert (kwargs["chunk_size"], kwargs["denoising_steps"], kwargs["gamma"]) == (4, 3, 0.95)
        elif env_id != POINT_MASS_ID:
            assert (kwargs["chunk_size"], kwargs["denoising_steps"]) == (4, 10)
    assert start_model_kwargs(POINT_MASS_ID)["chunk_size"] == 2


def test_unknown_env_id_and_missing_expert_give_clear_errors(cache, monkeypatch):
    with pytest.raises(ValueError, match="No clipped BC start is defined for env id 'CartPole-v1'.*Known ids"):
        resolve_start("CartPole-v1")
    with pytest.raises(ValueError, match="No clipped BC start"):
        start_model_kwargs("NotAnEnv-v0")
    monkeypatch.delitem(EXPERTS, "AdroitHandPen-v1")
    with pytest.raises(StartUnavailableError, match="AdroitHandPen-v1: no scripted expert.*--demos"):
        resolve_start("AdroitHandPen-v1")
    door = dataclasses.replace(START_CONFIGS["AdroitHandDoor-v1"], unavailable="its expert is being rewritten")
    monkeypatch.setitem(START_CONFIGS, "AdroitHandDoor-v1", door)
    with pytest.raises(StartUnavailableError, match="AdroitHandDoor-v1: its expert is being rewritten.*--demos"):
        resolve_start("AdroitHandDoor-v1")
    with pytest.raises(ValueError, match="No clipped BC start"):
        _point_mass_model(init_policy="start:CartPole-v1")


# ----- clipping rule ------------------------------------------------------------------------------------
def test_clip_stops_at_first_evaluation_reaching_threshold(monkeypatch, demos):
    calls = _fake_evaluations(monkeypatch, [0.1, 0.3, 0.44, 0.45, 0.9])
    model = _point_mass_model()
    result = clip_bc(model, demos, model.get_env(), threshold=0.45, eval_freq=10, max_steps=1000, eval_episodes=8,
                     batch_size=16)
    assert result.reached and result.steps == 40 and result.success == 0.45
    assert [entry["step"] for entry in result.history] == [10, 20, 30, 40]
    assert calls == [(0.45, 8)] * 4
    # After BC the EMA / slow actors equal the actor, as pretrain_bc promises.
    for name in ("actor_target", "actor_slow"):
        for a, b in zip(model.policy.actor.parameters(), getattr(model.policy, name).parameters()):
            assert th.equal(a, b)


def _actor_copy(model):
    return {k: v.clone() for k, v in model.policy.actor.state_dict().items()}


def _same(a, b):
    return all(th.equal(a[k], b[k]) for k in a)


def test_clip_refine_stops_at_the_first_snapshot_reaching_threshold(monkeypatch, demos):
    actors = []
    calls = _fake_evaluations(monkeypatch, [0.1, 0.9, 0.2, 0.5, 0.9], on_call=lambda model: actors.append(_actor_copy(model)))
    model = _point_mass_model()
    result = clip_bc(model, demos, model.get_env(), threshold=0.45, eval_freq=40, max_steps=1000, eval_episodes=8,
                     refine=4, batch_size=16)
    # coarse evaluations at 40 (fails) and 80 (passes), then the snapshots 50 (fails) and 60 (passes)
    assert [(e["step"], e["refined"]) for e in result.history] == [(40, False), (80, False), (50, True), (60, True)]
    assert len(calls) == 4 and result.reached and result.steps == 60 and result.success == 0.5
    assert _same(_actor_copy(model), actors[3]) and not _same(actors[3], actors[1])
    assert _same(_actor_copy(model), {k: v for k, v in model.policy.actor_target.state_dict().items()})


def test_clip_refine_keeps_the_evaluated_policy_when_no_snapshot_passes(monkeypatch, demos):
    actors = []
    _fake_evaluations(monkeypatch, [0.9, 0.1, 0.1, 0.1], on_call=lambda model: actors.append(_actor_copy(model)))
    model = _point_mass_model()
    result = clip_bc(model, demos, model.get_env(), threshold=0.45, eval_freq=40, max_steps=1000, eval_episodes=8,
                     refine=4, batch_size=16)
    assert [e["step"] for e in result.history] == [40, 10, 20, 30]
    assert result.reached and result.steps == 40 and result.success == 0.9 and result.evaluation["step"] == 40
    assert _same(_actor_copy(model), actors[0])


def test_clip_keeps_last_policy_when_threshold_is_never_reached(monkeypatch, demos):
    _fake_evaluations(monkeypatch, [0.2])
    model = _point_mass_model()
    with pytest.warns(UserWarning, match="did not reach success 0.45 within 50 steps"):
        result = clip_bc(model, demos, model.get_env(), threshold=0.45, eval_freq=10, max_steps=50, eval_episodes=4,
                         batch_size=16)
    assert not result.reached and result.steps == 50 and len(result.history) == 5 and result.success == 0.2


def test_clip_without_threshold_trains_the_whole_budget(monkeypatch, demos):
    calls = _fake_evaluations(monkeypatch, [1.0])
    model = _point_mass_model()
    result = clip_bc(model, demos, model.get_env(), threshold=None, eval_freq=10, max_steps=30, batch_size=16)
    assert result.steps == 30 and not result.reached and calls == []


def test_bc_ema_is_evaluated_and_kept_while_training_follows_the_iterates(demos):
    def bc(ema_tau, callback=None):
        model = _point_mass_model()
        initial = _actor_copy(model)
        model.pretrain_bc(demos, gradient_steps=40, batch_size=16, learning_rate=1e-2, ema_tau=ema_tau,
                          eval_freq=10 if callback else 0, eval_callback=callback)
        return initial, _actor_copy(model)

    _, last_iterate = bc(None)
    assert _same(bc(1.0)[1], last_iterate)  # rate 1: the average is the last iterate
    seen = []
    initial, averaged = bc(0.01, callback=lambda model, step: seen.append(_actor_copy(model)))
    assert _same(seen[-1], averaged)  # the callback saw the average that BC returns
    # evaluating the average does not disturb training: without callbacks BC ends at the same average
    assert _same(bc(0.01)[1], averaged)
    # 40 steps at rate 0.01 keep the average near the initial weights, unlike the last iterate
    distance = lambda a, b: sum(float((a[k] - b[k]).norm()) for k in a)  # noqa: E731
    assert distance(averaged, initial) < 0.5 * distance(last_iterate, initial)
    with pytest.raises(ValueError, match="ema_tau"):
        bc(0.0)


def test_evaluate_success_is_reproducible_and_early_decision_agrees(demos):
    model = _point_mass_model()
    model.pretrain_bc(demos, gradient_steps=200, batch_size=64, learning_rate=1e-3)
    env = model.get_env()
    full = evaluate_success(model, env, 24, seed=7)
    assert full.episodes == 24 and not full.decided_early
    state = th.random.get_rng_state()
    assert evaluate_success(model, env, 24, seed=7) == full  # same env seed and flow noise
    assert th.equal(th.random.get_rng_state(), state)  # the global torch RNG is left alone
    for threshold in (0.0, full.success_rate, full.success_rate + 0.01, 1.0):
        early = evaluate_success(model, env, 24, seed=7, threshold=threshold)
        assert (early.success_rate >= threshold) == (full.success_rate >= threshold)


def test_evaluate_success_runs_the_stochastic_sampler_when_asked(demos, monkeypatch):
    model = _point_mass_model()
    model.pretrain_bc(demos, gradient_steps=50, batch_size=64, learning_rate=1e-3)
    modes = []
    plan_chunks = model.policy.plan_chunks
    monkeypatch.setattr(model.policy, "plan_chunks", lambda obs, deterministic=False: modes.append(deterministic)
                        or plan_chunks(obs, deterministic))
    sampled = evaluate_success(model, model.get_env(), 6, seed=3, deterministic=False)
    assert sampled.episodes == 6 and modes and not any(modes)
    assert evaluate_success(model, model.get_env(), 6, seed=3, deterministic=False) == sampled  # seeded noise
    modes.clear()
    evaluate_success(model, model.get_env(), 6, seed=3)
    assert modes and all(modes)


# ----- resolve_start and the cache -------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:BC did not reach")
def test_resolve_start_generates_once_and_loads_into_a_finetuning_model(cache, monkeypatch):
    path = resolve_start(POINT_MASS_ID)
    directory = start_dir(POINT_MASS_ID, 0)
    assert path == directory / "model.zip" and path.is_file() and str(directory).startswith(str(cache))
    info = json.loads((directory / "start.json").read_text())
    assert info["env_id"] == POINT_MASS_ID and info["seed"] == 0 and info["success_episodes"] == 16
    assert 0.0 <= info["success"] <= 1.0 and info["demos"]["episodes"] == 40 and info["demos"]["transitions"] > 40
    assert 0 < info["bc"]["steps"] <= 400 and info["model_kwargs"] == start_model_kwargs(POINT_MASS_ID)
    assert info["package_version"] == sb3_ogpo.__version__ and info["wall_clock_s"] > 0
    assert not [name for name in os.listdir(directory) if name.endswith((".tmp", ".zip")) and name != "model.zip"]

    # Second call: a cache hit (nothing generated, file untouched).
    mtime = path.stat().st_mtime_ns
    monkeypatch.setattr(starts, "generate_start", lambda *a, **k: pytest.fail("regenerated a cached start"))
    assert resolve_start(POINT_MASS_ID) == path and path.stat().st_mtime_ns == mtime

    saved = OGPO.load(path)
    assert saved.chunk_size == 2 and saved.policy.actor_net_arch == [64, 64]
    model = OGPO("MlpPolicy", make_demo_env(POINT_MASS_ID), buffer_size=1000, init_policy=f"start:{POINT_MASS_ID}",
                 **start_model_kwargs(POINT_MASS_ID))
    assert path.stat().st_mtime_ns == mtime
    expected = saved.policy.actor.state_dict()
    for name in ("actor", "actor_target", "actor_slow"):
        state = getattr(model.policy, name).state_dict()
        assert state.keys() == expected.keys() and all(th.equal(state[k], expected[k]) for k in expected)


@pytest.mark.filterwarnings("ignore:BC did not reach")
def test_generation_is_deterministic_given_the_seed(cache, tmp_path):
    first = starts.generate_start(POINT_MASS_ID, tmp_path / "a", seed=3)
    second = starts.generate_start(POINT_MASS_ID, tmp_path / "b", seed=3)
    assert first["success"] == second["success"] and first["bc"]["history"] == second["bc"]["history"]
    a, b = (OGPO.load(tmp_path / name / "model.zip").policy.actor.state_dict() for name in "ab")
    assert all(th.equal(a[k], b[k]) for k in a)
    # start.json fingerprints the saved actor's weights, and any change to them changes the fingerprint
    loaded = OGPO.load(tmp_path / "a" / "model.zip")
    assert first["actor_sha256"] == second["actor_sha256"] == starts.actor_fingerprint(loaded)
    with th.no_grad():
        next(loaded.policy.actor.parameters()).view(-1)[0] += 1e-6
    assert starts.actor_fingerprint(loaded) != first["actor_sha256"]
    assert first["actor_sha256"] in starts.summary(first)


def _fake_generate(calls, delay=0.0):
    def generate(env_id, directory, seed, overrides=None, **kwargs):
        calls.append(env_id)
        time.sleep(delay)
        (directory / "model.zip").write_bytes(b"fake")
        config = dataclasses.replace(START_CONFIGS[env_id], **(overrides or {}))
        info = {"model_kwargs": config.model_kwargs(), "policy": config.policy}
        (directory / "start.json").write_text(json.dumps(info))
        return info

    return generate


def test_concurrent_callers_generate_once(cache, monkeypatch):
    monkeypatch.setattr(starts, "summary", lambda *a, **k: "")
    calls, results = [], []
    generate = _fake_generate(calls, delay=0.5)
    threads = [threading.Thread(target=lambda: results.append(resolve_start(POINT_MASS_ID, generate=generate)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [POINT_MASS_ID] and len(set(results)) == 1 and len(results) == 3


def test_stale_cached_start_is_generated_again(cache):
    directory = start_dir(POINT_MASS_ID, 0)
    directory.mkdir(parents=True)
    (directory / "model.zip").write_bytes(b"old")
    (directory / "start.json").write_text(json.dumps({"model_kwargs": {"chunk_size": 99}}))
    calls = []
    with pytest.warns(UserWarning, match="generating it again"):
        resolve_start(POINT_MASS_ID, generate=_fake_generate(calls))
    assert calls == [POINT_MASS_ID]


# ----- CLI ------------------------------------------------------------------------------------------------
def test_cli_point_mass(cache, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["--env", POINT_MASS_ID, "--out", str(out), "--episodes", "30", "--max-steps", "300", "--eval-freq", "100",
            "--clip-eval-episodes", "8", "--eval-episodes", "16", "--max-success", "0.3", "--seed", "1",
            "--ema-tau", "0.01", "--no-progress", "--threads", "0"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "threshold not reached" may or may not come
        assert pretrain_main(argv) == 0
    printed = capsys.readouterr().out
    assert "start success:" in printed and "30 episodes" in printed and str(out / "model.zip") in printed
    info = json.loads((out / "start.json").read_text())
    assert info["bc"]["threshold"] == 0.3 and info["success_episodes"] == 16 and info["seed"] == 1
    assert info["bc"]["ema_tau"] == 0.01 and "EMA of the iterates, rate 0.01" in printed
    assert info["bc"]["reached_threshold"] == (info["bc"]["steps"] < 300 or info["bc"]["history"][-1]["success_rate"] >= 0.3)
    OGPO.load(out / "model.zip")
    # Run again: the existing start is reported, not regenerated.
    mtime = (out / "model.zip").stat().st_mtime_ns
    assert pretrain_main(argv) == 0
    assert "already exists" in capsys.readouterr().out and (out / "model.zip").stat().st_mtime_ns == mtime


def test_cli_errors_are_clear():
    result = subprocess.run([sys.executable, "-m", "sb3_ogpo.pretrain", "--env", "NoSuchEnv-v0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "No clipped BC start is defined for env id 'NoSuchEnv-v0'" in result.stderr
    assert pretrain_main(["--env", POINT_MASS_ID, "--ema-tau", "fast"]) == 2


def test_cli_missing_expert(tmp_path, capsys, monkeypatch):
    monkeypatch.delitem(EXPERTS, "AdroitHandPen-v1")
    assert pretrain_main(["--env", "AdroitHandPen-v1", "--out", str(tmp_path / "pen"), "--no-progress"]) == 1
    assert "AdroitHandPen-v1: no scripted expert" in capsys.readouterr().err


def test_cli_from_a_dataset(tmp_path, capsys, demos):
    from sb3_ogpo.experts.collect import save_demonstrations

    path = save_demonstrations(demos, POINT_MASS_ID, "hdf5", tmp_path / "pm.hdf5")
    out = tmp_path / "from_dataset"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert pretrain_main(["--env", POINT_MASS_ID, "--demos", str(path), "--out", str(out), "--max-steps", "100",
                              "--eval-freq", "50", "--clip-eval-episodes", "4", "--eval-episodes", "4",
                              "--no-progress", "--threads", "0"]) == 0
    info = json.loads((out / "start.json").read_text())
    assert info["demos"]["source"] == str(path) and info["demos"]["episodes"] == demos.n_episodes
    assert info["demos"]["transitions"] == len(demos) and "start success:" in capsys.readouterr().out


def test_a_model_with_another_actor_gets_its_own_start(cache):
    calls = []
    default = resolve_start(POINT_MASS_ID, generate=_fake_generate(calls))
    same = resolve_start(POINT_MASS_ID, actor={"chunk_size": 2, "actor_net_arch": [64, 64]}, generate=_fake_generate(calls))
    assert same == default and calls == [POINT_MASS_ID]
    other = resolve_start(POINT_MASS_ID, actor={"actor_net_arch": (32, 32, 32)}, generate=_fake_generate(calls))
    assert other == start_dir(POINT_MASS_ID, 0, variant="h2-K5-a32x32x32") / "model.zip" and len(calls) == 2
    info = json.loads((other.parent / "start.json").read_text())
    assert info["model_kwargs"]["policy_kwargs"]["actor_net_arch"] == [32, 32, 32]
    assert resolve_start(POINT_MASS_ID, actor={"actor_net_arch": [32, 32, 32]}, generate=_fake_generate(calls)) == other
    assert len(calls) == 2
    with pytest.raises(ValueError, match="actor may only set"):
        resolve_start(POINT_MASS_ID, actor={"gamma": 0.9})


@pytest.mark.filterwarnings("ignore:BC did not reach")
def test_init_policy_start_follows_the_models_actor(cache, monkeypatch):
    """A model whose actor differs from the task's start (e.g. ogpo_paper.yml's 4 x 512) gets a start of its shape."""
    real_generate = starts.generate_start
    seen = []

    def small_generate(env_id, directory, seed, overrides=None, **kwargs):
        seen.append(dict(overrides or {}))
        return real_generate(env_id, directory, seed, overrides={**(overrides or {}), "max_gradient_steps": 50,
                                                                  "eval_freq": 50, "clip_eval_episodes": 2,
                                                                  "eval_episodes": 2}, **kwargs)

    monkeypatch.setattr(starts, "generate_start", small_generate)
    kwargs = start_model_kwargs(POINT_MASS_ID)
    kwargs["policy_kwargs"] = {**kwargs["policy_kwargs"], "actor_net_arch": [32, 32, 32]}
    model = OGPO("MlpPolicy", make_demo_env(POINT_MASS_ID), buffer_size=100, init_policy=f"start:{POINT_MASS_ID}",
                 **kwargs)
    assert seen and seen[0]["actor_net_arch"] == (32, 32, 32)
    saved = OGPO.load(start_dir(POINT_MASS_ID, 0, variant="h2-K5-a32x32x32") / "model.zip")
    assert all(th.equal(model.policy.actor.state_dict()[k], v) for k, v in saved.policy.actor.state_dict().items())


def test_a_start_measured_above_max_success_falls_back_to_an_earlier_policy(cache, monkeypatch):
    """The stop decision (few episodes) can pass a policy whose 64-episode success is above 0.5: keep an earlier one."""
    final_rates = iter([0.9, 0.7, 0.4])
    clip_calls = []

    def fake_evaluate(model, env, n_episodes, seed=None, threshold=None):
        if threshold is not None:  # a clipping evaluation: fail, fail, pass
            clip_calls.append(seed)
            passed = len(clip_calls) >= 3
            return EvalResult(0.5 if passed else 0.1, n_episodes, 0, passed=passed)
        rate = next(final_rates)
        return EvalResult(rate, n_episodes, round(rate * n_episodes))

    monkeypatch.setattr(starts, "evaluate_success", fake_evaluate)
    monkeypatch.setitem(START_CONFIGS, POINT_MASS_ID, dataclasses.replace(
        START_CONFIGS[POINT_MASS_ID], max_gradient_steps=300, eval_freq=100))
    info = json.loads(Path(resolve_start(POINT_MASS_ID)).with_name("start.json").read_text())
    assert info["success"] == 0.4 and info["bc"]["stop_steps"] == 300 and info["bc"]["steps"] == 100
    assert info["bc"]["capped"] == [{"step": 300, "success": 0.9}, {"step": 200, "success": 0.7}]
