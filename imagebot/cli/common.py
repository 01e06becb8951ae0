"""What every command shares: error handling, logging, and the common options.

User errors (:class:`~imagebot.errors.ImagebotError`) end a command with a one-line message
and a hint on stderr and the error's exit status, never a traceback. Logs always go to stderr,
so stdout carries only the command's output and can be piped (``--output json``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click

from imagebot.errors import ImagebotError

F = TypeVar("F", bound=Callable[..., Any])


class ImagebotGroup(click.Group):
    """A click group that turns ImagebotError into a clean message and exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImagebotError as exc:
            fail(exc)


def fail(exc: ImagebotError) -> NoReturn:
    click.echo(f"imagebot: error: {exc}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="IMAGEBOT_CONFIG",
        help="Configuration file (default: $IMAGEBOT_CONFIG).",
    )(func)


def output_option(func: F) -> F:
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Human-readable text, or JSON for scripts.",
    )(func)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot serialise {type(value).__name__}")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; structured fields passed as ``extra=`` are kept."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_text:  # already formatted (and redacted) by a filter
            data["exception"] = record.exc_text
        elif record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_text:
            text += "\n" + record.exc_text
        elif record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(log_format: str = "human", *, verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.INFO, logging.DEBUG)[min(verbose, 1)]
    if verbose == 0 and not quiet:
        level = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    root = logging.getLogger("imagebot")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for noisy in ("httpx", "httpcore", "apscheduler", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
