"""Deprecated: moved to :mod:`sb3_ogpo.common.demonstrations`; kept for one release."""

import warnings

from sb3_ogpo.common.demonstrations import (  # noqa: F401
    EPISODE_METADATA_KEYS,
    EPISODE_SEEDS,
    EPISODE_TERMINATED,
    FINAL_OBSERVATIONS,
    STATES,
    STEP_METADATA_KEYS,
    STEP_SUCCESSES,
    Demonstrations,
    ObsArray,
    map_observations,
    stack_observations,
)

warnings.warn("sb3_ogpo.common.demos moved to sb3_ogpo.common.demonstrations", DeprecationWarning, stacklevel=2)
