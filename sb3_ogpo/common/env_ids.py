"""Env ids as users type them: a clear ``ValueError`` with the closest known ids for a typo."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import gymnasium as gym


def known_ids_hint(env_id: str, known: Iterable[str]) -> str:
    """``"Did you mean 'X'?"`` with the ids closest to ``env_id``, else ``"Known ids: [...]."``."""
    known = sorted(known)
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.6)
    return f"Did you mean {' or '.join(repr(c) for c in close)}?" if close else f"Known ids: {known}."


def check_registered_env_id(env_id: str) -> None:
    """Raise a ``ValueError`` naming the closest registered ids unless gymnasium knows ``env_id``
    (importing ``sb3_ogpo`` registers the project's ids)."""
    if env_id not in gym.registry:
        raise ValueError(f"{env_id!r} is not a registered gymnasium env id. {known_ids_hint(env_id, gym.registry.keys())}")
