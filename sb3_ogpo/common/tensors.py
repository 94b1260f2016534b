"""Moving observations (arrays or dicts of arrays) to torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th


def obs_to_device(observations: Any, device: th.device) -> Any:
    """Float32 tensors on ``device`` from an observation array or a dict of them."""
    if isinstance(observations, dict):
        return {k: th.as_tensor(np.asarray(v, dtype=np.float32), device=device) for k, v in observations.items()}
    return th.as_tensor(np.asarray(observations, dtype=np.float32), device=device)
