"""Service mode (``imagebot run``): scheduler, webhooks, metrics, health and notifications.

The scanning and the update cycle are injected as callables; see :mod:`.types` for their
contracts and :class:`.app.Service` for the assembly.
"""

from imagebot.service.app import Service
from imagebot.service.hooks import HookEvent
from imagebot.service.metrics import Metrics
from imagebot.service.types import (
    AppliedUpdate,
    BlockedWorkload,
    CycleOutcome,
    Failure,
    ScanOutcome,
    failure_kind,
)

__all__ = [
    "AppliedUpdate",
    "BlockedWorkload",
    "CycleOutcome",
    "Failure",
    "HookEvent",
    "Metrics",
    "ScanOutcome",
    "Service",
    "failure_kind",
]
