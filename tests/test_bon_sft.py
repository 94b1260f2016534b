"""SFT on Best-of-N (``--algo bon_sft``): OGPO's critics and rollouts, flow matching on the Best-of-N chunks."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml

import sb3_ogpo  # noqa: F401
from sb3_ogpo.bon_sft import BestOfNSFT

REPO = Path(__file__).resolve().parent.parent
ENV_ID = "PointMassMultimodal-v0"
SMALL = dict(policy_kwargs=dict(actor_net_arch=[32, 32], critic_net_arch=[32, 32]), n_critics=3, chunk_size=2,
             denoising_steps=3, batch_size=16, learning_starts=50)


def test_trains_saves_and_loads_with_identical_predictions(tmp_path):
    model = BestOfNSFT("MlpPolicy", ENV_ID, seed=0, **SMALL)
    model.learn(300)
    assert np.isfinite(model.logger.name_to_value["train/sft_loss"])
    model.save(tmp_path / "bon")
    loaded = BestOfNSFT.load(tmp_path / "bon")
    observations = np.random.default_rng(0).uniform(-1, 1, (8, 2)).astype(np.float32)
    th.manual_seed(0)
    expected, _ = model.predict(observations, deterministic=True)
    th.manual_seed(0)
    actual, _ = loaded.predict(observations, deterministic=True)
    np.testing.assert_allclose(actual, expected, atol=1e-6)
    assert loaded.best_of_n == 8


def test_the_sft_step_moves_the_flow_towards_the_best_chunks():
    model = BestOfNSFT("MlpPolicy", ENV_ID, seed=0, learning_rate=3e-3, actor_lr_restart_period=0, **SMALL)
    model.learn(60)  # fills the buffer
    policy = model.policy
    # Critics that prefer a large first action: the Best-of-N chunk is the one with the largest first entry.
    policy.__dict__["critic_target"] = lambda features, chunks: chunks[:, 0].unsqueeze(0).repeat(3, 1)
    probe = th.as_tensor(np.random.default_rng(1).uniform(-1, 1, (64, 2)), dtype=th.float32)

    def mean_first_action() -> float:
        th.manual_seed(0)
        return float(policy.plan_chunks(probe, deterministic=True)[:, 0].mean())

    before = mean_first_action()
    for _ in range(100):
        model._actor_step(16, 0.01, defaultdict(list))
    assert mean_first_action() > before + 0.2


def test_best_of_n_must_choose_among_several():
    with pytest.raises(ValueError, match="best_of_n"):
        BestOfNSFT("MlpPolicy", ENV_ID, best_of_n=1, **SMALL)


def test_hyperparams_cover_every_task_with_valid_keys():
    from sb3_ogpo.zoo.presets import ZOO_KEYS

    config = yaml.safe_load((REPO / "hyperparams" / "bon_sft.yml").read_text())
    ogpo_entries = yaml.safe_load((REPO / "hyperparams" / "ogpo.yml").read_text())
    assert set(config) == set(ogpo_entries), "the same tasks as ogpo.yml"
    constructor = set(inspect.signature(BestOfNSFT.__init__).parameters) | set(
        inspect.signature(sb3_ogpo.OGPO.__init__).parameters)
    for env_id, entry in config.items():
        assert not set(entry) - constructor - ZOO_KEYS, env_id
        assert entry["init_policy"] == ogpo_entries[env_id]["init_policy"], "the same start as OGPO's entry"
        assert float(entry["n_timesteps"]) == float(ogpo_entries[env_id]["n_timesteps"]), "the same budget"


def test_zoo_train_and_enjoy_as_typed(tmp_path):
    pytest.importorskip("rl_zoo3")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    train = [sys.executable, "-m", "rl_zoo3.train", "--algo", "bon_sft", "--env", ENV_ID, "-n", "400", "-f", "logs",
             "--eval-freq", "200", "--eval-episodes", "4", "-params", "init_policy:None", "learning_starts:100"]
    result = subprocess.run(train, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "logs" / "bon_sft" / f"{ENV_ID}_1"
    assert (run / f"{ENV_ID}.zip").is_file() and "successes" in np.load(run / "evaluations.npz")
    enjoy = [sys.executable, "-m", "rl_zoo3.enjoy", "--algo", "bon_sft", "--env", ENV_ID, "-f", "logs", "--no-render",
             "-n", "80"]
    result = subprocess.run(enjoy, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "Mean reward" in result.stdout, result.stderr[-3000:]


def test_optuna_sampler_gives_constructor_arguments():
    optuna = pytest.importorskip("optuna")
    from sb3_ogpo.zoo.hyperparams_opt import BON_SFT_SEARCH_SPACE, SAMPLERS, convert_ogpo_params

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = SAMPLERS["bon_sft"](trial, n_actions=2, n_envs=1, additional_args={})
    assert set(params) == set(BON_SFT_SEARCH_SPACE) and params["best_of_n"] >= 2
    assert convert_ogpo_params(trial.params) == params
    BestOfNSFT("MlpPolicy", ENV_ID, **{**SMALL, **params})
