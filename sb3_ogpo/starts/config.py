"""The start configs: how each task's clipped BC start is made, and the identity of its actor."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Optional

from sb3_ogpo.common.env_ids import known_ids_hint

DEFAULT_THRESHOLD = 0.45
# Seeds of a start generated with ``seed``: ``SEED_STRIDE * seed`` plus an offset per use (the demo episodes
# add StartConfig.demo_seed; the clipping evaluations and the final measurement have their own offsets).
SEED_STRIDE = 100_000
CLIP_EVAL_SEED_OFFSET = 50_000
FINAL_EVAL_SEED_OFFSET = 70_000


class StartUnavailableError(RuntimeError):
    """A task's start cannot be generated automatically (e.g. no scripted expert exists for it)."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _widths(name: str, value: Any) -> tuple[int, ...]:
    """``value`` (a sequence of positive integers, at least one) as a tuple."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}.")
    widths = tuple(_positive_int(f"{name} width", width) for width in value)
    if not widths:
        raise ValueError(f"{name} needs at least one hidden layer, got {value!r}.")
    return widths


def _rate(name: str, value: Any, low_open: bool = False, optional: bool = False) -> None:
    """Check that ``value`` lies in [0, 1] ((0, 1] with ``low_open``), or is None when ``optional``."""
    if value is None and optional:
        return
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not number or not (0 < value <= 1 if low_open else 0 <= value <= 1):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}{' or be None' if optional else ''}, got {value!r}.")


@dataclass(frozen=True)
class ActorSpec:
    """What a start and the fine-tuning model that loads it must agree on.

    :param chunk_size: h, actions per chunk.
    :param denoising_steps: K, denoising steps of the flow.
    :param actor_net_arch: hidden widths of the velocity MLP.
    """

    chunk_size: int
    denoising_steps: int
    actor_net_arch: tuple[int, ...]

    KEYS: ClassVar[tuple[str, ...]] = ("chunk_size", "denoising_steps", "actor_net_arch")

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunk_size", _positive_int("chunk_size", self.chunk_size))
        object.__setattr__(self, "denoising_steps", _positive_int("denoising_steps", self.denoising_steps))
        object.__setattr__(self, "actor_net_arch", _widths("actor_net_arch", self.actor_net_arch))

    @classmethod
    def of_config(cls, config: StartConfig) -> ActorSpec:
        return cls(config.chunk_size, config.denoising_steps, config.actor_net_arch)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], default: Optional[ActorSpec] = None) -> ActorSpec:
        """From a mapping with keys among :attr:`KEYS` (e.g. ``resolve_start(actor=...)``); keys it lacks
        come from ``default``."""
        unknown = set(mapping) - set(cls.KEYS)
        if unknown:
            raise ValueError(f"actor may only set {cls.KEYS}, got {sorted(unknown)}.")
        values = {**(default.as_dict() if default is not None else {}), **mapping}
        if len(values) < len(cls.KEYS):
            raise ValueError(f"actor needs {cls.KEYS} (no default to take the missing ones from), got {sorted(values)}.")
        return cls(**values)

    @classmethod
    def from_model_kwargs(cls, kwargs: Mapping[str, Any]) -> Optional[ActorSpec]:
        """From OGPO keyword arguments as :meth:`model_kwargs` writes them (e.g. a ``start.json``'s); None if
        they do not define a valid actor."""
        try:
            actor_net_arch = (kwargs.get("policy_kwargs") or {})["actor_net_arch"]
            return cls(kwargs["chunk_size"], kwargs["denoising_steps"], actor_net_arch)
        except (KeyError, TypeError, ValueError):
            return None

    def as_dict(self) -> dict[str, Any]:
        """``chunk_size``, ``denoising_steps`` and ``actor_net_arch`` (a tuple), e.g. as StartConfig fields."""
        return {key: getattr(self, key) for key in self.KEYS}

    def model_kwargs(self) -> dict[str, Any]:
        """The OGPO keyword arguments that define this actor."""
        return {"chunk_size": self.chunk_size, "denoising_steps": self.denoising_steps,
                "policy_kwargs": {"actor_net_arch": list(self.actor_net_arch)}}

    @property
    def tag(self) -> str:
        """Short name, e.g. ``"h4-K10-a512x512x512x512"`` (the cache variant of a start with this actor)."""
        return f"h{self.chunk_size}-K{self.denoising_steps}-a{'x'.join(map(str, self.actor_net_arch))}"


@dataclass(frozen=True)
class StartConfig:
    """How a task's clipped BC start is made.

    Actor (must match the fine-tuning model, see :meth:`model_kwargs` and :class:`ActorSpec`):

    :param policy: ``"MlpPolicy"`` (Box observations) or ``"MultiInputPolicy"`` (Dict observations).
    :param chunk_size: h, actions per chunk.
    :param denoising_steps: K, denoising steps of the flow.
    :param actor_net_arch: hidden widths of the velocity MLP.
    :param critic_net_arch: hidden widths of the critics (not trained here; recorded for the fine-tuning).
    :param gamma: discount of the fine-tuning (not used by BC; recorded so configs can be checked).

    Env (the one fine-tuning uses: ``sb3_ogpo.tasks.make_task_env(env_id, **env_kwargs)``):

    :param env_kwargs: keyword arguments of the env.
    :param env_wrapper: the wrapper RL Zoo applies (documentation; ``make_demo_env`` applies it already).
    :param seed_constructor: pass ``seed=`` to the env's constructor when generating (robosuite envs: their
        first, internal reset otherwise draws OS entropy, which leaves the simulator slightly different and
        makes demos and evaluations differ between runs with the same seed).

    Demonstrations (scripted expert, see :func:`sb3_ogpo.experts.collect.collect_demonstrations`):

    :param demo_episodes: episodes to keep.
    :param demo_noise: expert noise scale.
    :param demo_seed: seed of the first demo episode (plus ``SEED_STRIDE * seed``).
    :param successful_only: keep only successful expert episodes.

    BC and clipping:

    :param bc_learning_rate: AdamW learning rate of BC (paper 3e-4; 1e-3 here, see docs/benchmarks.md).
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

    def __post_init__(self) -> None:
        try:
            self._validate()
        except ValueError as error:
            raise ValueError(f"StartConfig({self.env_id!r}): {error}") from None

    def _validate(self) -> None:
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ValueError(f"env_id must be a non-empty string, got {self.env_id!r}.")
        if not isinstance(self.policy, str) or not self.policy:
            raise ValueError(f"policy must be a policy class name such as 'MlpPolicy', got {self.policy!r}.")
        for key, value in ActorSpec.of_config(self).as_dict().items():  # checked and normalized
            object.__setattr__(self, key, value)
        object.__setattr__(self, "critic_net_arch", _widths("critic_net_arch", self.critic_net_arch))
        for name in ("demo_episodes", "bc_batch_size", "eval_freq", "eval_refine", "max_gradient_steps",
                     "clip_eval_episodes", "eval_episodes"):
            _positive_int(name, getattr(self, name))
        _rate("gamma", self.gamma)
        _rate("threshold", self.threshold, optional=True)
        _rate("max_success", self.max_success, optional=True)
        _rate("bc_ema_tau", self.bc_ema_tau, low_open=True, optional=True)
        if not self.bc_learning_rate > 0:
            raise ValueError(f"bc_learning_rate must be positive, got {self.bc_learning_rate!r}.")
        if not self.demo_noise >= 0:
            raise ValueError(f"demo_noise must be >= 0, got {self.demo_noise!r}.")

    def model_kwargs(self) -> dict[str, Any]:
        """OGPO keyword arguments that define the actor (plus gamma and the critics' widths):
        ``OGPO(policy, env, **these)``."""
        kwargs = ActorSpec.of_config(self).model_kwargs()
        kwargs["policy_kwargs"]["critic_net_arch"] = list(self.critic_net_arch)
        return {**kwargs, "gamma": self.gamma}

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
# The paper's 4 x 512 actor: 3 x 256 is too small to clone these experts (docs/benchmarks.md, sessions 5-6).
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
    # The last BC iterate's success jumps between neighbouring steps, so these starts clip the EMA of the
    # iterates (benchmarks/bc_trajectory.py, docs/benchmarks.md).
    "AdroitHandHammer-v1": StartConfig("AdroitHandHammer-v1", **_ADROIT_PAPER_ACTOR_150),
    "AdroitHandRelocate-v1": StartConfig("AdroitHandRelocate-v1", **_ADROIT_PAPER_ACTOR_150),
    "AdroitHandPen-v1": StartConfig("AdroitHandPen-v1", **_ADROIT_PAPER_ACTOR),
    # Lift is learnt within a few hundred BC steps: evaluate more often.
    "RobomimicLift-v0": StartConfig("RobomimicLift-v0", **{**_ROBOMIMIC, "eval_freq": 400}),
    "RobomimicPickPlaceCan-v0": StartConfig("RobomimicPickPlaceCan-v0", **_ROBOMIMIC),
    "RobomimicNutAssemblySquare-v0": StartConfig("RobomimicNutAssemblySquare-v0", **_ROBOMIMIC),
    "KitchenMicrowaveKettleLightSlider-v0": StartConfig(
        "KitchenMicrowaveKettleLightSlider-v0",
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


def actor_variant(env_id: str, actor: Optional[Mapping[str, Any]] = None) -> tuple[StartConfig, Optional[str]]:
    """The config of ``env_id`` with the actor ``actor`` (keys among :attr:`ActorSpec.KEYS`), and the name of
    its cache variant: None when it is the task's own actor, else its :attr:`ActorSpec.tag`. Lets a
    fine-tuning model with another actor (e.g. the paper's 4 x 512) get a start of its own shape."""
    config = get_start_config(env_id)
    if not actor:
        return config, None
    own = ActorSpec.of_config(config)
    wanted = ActorSpec.from_mapping(actor, default=own)
    if wanted == own:
        return config, None
    return dataclasses.replace(config, **wanted.as_dict()), wanted.tag


def start_model_kwargs(env_id: str) -> dict[str, Any]:
    """OGPO kwargs of ``env_id``'s start (``chunk_size``, ``denoising_steps``, ``gamma``, ``policy_kwargs``
    with ``actor_net_arch`` / ``critic_net_arch``): a fine-tuning model built with them can load the start."""
    return get_start_config(env_id).model_kwargs()


def first_demo_seed(config: StartConfig, seed: int = 0) -> int:
    """Seed of the first demo episode of a start of ``config`` generated with ``seed``."""
    return SEED_STRIDE * int(seed) + config.demo_seed


def clip_eval_seed(seed: int = 0) -> int:
    """Seed of the clipping evaluations of a start generated with ``seed`` (env and flow noise)."""
    return SEED_STRIDE * int(seed) + CLIP_EVAL_SEED_OFFSET


def final_eval_seed(seed: int = 0) -> int:
    """Seed of the final measurement of a start generated with ``seed``."""
    return SEED_STRIDE * int(seed) + FINAL_EVAL_SEED_OFFSET
