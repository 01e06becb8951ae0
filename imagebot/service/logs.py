"""Log lines a long-running bot can ship anywhere: structured, and without credentials.

Secrets reach the logs by accident: an exception message quoting a URL with ``user:pass@``,
a webhook URL whose path *is* the secret, a ``?token=`` query. :class:`RedactingFilter`
rewrites every record on the handlers it is installed on, so the protection does not depend
on each call site remembering. Secrets the service resolves (webhook secrets, notification
URLs) are registered with :data:`REDACTOR` as they are loaded.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback

from imagebot.service.types import AppliedUpdate

MASK = "***"

# scheme://user:password@host or scheme://token@host
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
# ?token=..., &access_token=..., &sig=...
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:token|access_token|secret|password|passwd|sig|signature|key)=)[^&#\s\"']+",
    re.IGNORECASE,
)
# Authorization: Bearer xxx / Basic xxx
_AUTH_HEADER = re.compile(r"(?P<key>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}")


class Redactor:
    """Replaces registered secrets and credential-shaped substrings with ``***``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def register(self, *secrets: str | None) -> None:
        """Remember *secrets* (empty values are ignored); longest are replaced first."""
        with self._lock:
            known = set(self._secrets)
            for secret in secrets:
                if not secret:
                    continue
                known.add(secret)
                # The JSON formatter escapes quotes and backslashes: mask that spelling too.
                escaped = json.dumps(secret)[1:-1]
                if escaped != secret:
                    known.add(escaped)
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def forget_all(self) -> None:
        with self._lock:
            self._secrets = ()

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _USERINFO.sub(rf"\g<scheme>{MASK}@", text)
        text = _QUERY_SECRET.sub(rf"\g<key>{MASK}", text)
        return _AUTH_HEADER.sub(rf"\g<key>{MASK}", text)


#: The process-wide redactor the service registers its secrets with.
REDACTOR = Redactor()

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Redact a record's message, string ``extra=`` fields, traceback and stack.

    A traceback is formatted here and folded into the message, because formatters render
    ``exc_info`` themselves and would otherwise print an exception message unredacted.
    """

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor.redact
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} % {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            message += "\n" + record.exc_text
        if record.stack_info:
            message += "\n" + record.stack_info
        record.msg = redact(message)
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            if isinstance(value, str):
                setattr(record, key, redact(value))
            elif isinstance(value, list | tuple | dict):
                setattr(record, key, json.loads(redact(json.dumps(value, default=str))))
        return True


def install_redaction(
    logger: logging.Logger | None = None, redactor: Redactor = REDACTOR
) -> RedactingFilter:
    """Put a :class:`RedactingFilter` on every handler of *logger* (default ``imagebot``)
    and of the root logger. Idempotent; call it after logging is configured."""
    logger = logger or logging.getLogger("imagebot")
    handlers = list(logger.handlers) + list(logging.getLogger().handlers)
    installed: RedactingFilter | None = None
    for handler in handlers:
        # Only a filter over the same redactor counts (another one knows other secrets).
        existing = [
            f for f in handler.filters if isinstance(f, RedactingFilter) and f.redactor is redactor
        ]
        if existing:
            installed = installed or existing[0]
            continue
        installed = installed or RedactingFilter(redactor)
        handler.addFilter(installed)
    return installed or RedactingFilter(redactor)


def log_update(
    logger: logging.Logger,
    repository: str,
    update: AppliedUpdate,
    *,
    commit: str | None = None,
    pull_request: str | None = None,
) -> None:
    """One INFO line per applied update naming repo, workload, container, old and new tag,
    with the same facts as ``extra=`` fields for JSON logs."""
    where = f" (commit {commit[:12]})" if commit else ""
    if pull_request:
        where = f" (pull request {pull_request})"
    logger.info(
        "%s: updated %s container %s image %s from %s to %s%s",
        repository,
        update.workload,
        update.container,
        update.image,
        update.old_tag,
        update.new_tag,
        where,
        extra={
            "repo": repository,
            "workload": update.workload,
            "container": update.container,
            "image": update.image,
            "old_tag": update.old_tag,
            "new_tag": update.new_tag,
            "file": update.file,
            "commit": commit,
            "pull_request": pull_request,
        },
    )
