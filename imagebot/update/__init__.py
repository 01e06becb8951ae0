"""The update cycle: discovered sites + registry tags -> decisions -> rewritten files -> Git.

``UpdateCycle(config, runner, store=store).run(repo)`` does one cycle for one repository;
``resolve()`` is the registry-facing half, usable alone (``list-images --latest``,
``explain``).
"""

from imagebot.update.changes import ChangeSet, build_changes
from imagebot.update.cycle import Cancelled, CycleReport, UpdateCycle, repository_for_target
from imagebot.update.resolve import Problem, Resolution, Resolved, resolve
from imagebot.update.runner import Runner

__all__ = [
    "Cancelled",
    "ChangeSet",
    "CycleReport",
    "Problem",
    "Resolution",
    "Resolved",
    "Runner",
    "UpdateCycle",
    "build_changes",
    "repository_for_target",
    "resolve",
]
