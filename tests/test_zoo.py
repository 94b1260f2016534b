"""RL Zoo integration: the zoo's own commands, run as typed, in subprocesses.

These need the package installed (``pip install -e .`` or ``pip install .``) so that the
``sb3_ogpo_zoo_hook.pth`` start-up hook is active; they are skipped otherwise.

Budgets are tiny (a few hundred steps) and every command passes ``-params init_policy:None``: the
YAML entries start from ``init_policy: "start:<env id>"``, whose first use generates the task's
clipped BC start (minutes), which is not what these tests are about.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ENV_IDS = (
    "AdroitHandDoor-v1",
    "AdroitHandHammer-v1",
    "AdroitHandRelocate-v1",
    "AdroitHandPen-v1",
    "RobomimicLift-v0",
    "RobomimicPickPlaceCan-v0",
    "RobomimicNutAssemblySquare-v0",
    "KitchenMicrowaveKettleLightSlider-v0",
    "PointMassMultimodal-v0",
)
# Keys of a zoo YAML entry that the ExperimentManager consumes (not passed to the constructor).
ZOO_KEYS = {
    "n_timesteps", "policy", "env_wrapper", "vec_env_wrapper", "monitor_kwargs", "n_envs", "normalize",
    "frame_stack", "callback", "env_kwargs", "noise_type", "noise_std",
}
POINT_MASS = "PointMassMultimodal-v0"
NO_START = ["-params", "init_policy:None"]


def run(args: list[str], tmp_path: Path | None = None, timeout: float = 300, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from a neutral directory (not the repo: the installed package must be used)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    full_env.pop("SB3_OGPO_ZOO_HOOK", None)
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, *args], cwd=tmp_path or "/", env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"python {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


@pytest.fixture(scope="module")
def zoo_hook() -> None:
    """Skip unless the installed start-up hook registers ``ogpo`` when rl_zoo3 is imported."""
    pytest.importorskip("rl_zoo3")
    result = run(["-c", "import rl_zoo3; print('ogpo' in rl_zoo3.ALGOS)"], check=False)
    if result.stdout.strip().splitlines()[-1:] != ["True"]:
        pytest.skip(f"the sb3_ogpo RL Zoo hook is not active (run `pip install -e .`): {result.stderr[-500:]}")


def _run_dir(log_folder: Path, env_id: str) -> Path:
    runs = sorted((log_folder / "ogpo").glob(f"{env_id}_*"))
    assert runs, f"no run folder under {log_folder / 'ogpo'}"
    return runs[-1]


# ----- configuration files -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ogpo.yml", "ogpo_paper.yml"])
def test_hyperparams_cover_every_task_with_valid_keys(name: str) -> None:
    from sb3_ogpo import OGPO

    config = yaml.safe_load((REPO / "hyperparams" / name).read_text())
    assert set(ENV_IDS) <= set(config)
    constructor = set(inspect.signature(OGPO.__init__).parameters) - {"self", "env", "policy"}
    for env_id in ENV_IDS:
        entry = config[env_id]
        unknown = set(entry) - constructor - ZOO_KEYS
        assert not unknown, f"{name}:{env_id} has keys OGPO does not take: {unknown}"
        assert entry["init_policy"] == f"start:{env_id}"
        assert float(entry["n_timesteps"]) > 0
        if env_id.startswith("Adroit"):
            # env_wrapper goes outside the zoo's Monitor, which therefore logs the raw env's key
            assert entry["env_wrapper"] == "sb3_ogpo.envs.adroit.AdroitSuccessWrapper"
            assert "'success'" in entry["monitor_kwargs"].replace('"', "'")
            assert entry.get("denoising_steps") == 3
        else:
            assert "is_success" in entry["monitor_kwargs"]
        for key in ("learning_rate", "critic_learning_rate", "clip_range", "sde_sigma", "buffer_size"):
            if key in entry:
                assert isinstance(entry[key], (int, float)), f"{name}:{env_id}:{key} parsed as {entry[key]!r}"


def test_every_default_entry_runs_the_policy_gradient_term_within_its_budget() -> None:
    """``--algo ogpo`` must run OGPO: the policy-gradient term joins well before the entry's budget ends."""
    config = yaml.safe_load((REPO / "hyperparams" / "ogpo.yml").read_text())
    for env_id, entry in config.items():
        joins = int(entry.get("learning_starts", 100)) + int(entry.get("policy_gradient_starts", 0))
        assert joins <= float(entry["n_timesteps"]) / 2, f"ogpo.yml:{env_id}: the PG term joins at env step {joins}"
        assert entry.get("actor_utd", 1) > 0 and entry.get("critic_utd", 1) > 0, env_id


def test_default_entries_use_their_tasks_start_actor() -> None:
    """``init_policy: "start:<id>"`` with another actor would generate (and cache) a separate start first."""
    from sb3_ogpo.starts import get_start_config

    config = yaml.safe_load((REPO / "hyperparams" / "ogpo.yml").read_text())
    for env_id in ENV_IDS:
        entry, start = config[env_id], get_start_config(env_id)
        policy_kwargs = eval(entry["policy_kwargs"], {"dict": dict})  # as RL Zoo reads the string
        assert policy_kwargs["actor_net_arch"] == list(start.actor_net_arch), env_id
        assert (entry["chunk_size"], entry["denoising_steps"]) == (start.chunk_size, start.denoising_steps), env_id


def test_default_config_path_is_the_repository_yaml() -> None:
    from sb3_ogpo.zoo import default_config_path, paper_config_path

    assert Path(default_config_path()).read_text() == (REPO / "hyperparams" / "ogpo.yml").read_text()
    assert Path(paper_config_path()).is_file()


def test_sampler_and_converter_round_trip() -> None:
    optuna = pytest.importorskip("optuna")
    from sb3_ogpo import OGPO
    from sb3_ogpo.zoo.hyperparams_opt import SEARCH_SPACE, convert_ogpo_params, sample_ogpo_params

    constructor = set(inspect.signature(OGPO.__init__).parameters)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        params = sample_ogpo_params(trial, n_actions=2, n_envs=1, additional_args={})
        assert set(params) == set(SEARCH_SPACE) and set(params) <= constructor
        assert convert_ogpo_params(trial.params) == params
        assert params["advantage"] in ("vanilla", "conservative") and params["n_group"] >= 2
        study.tell(trial, 0.0)
    # storages may return ints as floats
    assert convert_ogpo_params({"n_group": 16.0, "critic_utd": 2.0})["n_group"] == 16


# ----- the start-up hook ---------------------------------------------------------------------------
def test_startup_hook_is_lazy(zoo_hook: None) -> None:
    """At start-up only the tiny hook module is loaded: no sb3_ogpo, gymnasium, torch or rl_zoo3."""
    code = "import sys; print(sorted(m for m in ('_sb3_ogpo_zoo_hook', 'sb3_ogpo', 'gymnasium', 'torch', 'rl_zoo3') if m in sys.modules))"
    assert run(["-c", code]).stdout.strip() == "['_sb3_ogpo_zoo_hook']"


def test_registration(zoo_hook: None) -> None:
    code = textwrap.dedent(
        """
        import types
        import rl_zoo3, rl_zoo3.train, rl_zoo3.enjoy
        from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
        from rl_zoo3.exp_manager import ExperimentManager
        import sb3_ogpo.zoo.hyperparams_opt as opt
        from sb3_ogpo import OGPO
        assert rl_zoo3.ALGOS["ogpo"] is OGPO
        assert HYPERPARAMS_SAMPLER["ogpo"] is opt.sample_ogpo_params
        assert HYPERPARAMS_CONVERTER["ogpo"] is opt.convert_ogpo_params
        assert "PointMassMultimodal-v0" in __import__("gymnasium").registry
        consts = [c for c in rl_zoo3.enjoy.enjoy.__code__.co_consts if isinstance(c, tuple) and "tqc" in c]
        assert consts == [("qrdqn", "dqn", "ddpg", "sac", "her", "td3", "tqc", "ogpo", "bon_sft", "dsrl", "dsrl_na", "residual_sac")], consts
        from sb3_ogpo.bon_sft import BestOfNSFT
        assert rl_zoo3.ALGOS["bon_sft"] is BestOfNSFT and HYPERPARAMS_SAMPLER["bon_sft"] is opt.sample_bon_sft_params
        print("ok")
        """
    )
    assert run(["-c", code]).stdout.strip().endswith("ok")


@pytest.mark.parametrize(
    "setup",
    [
        "import os; os.environ['SB3_OGPO_ZOO_HOOK'] = '0'",  # (set before start-up below)
        "sys.modules['sb3_ogpo.zoo.integration'] = None",  # the registration code cannot be imported
        "sys.modules['sb3_ogpo.ogpo'] = None",  # the algorithm cannot be imported
    ],
    ids=["disabled", "integration-import-fails", "ogpo-import-fails"],
)
def test_rl_zoo3_survives_a_failing_hook(zoo_hook: None, setup: str) -> None:
    env = {"PYTHONWARNINGS": "always"}
    if "SB3_OGPO_ZOO_HOOK" in setup:
        env["SB3_OGPO_ZOO_HOOK"] = "0"
        setup = "pass"
    code = textwrap.dedent(
        f"""
        import sys
        {setup}
        import rl_zoo3, rl_zoo3.train, rl_zoo3.hyperparams_opt
        from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
        print("ogpo" in rl_zoo3.ALGOS, "ppo" in rl_zoo3.ALGOS, "ppo" in HYPERPARAMS_SAMPLER)
        """
    )
    result = run(["-c", code], env=env)
    registered, ppo, ppo_sampler = result.stdout.split()
    assert (registered, ppo, ppo_sampler) == ("False", "True", "True")
    if "None" in setup:
        assert "sb3_ogpo RL Zoo hook: could not register OGPO" in result.stderr


def test_fallback_script_registers_explicitly(zoo_hook: None) -> None:
    result = run([str(REPO / "zoo_scripts" / "train.py"), "--help"], env={"SB3_OGPO_ZOO_HOOK": "0"})
    assert "ogpo" in result.stdout


# ----- the zoo's commands ----------------------------------------------------------------------------
def test_train_and_enjoy_point_mass(zoo_hook: None, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    result = run(
        ["-m", "rl_zoo3.train", "--algo", "ogpo", "--env", POINT_MASS, "-n", "400", "-f", str(logs),
         "--eval-freq", "200", "--eval-episodes", "3", "--seed", "0", *NO_START, "learning_starts:200"],
        tmp_path,
    )
    assert "hyperparams/ogpo.yml" in result.stdout
    run_dir = _run_dir(logs, POINT_MASS)
    assert (run_dir / f"{POINT_MASS}.zip").is_file()
    assert (run_dir / "best_model.zip").is_file()
    evaluations = np.load(run_dir / "evaluations.npz")
    assert list(evaluations["timesteps"]) == [200, 400]
    assert evaluations["successes"].shape == (2, 3)  # is_success is logged
    config = yaml.load((run_dir / POINT_MASS / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    config = dict(config)
    defaults = yaml.safe_load((REPO / "hyperparams" / "ogpo.yml").read_text())[POINT_MASS]
    assert config["init_policy"] is None and config["learning_starts"] == 200  # the -params overrides
    assert config["denoising_steps"] == defaults["denoising_steps"]  # the rest comes from ogpo.yml

    result = run(["-m", "rl_zoo3.enjoy", "--algo", "ogpo", "--env", POINT_MASS, "-f", str(logs), "--no-render",
                  "-n", "50", "--seed", "0"], tmp_path)
    assert "Episode Reward" in result.stdout or "Success rate" in result.stdout


def test_train_adroit_door_as_typed(zoo_hook: None, tmp_path: Path) -> None:
    """`python -m rl_zoo3.train --algo ogpo --env AdroitHandDoor-v1`, with a short budget (still in the
    BC warm-up: learning_starts is 10k) and one evaluation episode."""
    if importlib.util.find_spec("gymnasium_robotics") is None or importlib.util.find_spec("mujoco") is None:
        pytest.skip("gymnasium-robotics/mujoco are not installed")
    logs = tmp_path / "logs"
    run(["-m", "rl_zoo3.train", "--algo", "ogpo", "--env", "AdroitHandDoor-v1", "-n", "200", "-f", str(logs),
         "--eval-freq", "200", "--eval-episodes", "1", "--seed", "0", *NO_START], tmp_path)
    run_dir = _run_dir(logs, "AdroitHandDoor-v1")
    assert (run_dir / "AdroitHandDoor-v1.zip").is_file()
    evaluations = np.load(run_dir / "evaluations.npz")
    assert evaluations["successes"].shape == (1, 1)  # AdroitSuccessWrapper's is_success reaches the zoo
    monitor_header = (run_dir / "0.monitor.csv").read_text().splitlines()[1]
    assert monitor_header.split(",")[-1] == "success"

    config = dict(yaml.load((run_dir / "AdroitHandDoor-v1" / "config.yml").read_text(), Loader=yaml.UnsafeLoader))
    assert config["env_wrapper"] == "sb3_ogpo.envs.adroit.AdroitSuccessWrapper" and config["denoising_steps"] == 3


FAIL_FIRST = '''
import os
from stable_baselines3.common.callbacks import BaseCallback


class FailFirstTrial(BaseCallback):
    """Raise a RuntimeError (as torch does on NaNs in some ops) in the first trial only."""

    def _on_step(self) -> bool:
        marker = os.environ["OGPO_TEST_FAIL_MARKER"]
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("simulated numerical failure")
        return True
'''


def test_optimize_success_with_embedded_storage(zoo_hook: None, tmp_path: Path) -> None:
    """A 2-trial study on a journal file: the first trial fails and is pruned, the second completes with
    the success rate as its value, and `--trial-id 0` reloads the (pruned) trial's params."""
    optuna = pytest.importorskip("optuna")
    (tmp_path / "fail_first.py").write_text(FAIL_FIRST)
    storage = tmp_path / "optuna" / "study.log"
    env = {"PYTHONPATH": str(tmp_path), "OGPO_TEST_FAIL_MARKER": str(tmp_path / "failed_once")}
    run(
        ["-m", "rl_zoo3.train", "--algo", "ogpo", "--env", POINT_MASS, "-optimize", "--n-trials", "2", "-n", "300",
         "--n-evaluations", "1", "--eval-episodes", "3", "--storage", str(storage), "--study-name", "s",
         "--sampler", "random", "--pruner", "none", "--no-optim-plots", "-f", str(tmp_path / "logs"), "--seed", "0",
         *NO_START, "learning_starts:100", "callback:'fail_first.FailFirstTrial'"],
        tmp_path,
        env=env,
    )
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(storage)))
    trials = optuna.load_study(study_name="s", storage=journal).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert "RuntimeError: simulated numerical failure" in trials[0].user_attrs["error"]
    assert trials[1].user_attrs["metric"] == "success_rate" and 0.0 <= trials[1].value <= 1.0
    assert "mean_reward" in trials[1].user_attrs

    logs = tmp_path / "reload"
    result = run(
        ["-m", "rl_zoo3.train", "--algo", "ogpo", "--env", POINT_MASS, "--storage", str(storage), "--study-name", "s",
         "--trial-id", "0", "-n", "20", "--eval-freq", "-1", "-f", str(logs), *NO_START, "learning_starts:100"],
        tmp_path,
    )
    assert "Loading from Optuna study" in result.stdout
    config = dict(yaml.load((_run_dir(logs, POINT_MASS) / POINT_MASS / "config.yml").read_text(), Loader=yaml.UnsafeLoader))
    for key, value in trials[0].params.items():
        assert config[key] == pytest.approx(value) if isinstance(value, float) else config[key] == value
