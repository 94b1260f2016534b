"""Clipped behaviour-cloning starts: the flow BC checkpoint every fine-tuning run of a task begins from.

The paper's protocol: every method starts from the same flow BC checkpoint, "clipped" to at most
50% success. BC on the task's demonstrations is evaluated periodically and stops at the first
evaluation whose success rate reaches the threshold (0.45); no demonstrations go into the online
replay buffer. BC uses learning rate 1e-3 (the paper's is 3e-4; see docs/benchmarks.md, "Clipped BC
starts"): the clipping fixes the end point by success rather than by step count.

``OGPO(..., init_policy="start:<env id>")`` calls :func:`resolve_start`, which returns the cached
start of the task or generates it: scripted-expert demonstrations, BC with periodic evaluation
(:func:`clip_bc`), a measurement of the start's success on >= 64 fresh episodes, then ``model.zip``
and ``start.json`` (measured success, BC steps, demo count, wall-clock, seed, version, a fingerprint of the
actor's weights) under
``<cache root>/starts/<env id>/seed<seed>/``. The cache root is ``$SB3_OGPO_CACHE`` or
``~/.cache/sb3_ogpo``. ``python -m sb3_ogpo.starts`` does the same from the command line (and can
start from a dataset instead of the scripted expert).

The start's actor (:class:`ActorSpec`: ``chunk_size``, ``denoising_steps``, ``actor_net_arch``) must
equal the fine-tuning model's: build the latter with ``**start_model_kwargs(env_id)``, or pass the model's
actor to ``resolve_start(env_id, actor=...)``, which then makes and caches a start of that shape in its
own variant directory (e.g. the paper's 4 x 512 actors).

Modules: :mod:`.config` (the configs and actors), :mod:`.cache` (files, lock), :mod:`.clip` (the
clipping), :mod:`.generate` (making and resolving starts), ``__main__`` (the command line).
"""

# evaluate_success is the evaluation every start uses; the clipping reads it from this package at each call,
# so replacing sb3_ogpo.starts.evaluate_success (as the tests do) replaces it everywhere. Likewise
# resolve_start calls sb3_ogpo.starts.generate_start and sb3_ogpo.starts.summary.
from sb3_ogpo.common.evaluation import EvalResult, evaluate_success
from sb3_ogpo.starts.cache import CACHE_ENV_VAR, INFO_FILE, LOCK_FILE, MODEL_FILE, cache_root, read_start_info, start_dir
from sb3_ogpo.starts.clip import BCClipper, ClipResult, clip_bc
from sb3_ogpo.starts.config import (
    DEFAULT_THRESHOLD,
    START_CONFIGS,
    ActorSpec,
    StartConfig,
    StartUnavailableError,
    actor_variant,
    clip_eval_seed,
    get_start_config,
    start_model_kwargs,
)
from sb3_ogpo.starts.generate import (
    actor_fingerprint,
    collect_start_demos,
    generate_start,
    make_start_env,
    resolve_start,
    summary,
)

__all__ = [
    "CACHE_ENV_VAR",
    "DEFAULT_THRESHOLD",
    "INFO_FILE",
    "LOCK_FILE",
    "MODEL_FILE",
    "START_CONFIGS",
    "ActorSpec",
    "BCClipper",
    "ClipResult",
    "EvalResult",
    "StartConfig",
    "StartUnavailableError",
    "actor_fingerprint",
    "actor_variant",
    "cache_root",
    "clip_bc",
    "clip_eval_seed",
    "collect_start_demos",
    "evaluate_success",
    "generate_start",
    "get_start_config",
    "make_start_env",
    "read_start_info",
    "resolve_start",
    "start_dir",
    "start_model_kwargs",
    "summary",
]
