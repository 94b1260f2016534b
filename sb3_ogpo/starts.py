"""Clipped behaviour-cloning starts: the flow BC checkpoint every fine-tuning run of a task begins from.

The paper's protocol: every method starts from the same flow BC checkpoint, "clipped" to at most
50% success. BC on the task's demonstrations is evaluated periodically and stops at the first
evaluation whose success rate reaches the threshold (0.45); no demonstrations go into the online
replay buffer. BC uses learning rate 1e-3 (the paper's is 3e-4; 1e-3 gets to the threshold in 3-4x
fewer steps on CPU, and the clipping fixes the end point by success rather than by step count).

``OGPO(..., init_policy="start:<env id>")`` calls :func:`resolve_start`, which returns the cached
start of the task or generates it: scripted-expert demonstrations, BC with periodic evaluation
(:func:`clip_bc`), a measurement of the start's success on >= 64 fresh episodes, then ``model.zip``
and ``start.json`` (measured success, BC steps, demo count, wall-clock, seed, version) under
``<cache root>/starts/<env id>/seed<seed>/``. The cache root is ``$SB3_OGPO_CACHE`` or
``~/.cache/sb3_ogpo``. ``python -m sb3_ogpo.pretrain`` does the same from the command line (and can
start from a dataset instead of the scripted expert).

The start's actor (``chunk_size``, ``denoising_steps``, ``policy_kwargs["actor_net_arch"]``) must
equal the fine-tuning model's: build the latter with ``**start_model_kwargs(env_id)``, or pass the model's
actor to ``resolve_start(env_id, actor=...)``, which then makes and caches a start of that shape in its
own variant directory (e.g. the paper's 4 x 512 actors).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import json
import os
import platform
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional

import numpy as np

from sb3_ogpo.common.env_ids import known_ids_hint
from sb3_ogpo.common.evaluation import EvalResult, evaluate_success

if TYPE_CHECKING:  # pragma: no cover
    import gymnasium as gym
    from stable_baselines3.common.vec_env import VecEnv

    from sb3_ogpo.common.demos import Demonstrations
    from sb3_ogpo.ogpo import OGPO

CACHE_ENV_VAR = "SB3_OGPO_CACHE"
MODEL_FILE = "model.zip"
INFO_FILE = "start.json"
LOCK_FILE = ".lock"
DEFAULT_THRESHOLD = 0.45
# Seed offsets (added to ``100_000 * seed``): demo episodes start at 0 (+ StartConfig.demo_seed), the
# clipping evaluations and the final measurement use their own env / noise seeds.
_SEED_STRIDE = 100_000
_CLIP_EVAL_SEED = 50_000
_FINAL_EVAL_SEED = 70_000


class StartUnavailableError(RuntimeError):
    """A task's start cannot be generated automatically (e.g. no scripted expert exists for it)."""


@dataclass(frozen=True)
class StartConfig:
    """How a task's clipped BC start is made.

    Actor (must match the fine-tuning model, see :meth:`model_kwargs`):

    :param policy: ``"MlpPolicy"`` (Box observations) or ``"MultiInputPolicy"`` (Dict observations).
    :param chunk_size: h, actions per chunk.
    :param denoising_steps: K, denoising steps of the flow.
    :param actor_net_arch: hidden widths of the velocity MLP.
    :param critic_net_arch: hidden widths of the critics (not trained here; recorded for the fine-tuning).
    :param gamma: discount of the fine-tuning (not used by BC; recorded so configs can be checked).

    Env (the one fine-tuning uses: ``sb3_ogpo.demos.make_demo_env(env_id, **env_kwargs)``):

    :param env_kwargs: keyword arguments of the env.
    :param env_wrapper: the wrapper RL Zoo applies (documentation; ``make_demo_env`` applies it already).
    :param seed_constructor: pass ``seed=`` to the env's constructor when generating (robosuite envs: their
        first, internal reset otherwise draws OS entropy, which leaves the simulator slightly different and
        makes demos and evaluations differ between runs with the same seed).

    Demonstrations (scripted expert, see :func:`sb3_ogpo.demos.collect_demonstrations`):

    :param demo_episodes: episodes to keep.
    :param demo_noise: expert noise scale.
    :param demo_seed: seed of the first demo episode (plus ``100_000 * seed``).
    :param successful_only: keep only successful expert episodes.

    BC and clipping:

    :param bc_learning_rate: AdamW learning rate of BC (paper 3e-4; 1e-3 here: on CPU it reaches the
        threshold in 3-4x fewer steps, e.g. PickPlaceCan ~5k steps instead of > 5k with no success).
    :param bc_batch_size: demonstrations per BC step.
    :param bc_ema_tau: evaluate, clip and keep the EMA of the BC iterates (Polyak rate per step) instead of
        the last iterate (see :meth:`OGPO.pretrain_bc`); None: the last iterate.
    :param eval_freq: evaluate every this many BC steps.
    :param eval_refine: when an evaluation reaches the threshold, also evaluate the snapshots taken every
        ``eval_freq // eval_refine`` steps since the previous one (see :func:`clip_bc`).
    :param max_gradient_steps: BC budget; the last policy is kept if the threshold is never reached.
    :param threshold: BC stops at the first evaluation whose success rate is >= this (None: no clipping,
        train ``max_gradient_steps``).
    :param clip_eval_episodes: episodes of each periodic evaluation (decided early once the outcome
        against the threshold is certain).
    :param eval_episodes: episodes of the final measurement of the start's success (>= 64).
    :param max_success: the paper clips starts to at most 50% success. The stop decision uses fewer (early
        decided) episodes than the final measurement, so a start can measure above this: then the policies
        evaluated just before the stop are measured in turn (latest first) and the first at or below it is
        kept (None: no cap).
    :param unavailable: why the start cannot be generated from a scripted expert (None: it can).
    :param notes: free text recorded in ``start.json``.
    """

    env_id: str
    policy: str = "MlpPolicy"
    chunk_size: int = 4
    denoising_steps: int = 10
    actor_net_arch: tuple[int, ...] = (256, 256, 256)
    critic_net_arch: tuple[int, ...] = (256, 256, 256)
    gamma: float = 0.99
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    env_wrapper: Optional[str] = None
    seed_constructor: bool = False
    demo_episodes: int = 50
    demo_noise: float = 0.1
    demo_seed: int = 0
    successful_only: bool = True
    bc_learning_rate: float = 1e-3
    bc_batch_size: int = 256
    bc_ema_tau: Optional[float] = None
    eval_freq: int = 250
    eval_refine: int = 1
    max_gradient_steps: int = 20_000
    threshold: Optional[float] = DEFAULT_THRESHOLD
    clip_eval_episodes: int = 20
    eval_episodes: int = 64
    max_success: Optional[float] = 0.5
    unavailable: Optional[str] = None
    notes: str = ""

    def model_kwargs(self) -> dict[str, Any]:
        """OGPO keyword arguments that define the actor (plus gamma): ``OGPO(policy, env, **these)``."""
        return {
            "chunk_size": self.chunk_size,
            "denoising_steps": self.denoising_steps,
            "gamma": self.gamma,
            "policy_kwargs": {
                "actor_net_arch": list(self.actor_net_arch),
                "critic_net_arch": list(self.critic_net_arch),
            },
        }

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["actor_net_arch"] = list(self.actor_net_arch)
        data["critic_net_arch"] = list(self.critic_net_arch)
        data["env_kwargs"] = dict(self.env_kwargs)
        return data


_ADROIT = dict(
    policy="MlpPolicy",
    chunk_size=4,
    denoising_steps=3,
    gamma=0.95,
    env_wrapper="sb3_ogpo.envs.adroit.AdroitSuccessWrapper",
    demo_episodes=50,
    demo_noise=0.1,
    eval_freq=250,
    max_gradient_steps=20_000,
    clip_eval_episodes=64,  # Adroit episodes are cheap (200 steps, ~1 ms each)
)
_ADROIT_EMA = dict(_ADROIT, bc_ema_tau=0.001, eval_freq=500)
# The paper's 4 x 512 actor: from the same demos it clones Pen 0.03 -> 0.27, Hammer 0.04 -> 0.14 and Relocate
# 0.05 -> 0.36 (3 x 256 is too small for these experts; docs/benchmarks.md, sessions 5-6).
_ADROIT_PAPER_ACTOR = dict(_ADROIT_EMA, actor_net_arch=(512, 512, 512, 512))
# Hammer and Relocate: 150 demos and fewer (costly) evaluations over a longer BC budget.
_ADROIT_PAPER_ACTOR_150 = dict(_ADROIT_PAPER_ACTOR, demo_episodes=150, eval_freq=1_000, max_gradient_steps=30_000)
_ROBOMIMIC = dict(
    policy="MultiInputPolicy",
    chunk_size=4,
    denoising_steps=10,
    gamma=0.99,
    seed_constructor=True,
    demo_episodes=50,
    demo_noise=0.1,
    eval_freq=1_000,
    eval_refine=4,
    max_gradient_steps=20_000,
    clip_eval_episodes=32,  # robosuite steps cost ~25 ms: a failed episode (400 steps) takes ~10 s
)

START_CONFIGS: dict[str, StartConfig] = {
    "PointMassMultimodal-v0": StartConfig(
        "PointMassMultimodal-v0",
        chunk_size=2,
        denoising_steps=5,
        actor_net_arch=(64, 64),
        critic_net_arch=(64, 64),
        demo_episodes=200,
        demo_noise=0.1,
        successful_only=False,  # the expert's mix of good and bad goals is the point of the task
        eval_freq=1_000,
        max_gradient_steps=5_000,
        clip_eval_episodes=64,
        notes="BC on the expert's mixture succeeds about 35% of the time (the expert's own rate), so the "
        "threshold is rarely reached and the last policy is kept.",
    ),
    "AdroitHandDoor-v1": StartConfig("AdroitHandDoor-v1", **_ADROIT),
    # The last BC iterate's success jumps between neighbouring steps (Hammer: 5/41 at step 9500, 29/64 at
    # 9750), so these starts clip the EMA of the iterates (benchmarks/bc_trajectory.py, docs/benchmarks.md).
    "AdroitHandHammer-v1": StartConfig("AdroitHandHammer-v1", **_ADROIT_PAPER_ACTOR_150),
    # Relocate: 50 demos / 20k BC steps peaked at 0.18 and ended at 0.00.
    "AdroitHandRelocate-v1": StartConfig("AdroitHandRelocate-v1", **_ADROIT_PAPER_ACTOR_150),
    "AdroitHandPen-v1": StartConfig("AdroitHandPen-v1", **_ADROIT_PAPER_ACTOR),
    # Lift is learnt within a few hundred BC steps: evaluate more often.
    "RobomimicLift-v0": StartConfig("RobomimicLift-v0", **{**_ROBOMIMIC, "eval_freq": 400}),
    "RobomimicPickPlaceCan-v0": StartConfig("RobomimicPickPlaceCan-v0", **_ROBOMIMIC),
    "RobomimicNutAssemblySquare-v0": StartConfig("RobomimicNutAssemblySquare-v0", **_ROBOMIMIC),
    "KitchenMicrowaveKettleLightSlider-v0": StartConfig(
        "KitchenMicrowaveKettleLightSlider-v0",
        # 50 demos / 20k BC steps never got past 0.14; 150 demos reach ~0.5 after ~35k steps.
        **{**_ROBOMIMIC, "seed_constructor": False, "demo_episodes": 150, "eval_freq": 2_500, "eval_refine": 5,
           "max_gradient_steps": 50_000},
        notes="The released scripts do not clip the kitchen start (clip_bc=false); it is clipped here like the others.",
    ),
}


def get_start_config(env_id: str) -> StartConfig:
    """The :class:`StartConfig` of ``env_id``; a ``ValueError`` naming the known ids otherwise."""
    try:
        return START_CONFIGS[env_id]
    except KeyError:
        raise ValueError(
            f"No clipped BC start is defined for env id {env_id!r}. {known_ids_hint(env_id, START_CONFIGS)} "
            "Add a StartConfig to sb3_ogpo.starts.START_CONFIGS, or pass init_policy=<path to a saved OGPO zip>."
        ) from None


ACTOR_KEYS = ("chunk_size", "denoising_steps", "actor_net_arch")


def _actor_of(config: StartConfig) -> dict[str, Any]:
    return {"chunk_size": config.chunk_size, "denoising_steps": config.denoising_steps,
            "actor_net_arch": list(config.actor_net_arch)}


def actor_variant(env_id: str, actor: Optional[Mapping[str, Any]] = None) -> tuple[StartConfig, Optional[str]]:
    """The config of ``env_id`` with the actor ``actor`` (keys among ``chunk_size``, ``denoising_steps``,
    ``actor_net_arch``), and the name of its cache variant: None when it is the task's own actor, else e.g.
    ``"h4-K10-a512x512x512x512"``. Lets a fine-tuning model with another actor (e.g. the paper's 4 x 512)
    get a start of its own shape."""
    config = get_start_config(env_id)
    if not actor:
        return config, None
    unknown = set(actor) - set(ACTOR_KEYS)
    if unknown:
        raise ValueError(f"actor may only set {ACTOR_KEYS}, got {sorted(unknown)}.")
    updates = {key: tuple(int(w) for w in value) if key == "actor_net_arch" else int(value) for key, value in actor.items()}
    variant = dataclasses.replace(config, **updates)
    if _actor_of(variant) == _actor_of(config):
        return config, None
    tag = f"h{variant.chunk_size}-K{variant.denoising_steps}-a{'x'.join(map(str, variant.actor_net_arch))}"
    return variant, tag


def start_model_kwargs(env_id: str) -> dict[str, Any]:
    """OGPO kwargs of ``env_id``'s start (``chunk_size``, ``denoising_steps``, ``gamma``, ``policy_kwargs``
    with ``actor_net_arch`` / ``critic_net_arch``): a fine-tuning model built with them can load the start."""
    return get_start_config(env_id).model_kwargs()


# ----- cache layout ---------------------------------------------------------------------------------
def cache_root() -> Path:
    """``$SB3_OGPO_CACHE`` if set, else ``~/.cache/sb3_ogpo``."""
    root = os.environ.get(CACHE_ENV_VAR)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "sb3_ogpo"


def start_dir(env_id: str, seed: int = 0, root: str | os.PathLike | None = None, variant: Optional[str] = None) -> Path:
    """``<root>/starts/<env_id>/seed<seed>/`` (``root`` defaults to :func:`cache_root`); a start with another
    actor than the task's (see :func:`actor_variant`) lives in ``<root>/starts/<env_id>/<variant>/seed<seed>/``."""
    base = (Path(root).expanduser() if root is not None else cache_root()) / "starts" / env_id
    return (base / variant if variant else base) / f"seed{int(seed)}"


def read_start_info(directory: str | os.PathLike) -> Optional[dict[str, Any]]:
    """The ``start.json`` of a start directory, or None when there is no complete start there."""
    directory = Path(directory)
    if not (directory / MODEL_FILE).is_file():
        return None
    try:
        return json.loads((directory / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None


def _cached(directory: Path, config: StartConfig, verbose: int = 0) -> bool:
    info = read_start_info(directory)
    if info is None:
        return False
    kwargs = info.get("model_kwargs") or {}
    cached_actor = {"chunk_size": kwargs.get("chunk_size"), "denoising_steps": kwargs.get("denoising_steps"),
                    "actor_net_arch": (kwargs.get("policy_kwargs") or {}).get("actor_net_arch")}
    if cached_actor != _actor_of(config) or info.get("policy", config.policy) != config.policy:
        warnings.warn(
            f"The cached start in {directory} has the actor {cached_actor} ({info.get('policy')}) but "
            f"{config.env_id} now uses {_actor_of(config)} ({config.policy}): generating it again."
        )
        return False
    return True


@contextlib.contextmanager
def _locked(path: Path, verbose: int = 0) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``path`` (created if needed), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"Waiting for another process that is generating the start in {path.parent} ...")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _file_mode() -> int:
    """0o666 less the process umask (mkstemp's files are 0o600, which would hide a shared cache)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_save_model(model: OGPO, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".zip")
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ----- clipping ---------------------------------------------------------------------------------------
@dataclass
class ClipResult:
    """Outcome of :func:`clip_bc`.

    :param steps: BC gradient steps of the kept policy.
    :param reached: whether an evaluation reached the threshold (BC stopped there).
    :param success: success rate of the last evaluation (None if none ran).
    :param history: one dict per evaluation: ``step``, ``success_rate``, ``episodes``, ``successes``,
        ``decided_early``, ``passed`` and ``refined`` (an evaluation of a snapshot, see ``refine``).
    """

    steps: int
    reached: bool
    success: Optional[float]
    threshold: Optional[float]
    max_steps: int
    eval_freq: int
    history: list[dict[str, Any]] = field(default_factory=list)
    time_s: float = 0.0
    evaluation: Optional[dict[str, Any]] = None  # the history entry of the kept policy
    # (step, actor weights) of the last policies that were evaluated below the threshold, oldest first
    earlier: list[tuple[int, dict[str, Any]]] = field(default_factory=list, repr=False)


def clip_bc(
    model: OGPO,
    demos: Demonstrations,
    eval_env: gym.Env | VecEnv,
    threshold: Optional[float] = DEFAULT_THRESHOLD,
    eval_freq: int = 500,
    max_steps: int = 20_000,
    eval_episodes: int = 20,
    *,
    refine: int = 1,
    keep_earlier: int = 4,
    learning_rate: float = 1e-3,
    batch_size: int = 256,
    ema_tau: Optional[float] = None,
    eval_seed: Optional[int] = 0,
    progress_bar: bool = False,
    verbose: int = 0,
) -> ClipResult:
    """Behaviour cloning of ``model`` on ``demos``, stopped at the first periodic evaluation whose
    success rate is >= ``threshold`` (the clipped start).

    Every ``eval_freq`` BC steps the policy is evaluated on ``eval_episodes`` episodes of ``eval_env``
    (:func:`evaluate_success`, re-seeded with ``eval_seed`` each time so evaluations are comparable). If
    ``max_steps`` pass without reaching the threshold the last policy is kept, ``reached`` is False and a
    warning says so. ``threshold=None`` trains ``max_steps`` steps without evaluating.

    :param refine: with ``refine > 1`` the actor is also snapshotted every ``eval_freq // refine`` steps;
        when an evaluation reaches the threshold, the snapshots since the previous evaluation are evaluated
        in order and BC stops at the first that reaches it (its weights are restored). This evaluates at
        ``eval_freq // refine`` granularity around the crossing at the cost of a few extra evaluations,
        which matters where success rises steeply between two evaluations.
    :param keep_earlier: keep the weights of the last this many policies evaluated below the threshold
        (``ClipResult.earlier``), for a caller that finds the kept one above a success cap.
    :param ema_tau: clip the EMA of the BC iterates instead of the last iterate (every evaluation and
        snapshot is of the average; see :meth:`OGPO.pretrain_bc`).
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be positive, got {max_steps}.")
    if threshold is not None and eval_freq < 1:
        raise ValueError(f"Clipping at a threshold needs eval_freq >= 1, got {eval_freq}.")
    if refine < 1 or (refine > 1 and eval_freq % refine):
        raise ValueError(f"refine must be a positive divisor of eval_freq ({eval_freq}), got {refine}.")
    history: list[dict[str, Any]] = []
    bc_loss = _bc_loss_probe(model, demos)
    snapshots: list[tuple[int, dict[str, Any]]] = []
    earlier: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=keep_earlier)
    reached_at: Optional[int] = None
    kept: dict[str, Any] = {}  # the evaluation of the kept policy

    def evaluate(current: OGPO, step: int, refined: bool) -> bool:
        result = evaluate_success(current, eval_env, eval_episodes, seed=eval_seed, threshold=threshold)
        passed = result.passed if result.passed is not None else result.success_rate >= threshold
        if not passed and keep_earlier:
            earlier.append((step, current.policy.actor_weights()))
        loss = bc_loss(current)
        history.append({"step": step, **dataclasses.asdict(result), "passed": passed, "refined": refined, "bc_loss": loss})
        if passed or not refined:
            kept.clear()
            kept.update(history[-1])
        if verbose:
            from tqdm.auto import tqdm

            early = f" (of {eval_episodes}, decided early)" if result.decided_early else ""
            tqdm.write(
                f"BC step {step}{' (snapshot)' if refined else ''}: success {result.successes}/{result.episodes} = "
                f"{result.success_rate:.2f}{early}, BC loss {loss:.4f}" + (f" >= {threshold}" if passed else "")
            )
        return passed

    def on_eval(current: OGPO, step: int) -> bool:
        nonlocal reached_at
        if step % eval_freq:  # a snapshot between two evaluations
            snapshots.append((step, current.policy.actor_weights()))
            return True
        if not evaluate(current, step, refined=False):
            snapshots.clear()
            return True
        reached_at = step
        if snapshots:
            latest = current.policy.actor_weights()
            for snap_step, state in snapshots:
                current.policy.actor.load_state_dict(state)
                if evaluate(current, snap_step, refined=True):
                    reached_at = snap_step
                    break
            else:
                current.policy.actor.load_state_dict(latest)
        if verbose:
            from tqdm.auto import tqdm

            tqdm.write(f"BC stops: the policy of step {reached_at} is the start.")
        return False

    start = time.perf_counter()
    steps = model.pretrain_bc(
        demos,
        gradient_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        eval_freq=(eval_freq // refine) if threshold is not None else 0,
        eval_callback=on_eval,
        progress_bar=progress_bar,
        ema_tau=ema_tau,
    )
    elapsed = time.perf_counter() - start
    reached = reached_at is not None
    if reached_at is not None:
        steps = reached_at
    if threshold is not None and not reached:
        last = f"{history[-1]['success_rate']:.2f} at step {history[-1]['step']}" if history else "never evaluated"
        best = max((entry["success_rate"] for entry in history), default=float("nan"))
        warnings.warn(
            f"BC did not reach success {threshold} within {max_steps} steps (last evaluation {last}, best "
            f"{best:.2f}); keeping the last policy as the start."
        )
    return ClipResult(
        steps=steps,
        reached=reached,
        success=kept.get("success_rate"),
        evaluation=dict(kept) if kept else None,
        threshold=threshold,
        max_steps=max_steps,
        eval_freq=eval_freq,
        history=history,
        time_s=elapsed,
        earlier=list(earlier),
    )


def _bc_loss_probe(model: OGPO, demos: Demonstrations, n: int = 1024, seed: int = 0) -> Callable[[OGPO], float]:
    """The flow-matching BC loss of a model on a fixed subset of ``demos`` with fixed noise (a diagnostic
    recorded with each evaluation: it tells under-fitting from compounding errors)."""
    import torch as th

    from sb3_ogpo.common.demos import map_observations
    from sb3_ogpo.common.tensors import obs_to_device
    from sb3_ogpo.ogpo.losses import chunk_targets

    rows = np.random.default_rng(seed).permutation(len(demos))[:n]
    actions = np.clip(model.policy.scale_action(demos.actions.astype(np.float32)), -1.0, 1.0)
    targets = th.as_tensor(chunk_targets(actions, demos.episode_starts, model.chunk_size)[rows], device=model.device)
    observations = obs_to_device(map_observations(demos.observations, lambda array: array[rows]), model.device)
    devices = [model.device] if model.device.type == "cuda" else []

    def probe(current: OGPO) -> float:
        with th.no_grad(), th.random.fork_rng(devices=devices):
            th.manual_seed(seed)
            return float(current.policy.flow_matching_loss(current.policy.features(observations), targets))

    return probe


# ----- generation -------------------------------------------------------------------------------------
def _check_expert(env_id: str, config: StartConfig) -> None:
    from sb3_ogpo.experts import EXPERTS

    hint = (
        f"build it from a dataset instead: `python -m sb3_ogpo.pretrain --env {env_id} --demos <Minari id, "
        "dataset directory or robomimic .hdf5>` (written into the cache, where init_policy='start:...' finds it)."
    )
    if config.unavailable:
        raise StartUnavailableError(f"Cannot generate the clipped BC start of {env_id}: {config.unavailable}; {hint}")
    if env_id not in EXPERTS:
        raise StartUnavailableError(f"Cannot generate the clipped BC start of {env_id}: no scripted expert; {hint}")
    import importlib

    module_name, class_name = EXPERTS[env_id].split(":")
    try:
        getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise StartUnavailableError(
            f"Cannot generate the clipped BC start of {env_id}: its scripted expert {EXPERTS[env_id]} is not "
            f"available ({error}); {hint}"
        ) from None


def make_start_env(config: StartConfig, seed: Optional[int] = None) -> gym.Env:
    """The env of ``config`` (the one demonstrations, BC evaluation and fine-tuning use); ``seed`` goes to
    the constructor when ``config.seed_constructor``."""
    from sb3_ogpo.demos import make_demo_env

    kwargs = dict(config.env_kwargs)
    if seed is not None and config.seed_constructor:
        kwargs["seed"] = int(seed)
    return make_demo_env(config.env_id, **kwargs)


def clip_eval_seed(seed: int = 0) -> int:
    """Seed of the clipping evaluations of a start generated with ``seed`` (env and flow noise)."""
    return _SEED_STRIDE * int(seed) + _CLIP_EVAL_SEED


def collect_start_demos(config: StartConfig, seed: int = 0, progress: bool = False) -> Demonstrations:
    """The scripted-expert demonstrations a start of ``config`` (and ``seed``) is cloned from."""
    from sb3_ogpo.demos import collect_demonstrations

    _check_expert(config.env_id, config)
    demo_seed = _SEED_STRIDE * int(seed) + config.demo_seed
    demo_env = make_start_env(config, seed=demo_seed)
    try:
        return collect_demonstrations(
            config.env_id,
            config.demo_episodes,
            noise_scale=config.demo_noise,
            seed=demo_seed,
            successful_only=config.successful_only,
            env=demo_env,
            progress=progress,
        )
    finally:
        demo_env.close()


def generate_start(
    env_id: str,
    out_dir: str | os.PathLike,
    seed: int = 0,
    *,
    demos: Optional[Demonstrations] = None,
    demos_source: Optional[str] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    device: str = "cpu",
    verbose: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Make the clipped BC start of ``env_id`` and write ``model.zip`` and ``start.json`` into ``out_dir``
    (atomically; no locking here, see :func:`resolve_start`).

    :param demos: demonstrations to clone (default: collect them with the task's scripted expert).
    :param demos_source: where ``demos`` came from (recorded in ``start.json``).
    :param overrides: replacements of :class:`StartConfig` fields (e.g. ``threshold``, ``eval_freq``,
        ``max_gradient_steps``, ``eval_episodes``, ``demo_episodes``).
    :return: the ``start.json`` content.
    """
    import torch as th
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv

    import sb3_ogpo
    from sb3_ogpo.ogpo import OGPO

    config = get_start_config(env_id)
    if overrides:
        overrides = dict(overrides)
        if "actor_net_arch" in overrides:
            overrides["actor_net_arch"] = tuple(int(width) for width in overrides["actor_net_arch"])
        config = dataclasses.replace(config, **overrides)
    if demos is None:
        _check_expert(env_id, config)
    if config.eval_episodes < 1:
        raise ValueError(f"eval_episodes must be positive, got {config.eval_episodes}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_seed = _SEED_STRIDE * int(seed)
    start = time.perf_counter()
    set_random_seed(int(seed))

    # 1. demonstrations
    if demos is None:
        if verbose:
            print(f"{env_id}: collecting {config.demo_episodes} expert episodes (noise {config.demo_noise}) ...")
        demos = collect_start_demos(config, seed, progress=progress)
        demos_source = "scripted expert"
    meta = demos.metadata
    expert_success = meta.get("success_rate")
    if expert_success is None and demos.episode_successes is not None and len(demos.episode_successes):
        expert_success = float(np.mean(demos.episode_successes))
    demos_info = {
        "source": demos_source or "given",
        "episodes": demos.n_episodes,
        "transitions": len(demos),
        "expert_success_rate": None if expert_success is None else float(expert_success),
        "attempts": meta.get("attempts"),
        "noise_scale": meta.get("noise_scale"),
        "successful_only": meta.get("successful_only"),
        "seed": meta.get("seed"),
        "collection_time_s": meta.get("collection_time_s"),
    }
    if verbose:
        rate = "n/a" if expert_success is None else f"{expert_success:.2f}"
        print(f"{env_id}: {demos.n_episodes} demo episodes, {len(demos)} transitions (expert success {rate})")

    # 2. BC with periodic evaluation, stopped at the threshold
    eval_env = DummyVecEnv([lambda: make_start_env(config, seed=clip_eval_seed(seed))])
    try:
        model = OGPO(
            config.policy,
            eval_env,
            buffer_size=max(64, config.chunk_size),
            learning_starts=0,
            n_critics=2,  # critics start fresh in fine-tuning: keep the file small
            seed=int(seed),
            device=device,
            **config.model_kwargs(),
        )
        clip = clip_bc(
            model,
            demos,
            eval_env,
            threshold=config.threshold,
            eval_freq=config.eval_freq,
            max_steps=config.max_gradient_steps,
            eval_episodes=config.clip_eval_episodes,
            refine=config.eval_refine,
            learning_rate=config.bc_learning_rate,
            batch_size=config.bc_batch_size,
            ema_tau=config.bc_ema_tau,
            eval_seed=clip_eval_seed(seed),
            progress_bar=progress,
            verbose=verbose,
        )
        # 3. the start's success on fresh episodes
        if verbose:
            print(f"{env_id}: measuring the start's success on {config.eval_episodes} episodes ...")
        eval_start = time.perf_counter()
        final = evaluate_success(model, eval_env, config.eval_episodes, seed=base_seed + _FINAL_EVAL_SEED)
        bc_steps, capped = clip.steps, []
        while config.max_success is not None and final.success_rate > config.max_success and clip.earlier:
            capped.append({"step": bc_steps, "success": final.success_rate})
            bc_steps, state = clip.earlier.pop()
            model.policy.load_actor_weights(state)
            if verbose:
                print(f"{env_id}: success {capped[-1]['success']:.2f} > {config.max_success}: measuring the policy "
                      f"of BC step {bc_steps} instead ...")
            final = evaluate_success(model, eval_env, config.eval_episodes, seed=base_seed + _FINAL_EVAL_SEED)
        if config.max_success is not None and final.success_rate > config.max_success:
            warnings.warn(f"The start of {env_id} measures {final.success_rate:.2f} > max_success "
                          f"{config.max_success} and no earlier policy is left to fall back on.")
        eval_time = time.perf_counter() - eval_start
    finally:
        eval_env.close()

    info = {
        "env_id": env_id,
        "seed": int(seed),
        "success": final.success_rate,
        "success_episodes": final.episodes,
        "successes": final.successes,
        "policy": config.policy,
        "model_kwargs": config.model_kwargs(),
        "demos": demos_info,
        "bc": {
            "steps": bc_steps,
            "stop_steps": clip.steps,
            "capped": capped,  # measured above max_success: an earlier policy was kept
            "max_success": config.max_success,
            "reached_threshold": clip.reached,
            "threshold": clip.threshold,
            "stop_success": clip.success,
            "stop_evaluation": clip.evaluation,
            "eval_refine": config.eval_refine,
            "clip_eval_episodes": config.clip_eval_episodes,
            "eval_freq": clip.eval_freq,
            "max_steps": clip.max_steps,
            "learning_rate": config.bc_learning_rate,
            "batch_size": config.bc_batch_size,
            "ema_tau": config.bc_ema_tau,
            "history": clip.history,
            "time_s": clip.time_s,
        },
        "eval_time_s": eval_time,
        "wall_clock_s": time.perf_counter() - start,
        "config": config.to_json(),
        "package_version": sb3_ogpo.__version__,
        "torch_version": th.__version__,
        "python_version": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # start.json last: a directory with both files is a complete start
    _atomic_save_model(model, out_dir / MODEL_FILE)
    _atomic_write_text(out_dir / INFO_FILE, json.dumps(info, indent=2, default=_json_default) + "\n")
    return info


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def resolve_start(
    env_id: str,
    seed: int = 0,
    verbose: int = 0,
    *,
    actor: Optional[Mapping[str, Any]] = None,
    root: str | os.PathLike | None = None,
    device: str = "cpu",
    progress: Optional[bool] = None,
    generate: Callable[..., dict[str, Any]] | None = None,
) -> Path:
    """The path of ``env_id``'s clipped BC start (``model.zip``), generated and cached on first use.

    The cache is ``<root>/starts/<env_id>/seed<seed>/`` (root: ``$SB3_OGPO_CACHE`` or ``~/.cache/sb3_ogpo``).
    A cached start whose actor (``chunk_size``, ``denoising_steps``, ``actor_net_arch``, policy class) differs
    from the config's is generated again. Generation holds an exclusive file lock, so concurrent callers (e.g.
    Optuna workers) generate it once and the others wait and then read it.

    :param actor: the fine-tuning model's actor (``chunk_size``, ``denoising_steps``, ``actor_net_arch``); if it
        differs from the task's, a start of that shape is made and cached separately (:func:`actor_variant`).
    :param generate: the generator (default :func:`generate_start`), e.g. for tests.
    """
    config, variant = actor_variant(env_id, actor)
    overrides = {key: getattr(config, key) for key in ACTOR_KEYS} if variant else None
    directory = start_dir(env_id, seed, root, variant)
    path = directory / MODEL_FILE
    if _cached(directory, config):
        return path
    if generate is None:
        _check_expert(env_id, config)  # fail before locking / waiting
    with _locked(directory / LOCK_FILE, verbose=verbose):
        if _cached(directory, config):  # made by another process while we waited
            return path
        if verbose:
            print(f"No cached start for {env_id} (seed {seed}) in {directory}: generating it (this takes a while).")
        info = (generate or generate_start)(
            env_id, directory, seed, overrides=overrides, device=device, verbose=verbose,
            progress=bool(verbose) if progress is None else progress,
        )
        if verbose:
            print(summary(info, path))
    return path


def summary(info: Mapping[str, Any], path: str | os.PathLike | None = None) -> str:
    """A short human-readable summary of a ``start.json``."""
    demos, bc = info["demos"], info["bc"]
    expert = demos.get("expert_success_rate")
    expert = "n/a" if expert is None else f"{expert:.2f}"
    if bc.get("threshold") is None:
        stop = "no clipping"
    elif bc.get("reached_threshold"):
        evaluation = bc.get("stop_evaluation") or {}
        stop = (
            f"stopped at the first evaluation >= {bc['threshold']}: {evaluation.get('successes')}/"
            f"{evaluation.get('episodes')} successes"
            + (f" (of {bc['clip_eval_episodes']}, decided early)" if evaluation.get("decided_early") else "")
        )
    else:
        stop = f"threshold {bc['threshold']} NOT reached, kept the last policy"
    lines = [
        f"start {info['env_id']} (seed {info['seed']}):",
        f"  demos: {demos['episodes']} episodes, {demos['transitions']} transitions from {demos['source']} "
        f"(expert success {expert})",
        f"  BC: {bc['steps']} steps (lr {bc['learning_rate']}, batch {bc['batch_size']}"
        + (f", EMA of the iterates, rate {bc['ema_tau']}" if bc.get("ema_tau") else "") + f"), {stop}",
        f"  start success: {info['success']:.3f} ({info['successes']}/{info['success_episodes']} episodes, "
        "deterministic ODE)",
        f"  wall-clock: {info['wall_clock_s']:.0f} s (BC + clipping evaluations {bc['time_s']:.0f} s, "
        f"final evaluation {info['eval_time_s']:.0f} s)",
    ]
    if path is not None:
        lines.append(f"  saved: {path}")
    return "\n".join(lines)


__all__ = [
    "CACHE_ENV_VAR",
    "START_CONFIGS",
    "ClipResult",
    "EvalResult",
    "StartConfig",
    "StartUnavailableError",
    "actor_variant",
    "cache_root",
    "clip_bc",
    "clip_eval_seed",
    "collect_start_demos",
    "evaluate_success",
    "generate_start",
    "get_start_config",
    "read_start_info",
    "resolve_start",
    "start_dir",
    "start_model_kwargs",
    "summary",
]
