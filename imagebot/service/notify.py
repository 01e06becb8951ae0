"""Notifications: tell people what the bot changed, and what keeps failing.

Per repository (``repositories[].notify``), to Slack-compatible incoming webhooks (``text``
plus Block Kit ``blocks``; Mattermost and Rocket.Chat accept the same) or to a generic JSON
webhook.

When to notify
--------------
* ``update``: after every cycle that applied updates (one message listing them all).
* ``failure``: a failure (same kind and subject) that happened in ``service.failure_cycles``
  consecutive cycles (default 2) is notified once. A failure that comes and goes does not page
  anyone; one that persists is reported once, not every cycle.
* ``recovered``: sent to the ``failure`` subscribers when a notified failure no longer
  happens, so an alert is always closed by a message.
* ``rolled-back`` (to ``update`` subscribers): a cycle found containers people set back from
  the tag imagebot wrote, and locked them rather than update them again.
* ``diverged`` / ``converged`` (to ``failure`` subscribers): a change on the branch was not
  applied by any reconciler within ``divergence_after``; once when it starts, once when every
  such change is applied (across restarts: the service keeps which workloads were diverged).
* ``reconcile-failed`` (to ``failure`` subscribers): a reconciler (Flux, Argo CD) failed to
  apply, or found unhealthy, a revision containing imagebot's changes; names each workload,
  old and new tag, the reconciler's message and the command that rolls it back. Once per
  change and revision.

A cycle abandoned at shutdown changes nothing here. Delivery failures are logged and counted
(``imagebot_notifications_total{result="failed"}``) and never fail the cycle. Webhook URLs
often are the secret (Slack's are), so they are registered with the log redactor and logs
only ever name the target's host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from imagebot.config import NotifyConfig, RepositoryConfig
from imagebot.errors import ConfigError
from imagebot.service.logs import REDACTOR
from imagebot.service.metrics import Metrics
from imagebot.service.types import (
    AppliedUpdate,
    CycleOutcome,
    Divergence,
    Failure,
    PersonRollback,
    Reconciled,
)

log = logging.getLogger(__name__)

EventKind = Literal[
    "update", "failure", "recovered", "reconcile-failed", "rolled-back", "diverged", "converged"
]
SLACK_SECTION_LIMIT = 3000
SLACK_MAX_SECTIONS = 40


@dataclass(frozen=True)
class Notification:
    """One message about one repository."""

    event: EventKind
    repository: str
    updates: tuple[AppliedUpdate, ...] = ()
    failures: tuple[Failure, ...] = ()
    cycles: int = 0
    commit: str | None = None
    pull_request: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: reconcile-failed: who reported (``Kustomization flux-system/apps``), on which
    #: revision, what it said, and the commands that roll the updates back.
    reconciler: str | None = None
    revision: str | None = None
    message: str | None = None
    rollbacks: tuple[str, ...] = ()
    #: rolled-back: the containers people set back, now locked rather than updated.
    rolled_back: tuple[PersonRollback, ...] = ()
    #: diverged: the workloads whose changes no reconciler applied in time, and since when
    #: (the oldest change's landing); converged: those that were diverged.
    workloads: tuple[str, ...] = ()
    since: float | None = None
    after: float | None = None

    @property
    def subscription(self) -> Literal["update", "failure"]:
        """Which ``on:`` value receives this message."""
        return "update" if self.event in ("update", "rolled-back") else "failure"


class FailureTracker:
    """Counts consecutive cycles per failure (kind, subject) and decides when to tell."""

    def __init__(self, threshold: int = 2) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self._streak: dict[tuple[str, str], int] = {}
        self._notified: dict[tuple[str, str], Failure] = {}

    def observe(self, outcome: CycleOutcome) -> tuple[list[Failure], list[Failure]]:
        """(failures to notify now, notified failures that cleared) after *outcome*."""
        if not outcome.completed:
            return [], []
        current: dict[tuple[str, str], Failure] = {}
        for failure in outcome.failures:
            current.setdefault(failure.key, failure)
        self._streak = {key: self._streak.get(key, 0) + 1 for key in current}
        persistent = [
            failure
            for key, failure in current.items()
            if self._streak[key] >= self.threshold and key not in self._notified
        ]
        for failure in persistent:
            self._notified[failure.key] = failure
        recovered = [f for key, f in self._notified.items() if key not in current]
        for failure in recovered:
            del self._notified[failure.key]
        return persistent, recovered


@dataclass(frozen=True)
class Target:
    """Where to send: a resolved URL, never printed."""

    type: Literal["slack", "webhook"]
    url: str = field(repr=False)
    on: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.type} webhook at {urlsplit(self.url).hostname or '?'}"

    @classmethod
    def from_config(cls, config: NotifyConfig, *, key: str, file: str | None = None) -> Target:
        if bool(config.url) == bool(config.url_file):
            raise ConfigError("give exactly one of url and url_file", file=file, key=key)
        if config.url:
            url = config.url.strip()
        else:
            assert config.url_file is not None
            try:
                url = Path(config.url_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read url_file {config.url_file}: {exc.strerror}",
                    file=file,
                    key=f"{key}.url_file",
                ) from None
        REDACTOR.register(url, urlsplit(url).path if len(urlsplit(url).path) > 8 else None)
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ConfigError("expected an http:// or https:// URL", file=file, key=key)
        return cls(config.type, url, frozenset(config.on))


# --- rendering -----------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(note: Notification) -> str:
    """The one-line plain text of a notification."""
    if note.event == "update":
        text = f"imagebot updated {_plural(len(note.updates), 'image')} in {note.repository}"
        if note.pull_request:
            text += f" (pull request {note.pull_request})"
        elif note.commit:
            text += f" (commit {note.commit[:12]})"
        return text
    if note.event == "failure":
        return (
            f"imagebot: {_plural(len(note.failures), 'failure')} in {note.repository} "
            f"for {note.cycles} consecutive cycles"
        )
    if note.event == "diverged":
        minutes = round((note.after or 0) / 60)
        return (
            f"imagebot: {note.repository} diverged: {_plural(len(note.workloads), 'workload')} "
            f"changed in Git not applied by any reconciler within {minutes}m"
        )
    if note.event == "converged":
        return f"imagebot: {note.repository} no longer diverged: the cluster caught up with Git"
    if note.event == "rolled-back":
        people = sorted({r.author for r in note.rolled_back})
        return (
            f"imagebot: {_plural(len(note.rolled_back), 'container')} in {note.repository} "
            f"rolled back by {', '.join(people)}: not updated again"
        )
    if note.event == "reconcile-failed":
        return (
            f"imagebot: {note.reconciler} failed on {(note.revision or '?')[:12]}, which "
            f"holds {_plural(len(note.updates), 'image update')} in {note.repository}"
        )
    return f"imagebot: {_plural(len(note.failures), 'failure')} in {note.repository} cleared"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _update_line(update: AppliedUpdate) -> str:
    e = _slack_escape
    return (
        f"• {e(update.workload)} › {e(update.container)}: `{e(update.image)}` "
        f"`{e(update.old_tag)}` → `{e(update.new_tag)}`"
    )


def _rollback_line(item: PersonRollback) -> str:
    e = _slack_escape
    state = "locked" if item.locked else "not locked (no annotations): left as it is"
    return (
        f"• {e(item.workload)} › {e(item.container)}: `{e(item.image)}` "
        f"`{e(item.written)}` → `{e(item.current)}`, {e(item.message)} ({state})"
    )


def _failure_line(failure: Failure) -> str:
    e = _slack_escape
    message = failure.message if len(failure.message) <= 500 else failure.message[:500] + "…"
    return f"• *{e(failure.kind)}* `{e(failure.subject)}`: {e(message)}"


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    """Pack lines into mrkdwn sections within Slack's per-section and per-message limits."""
    sections: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        line = line[: SLACK_SECTION_LIMIT - 1]
        if current and len(current) + 1 + len(line) > SLACK_SECTION_LIMIT:
            sections.append(current)
            current = ""
            if len(sections) == SLACK_MAX_SECTIONS:
                current = f"…and {len(lines) - index} more"
                break
        current = f"{current}\n{line}" if current else line
    if current:
        sections.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]


def render_slack(note: Notification) -> dict[str, Any]:
    """Slack incoming-webhook payload: ``text`` (fallback and notifications) + ``blocks``."""
    icon = {
        "diverged": ":hourglass:",
        "converged": ":white_check_mark:",
        "rolled-back": ":rewind:",
        "update": ":arrow_up:",
        "failure": ":warning:",
        "recovered": ":white_check_mark:",
        "reconcile-failed": ":rotating_light:",
    }
    head = f"{icon[note.event]} {_slack_escape(summary(note))}"
    if note.event == "update":
        lines = [_update_line(u) for u in note.updates]
    elif note.event in ("diverged", "converged"):
        lines = [f"• {_slack_escape(workload)}" for workload in note.workloads]
    elif note.event == "rolled-back":
        lines = [_rollback_line(r) for r in note.rolled_back]
    elif note.event == "reconcile-failed":
        lines = [_update_line(u) for u in note.updates]
        if note.message:
            message = note.message if len(note.message) <= 500 else note.message[:500] + "…"
            lines.append(f"> {_slack_escape(message)}")
        lines += [f"roll back: `{_slack_escape(command)}`" for command in note.rollbacks]
    else:
        lines = [_failure_line(f) for f in note.failures]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    blocks += _sections(lines)
    context = []
    if note.commit:
        context.append(f"commit `{_slack_escape(note.commit[:12])}`")
    if note.pull_request:
        context.append(f"<{_slack_escape(note.pull_request)}|pull request>")
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
        )
    return {"text": summary(note), "blocks": blocks}


def render_webhook(note: Notification) -> dict[str, Any]:
    """Generic JSON: the notification's facts, stable field names."""
    data: dict[str, Any] = {
        "event": note.event,
        "repository": note.repository,
        "time": note.time.isoformat(),
        "summary": summary(note),
    }
    if note.event == "update":
        data["updates"] = [_update_data(u) for u in note.updates]
        data["commit"] = note.commit
        data["pull_request"] = note.pull_request
    elif note.event in ("diverged", "converged"):
        data["workloads"] = list(note.workloads)
        if note.since is not None:
            data["since"] = datetime.fromtimestamp(note.since, UTC).isoformat()
        data["divergence_after"] = note.after
    elif note.event == "rolled-back":
        data["rolled_back"] = [
            {
                "workload": r.workload,
                "container": r.container,
                "image": r.image,
                "written": r.written,
                "current": r.current,
                "commit": r.commit,
                "author": r.author,
                "message": r.message,
                "locked": r.locked,
            }
            for r in note.rolled_back
        ]
        data["commit"] = note.commit
        data["pull_request"] = note.pull_request
    elif note.event == "reconcile-failed":
        data["updates"] = [_update_data(u) for u in note.updates]
        data["commit"] = note.commit
        data["reconciler"] = note.reconciler
        data["revision"] = note.revision
        data["message"] = note.message
        data["rollback"] = list(note.rollbacks)
    else:
        data["failures"] = [
            {"kind": f.kind, "subject": f.subject, "message": f.message} for f in note.failures
        ]
        if note.event == "failure":
            data["cycles"] = note.cycles
    return data


def _update_data(update: AppliedUpdate) -> dict[str, Any]:
    """workload, container, image, old_tag, new_tag, file."""
    return asdict(update)


RENDERERS: dict[str, Callable[[Notification], dict[str, Any]]] = {
    "slack": render_slack,
    "webhook": render_webhook,
}


# --- delivery --------------------------------------------------------------------------


class Notifier:
    """Notifications for one repository: decides after each cycle, then delivers."""

    def __init__(
        self,
        repo: RepositoryConfig,
        *,
        failure_cycles: int = 2,
        metrics: Metrics | None = None,
        client: httpx.Client | None = None,
        attempts: int = 2,
        retry_delay: float = 1.0,
        file: str | None = None,
        index: int | None = None,
    ) -> None:
        self.repository = repo.display_name
        where = f"repositories[{index}].notify" if index is not None else "notify"
        self.targets = [
            Target.from_config(cfg, key=f"{where}[{i}]", file=file)
            for i, cfg in enumerate(repo.notify)
        ]
        self.tracker = FailureTracker(failure_cycles)
        self._rollbacks_told: set[tuple[str, str, str]] = set()
        self._diverged: frozenset[str] = frozenset()
        self._metrics = metrics
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(10.0), follow_redirects=False, trust_env=True
        )
        self._attempts = max(1, attempts)
        self._retry_delay = retry_delay

    def close(self) -> None:
        self._client.close()

    def cycle_finished(self, outcome: CycleOutcome) -> list[Notification]:
        """What to send after *outcome* (updates the failure state; sends nothing)."""
        notes: list[Notification] = []
        if outcome.completed and outcome.applied:
            notes.append(
                Notification(
                    "update",
                    self.repository,
                    updates=tuple(outcome.applied),
                    commit=outcome.commit,
                    pull_request=outcome.pull_request,
                )
            )
        told = [r for r in outcome.rolled_back if self._first_time(r)]
        if outcome.completed and told:
            notes.append(
                Notification(
                    "rolled-back",
                    self.repository,
                    rolled_back=tuple(told),
                    commit=outcome.commit,
                    pull_request=outcome.pull_request,
                )
            )
        persistent, recovered = self.tracker.observe(outcome)
        if persistent:
            notes.append(
                Notification(
                    "failure",
                    self.repository,
                    failures=tuple(persistent),
                    cycles=self.tracker.threshold,
                )
            )
        if recovered:
            notes.append(Notification("recovered", self.repository, failures=tuple(recovered)))
        return notes

    def divergence(
        self, state: Divergence, *, after: float, before: frozenset[str] | None = None
    ) -> list[Notification]:
        """One notification when the repository starts diverging, one when it stops;
        *before*: the workloads diverged when last looked (kept across restarts), else
        what this notifier saw last."""
        now = frozenset(state.diverged)
        if before is None:
            before = self._diverged
        self._diverged = now
        if now and not before:
            return [
                Notification(
                    "diverged",
                    self.repository,
                    workloads=tuple(sorted(now)),
                    since=min(state.diverged.values()),
                    after=after,
                )
            ]
        if before and not now:
            return [Notification("converged", self.repository, workloads=tuple(sorted(before)))]
        return []

    def _first_time(self, item: PersonRollback) -> bool:
        """A rollback that could not be locked is found again every cycle: told once."""
        key = (item.workload, item.container, item.commit)
        if key in self._rollbacks_told:
            return False
        self._rollbacks_told.add(key)
        return True

    def reconciled(self, result: Reconciled) -> list[Notification]:
        """What to send after a reconciler report: its failure, when it concerns changes not
        told about before (sends nothing)."""
        if result.outcome != "failed" or not result.updates:
            return []
        return [
            Notification(
                "reconcile-failed",
                self.repository,
                updates=result.updates,
                commit=result.commits[0] if result.commits else None,
                reconciler=result.object,
                revision=result.revision,
                message=result.message,
                rollbacks=result.rollbacks,
            )
        ]

    def deliver(self, notes: Iterable[Notification]) -> int:
        """Send *notes* to every target subscribed to them; returns how many were sent."""
        sent = 0
        for note in notes:
            for target in self.targets:
                if note.subscription in target.on and self._send(target, note):
                    sent += 1
        return sent

    def _send(self, target: Target, note: Notification) -> bool:
        payload = RENDERERS[target.type](note)
        problem = "no attempt"
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._retry_delay)
            try:
                response = self._client.post(target.url, json=payload)
            except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: client closed
                problem = type(exc).__name__
                continue
            if response.is_success:
                self._count(ok=True)
                log.debug("%s: sent %s to %s", self.repository, note.event, target.label)
                return True
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break
        self._count(ok=False)
        log.warning(
            "%s: could not send %s notification to %s: %s",
            self.repository,
            note.event,
            target.label,
            problem,
            extra={"repo": self.repository, "notification": note.event},
        )
        return False

    def _count(self, *, ok: bool) -> None:
        if self._metrics is not None:
            self._metrics.notification(self.repository, ok=ok)
