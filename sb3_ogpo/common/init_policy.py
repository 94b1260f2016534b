"""Where an ``init_policy`` string points: a saved model's path, or ``"<scheme>:<name>"`` for a registered resolver.

The algorithm only knows model paths. The outer ring registers schemes (``sb3_ogpo`` registers ``"start"``, the
tasks' clipped BC starts from :mod:`sb3_ogpo.starts`), so the algorithm core never imports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Union

#: ``resolver(name, actor=..., verbose=...) -> path`` of a model zip, or ``"module:function"`` imported on first use.
Resolver = Callable[..., Any]
_RESOLVERS: dict[str, Union[str, Resolver]] = {}


def register_init_policy_scheme(scheme: str, resolver: Union[str, Resolver]) -> None:
    """Make ``init_policy="<scheme>:<name>"`` resolve through ``resolver`` (a callable or ``"module:function"``)."""
    _RESOLVERS[scheme] = resolver


def resolve_init_policy(init_policy: str, actor: Mapping[str, Any], verbose: int = 0) -> str:
    """The model path ``init_policy`` stands for. ``actor`` describes the model that will load it (``chunk_size``,
    ``denoising_steps``, ``actor_net_arch``), so that a resolver can provide a matching one."""
    scheme, separator, name = init_policy.partition(":")
    if not separator or scheme not in _RESOLVERS:
        return init_policy
    resolver = _RESOLVERS[scheme]
    if isinstance(resolver, str):
        module, function = resolver.split(":")
        resolver = getattr(importlib.import_module(module), function)
    return str(resolver(name, actor=dict(actor), verbose=verbose))
