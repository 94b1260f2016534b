"""Scripted experts that produce demonstrations from privileged simulator state.

Every expert follows :class:`ScriptedExpert`; :func:`make_expert` builds the one registered for an
env id. Modules are imported lazily so that importing this package stays cheap.
"""

from __future__ import annotations

from sb3_ogpo.experts.base import ScriptedExpert, make_expert, rollout_expert
from sb3_ogpo.tasks import TASKS

# env id -> "module:ClassName" of its scripted expert (from the task records).
EXPERTS: dict[str, str] = {env_id: task.expert for env_id, task in TASKS.items() if task.expert is not None}

__all__ = ["EXPERTS", "ScriptedExpert", "make_expert", "rollout_expert"]
