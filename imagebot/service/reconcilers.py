"""What a reconciler says it applied: Flux and Argo CD notifications, read as plain values.

imagebot never talks to a cluster. Flux and Argo CD already report every reconciliation;
their webhooks tell imagebot which Git revision reached the cluster and whether it worked.
This module turns one such payload into a :class:`ReconcilerReport` (pure: no I/O); the
receivers in :mod:`imagebot.service.hooks` authenticate the request first.

**Flux** (notification-controller ``Provider`` of type ``generic`` or ``generic-hmac``,
an ``Alert`` with ``eventSources`` of kind ``Kustomization`` / ``HelmRelease``): its event
JSON, e.g. ::

    {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
     "severity": "info", "reason": "ReconciliationSucceeded",
     "message": "Reconciliation finished in 1.2s, next run in 10m0s",
     "metadata": {"revision": "main@sha1:4df4d0d8b5a7c3b1...", "token": "..."},
     "reportingController": "kustomize-controller", "timestamp": "2026-..."}

``severity: error`` is a failed reconciliation (``ReconciliationFailed``,
``HealthCheckFailed``, ``UpgradeFailed``, ...); ``info`` with a success reason
(``ReconciliationSucceeded``, ``InstallSucceeded``, ``UpgradeSucceeded``) means the revision
is applied; other events (``Progressing``, ``DependencyNotReady``, other kinds) are ignored.
The revision is read from ``metadata.originRevision`` (a HelmRelease's chart source) or
``metadata.revision``, also under the controller's prefixed key
(``kustomize.toolkit.fluxcd.io/revision``), in any of Flux's spellings: ``main@sha1:<sha>``,
``main/<sha>``, ``sha1:<sha>``, a bare sha, or a chart version ``1.2.3+<short sha>``.

**Argo CD** (notifications' ``webhook`` service with the template in the README): ::

    {"app": "guestbook", "revision": "<sha>", "sync": "Synced", "health": "Healthy",
     "phase": "Succeeded", "message": "successfully synced (all tasks run)"}

``phase`` ``Failed``/``Error`` or ``health`` ``Degraded``/``Missing`` is a failure; ``phase``
``Succeeded`` with ``sync`` ``Synced`` means applied; anything else (``Running``,
``OutOfSync``, ``Progressing``) is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from imagebot.safetext import printable

Outcome = Literal["applied", "failed"]

#: A commit id as reconcilers write it: full SHA-1/SHA-256 or an abbreviation (Helm's 12).
_SHA = re.compile(r"[0-9a-f]{7,64}")
_REVISION_TAIL = re.compile(r"(?:^|[@/:+])([0-9a-f]{7,64})$")

FLUX_KINDS = frozenset({"Kustomization", "HelmRelease"})
FLUX_SUCCESS = frozenset({"ReconciliationSucceeded", "InstallSucceeded", "UpgradeSucceeded"})
ARGO_FAILED_PHASES = frozenset({"Failed", "Error"})
ARGO_FAILED_HEALTH = frozenset({"Degraded", "Missing"})
#: Longest message kept from a reconciler (they can hold a whole kubectl error).
MAX_MESSAGE = 2000
_MAX_NAME = 253


class ReportError(ValueError):
    """The payload is not what the reconciler documents; the text names the field."""


@dataclass(frozen=True)
class ReconcilerReport:
    """One reconciler's word about one Git revision.

    ``source`` is ``flux`` or ``argocd``; ``object`` names what reconciled
    (``Kustomization flux-system/apps``, ``Application guestbook``); ``revision`` is a
    lowercase commit id (possibly abbreviated); ``outcome`` is ``applied`` or ``failed``;
    ``message`` is the reconciler's text (bounded, one line)."""

    receiver: str
    source: str
    object: str
    revision: str
    outcome: Outcome
    message: str
    reason: str = ""
    sent_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "object": self.object,
            "revision": self.revision,
            "outcome": self.outcome,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True)
class Ignored:
    """A valid payload that says nothing imagebot acts on, and why."""

    why: str


def commit_id(revision: str) -> str | None:
    """The commit id in a reconciler's revision text, lowercase; None when there is none.

    >>> commit_id("main@sha1:4DF4D0D8B5A7C3B1E2F00A11B22C33D44E55F667")
    '4df4d0d8b5a7c3b1e2f00a11b22c33d44e55f667'
    >>> commit_id("6.0.0+4df4d0d8b5a7")
    '4df4d0d8b5a7'
    >>> commit_id("6.0.0") is None
    True
    """
    text = revision.strip().lower()
    match = _REVISION_TAIL.search(text)
    if match is None:
        return None
    sha = match.group(1)
    # A bare "1234567" could be a chart version's digits: ask for a letter or the length
    # of a real id, or a separator Flux writes before a sha.
    if match.group(0) == sha and not (len(sha) >= 40 or re.search(r"[a-f]", sha)):
        return None
    return sha


def _line(text: str) -> str:
    """One line (whitespace runs collapsed), control characters escaped, bounded."""
    return printable(" ".join(text.split()), limit=MAX_MESSAGE)


def _string(obj: dict[str, Any], key: str, where: str, *, limit: int = _MAX_NAME) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportError(f"payload: {where}{key} must be a string")
    if len(value) > limit:
        raise ReportError(f"payload: {where}{key} is longer than {limit} characters")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportError(f"payload: {where} must be an object")
    return value


def flux_report(payload: Any, receiver: str) -> ReconcilerReport | Ignored:
    """A Flux notification-controller event; :class:`ReportError` for a malformed one."""
    body = _mapping(payload, "the body")
    if not body:
        raise ReportError("payload: expected a Flux event object")
    involved = _mapping(body.get("involvedObject"), "involvedObject")
    kind = _string(involved, "kind", "involvedObject.")
    name = _string(involved, "name", "involvedObject.")
    namespace = _string(involved, "namespace", "involvedObject.")
    if not kind or not name:
        raise ReportError("payload: involvedObject needs kind and name")
    severity = _string(body, "severity", "").lower()
    reason = _string(body, "reason", "")
    message = _string(body, "message", "", limit=64 * 1024)
    what = printable(f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}")
    if kind not in FLUX_KINDS:
        return Ignored(f"{what}: only Kustomization and HelmRelease events say what was applied")
    if severity == "error":
        outcome: Outcome = "failed"
    elif severity == "info" and reason in FLUX_SUCCESS:
        outcome = "applied"
    else:
        return Ignored(f"{what}: {severity or 'no severity'} event {reason[:60]!r}")
    metadata = _mapping(body.get("metadata"), "metadata")
    revision = None
    for key, value in sorted(metadata.items(), key=lambda item: _revision_rank(item[0])):
        if _revision_rank(key) > 1:
            break
        if not isinstance(value, str):
            raise ReportError(f"payload: metadata.{key} must be a string")
        revision = commit_id(value[:300])
        if revision is not None:
            break
    if revision is None:
        return Ignored(f"{what}: the event names no Git commit (metadata.revision)")
    return ReconcilerReport(
        receiver=receiver,
        source="flux",
        object=what,
        revision=revision,
        outcome=outcome,
        message=_line(message),
        reason=reason[:100],
    )


def _revision_rank(key: str) -> int:
    """originRevision (the Git source of a HelmRelease's chart) before revision; 2 = not a
    revision key. Flux prefixes keys with the controller's group until notification-controller
    strips it; both are read."""
    short = key.rpartition("/")[2]
    return {"originRevision": 0, "revision": 1}.get(short, 2)


def argocd_report(payload: Any, receiver: str) -> ReconcilerReport | Ignored:
    """The body of imagebot's Argo CD notification template (README)."""
    body = _mapping(payload, "the body")
    if not body:
        raise ReportError("payload: expected the imagebot template's object")
    app = _string(body, "app", "")
    if not app:
        raise ReportError('payload: missing "app"')
    namespace = _string(body, "namespace", "")
    what = printable(f"Application {namespace}/{app}" if namespace else f"Application {app}")
    revision_text = _string(body, "revision", "", limit=300)
    sync = _string(body, "sync", "")
    health = _string(body, "health", "")
    phase = _string(body, "phase", "")
    message = _string(body, "message", "", limit=64 * 1024)
    if phase in ARGO_FAILED_PHASES:
        outcome: Outcome = "failed"
        reason = f"sync {phase}"
    elif health in ARGO_FAILED_HEALTH:
        outcome = "failed"
        reason = f"health {health}"
        message = message or f"health is {health}"
    elif phase == "Succeeded" and sync == "Synced":
        outcome = "applied"
        reason = "synced" + (f", health {health}" if health else "")
    else:
        return Ignored(f"{what}: phase {phase or '-'}, sync {sync or '-'}, health {health or '-'}")
    revision = commit_id(revision_text) if revision_text else None
    if revision is None:
        return Ignored(f"{what}: the notification names no Git commit (revision)")
    return ReconcilerReport(
        receiver=receiver,
        source="argocd",
        object=what,
        revision=revision,
        outcome=outcome,
        message=_line(message),
        reason=reason,
    )
