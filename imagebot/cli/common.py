"""What every command shares: error handling, logging, output, and the common options.

User errors (:class:`~imagebot.errors.ImagebotError`) end a command with a one-line message
and a hint on stderr and the error's exit status, never a traceback; so do failures of the
machine around it (a file that cannot be written, Ctrl-C, a closed pipe). Logs always go to
stderr, so stdout carries only the command's output and can be piped (``--output json``).
Colour and progress bars appear only on a terminal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from imagebot.errors import (
    ConfigError,
    ForgeError,
    GitError,
    ImagebotError,
    InvalidInput,
    InvalidReference,
    InvalidTag,
    ManifestError,
    NotFound,
    PolicyError,
    RateLimited,
    RegistryError,
    StoreError,
    Unauthorized,
    Unreachable,
)
from imagebot.humanize import ago as ago
from imagebot.operations.workloads import (
    WorkloadId as WorkloadId,
)
from imagebot.operations.workloads import (
    local_checkout as local_checkout,
)
from imagebot.operations.workloads import (
    read_checkout as read_checkout,
)
from imagebot.operations.workloads import (
    select_workload as select_workload,
)
from imagebot.operations.workloads import (
    workload_forms,
)

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

    from imagebot.manifests import ImageSite
    from imagebot.store import optional_store as optional_store


def __getattr__(name: str) -> Any:
    """``optional_store`` is re-exported from :mod:`imagebot.store` when first asked for:
    importing the store (sqlite3, the config schema) here would slow every command's start-up
    (see :mod:`imagebot.cli.lazy`)."""
    if name == "optional_store":
        from imagebot.store import optional_store

        return optional_store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
EXIT_INTERRUPTED = 130

#: What to try next, for errors raised without a hint of their own (most specific first).
DEFAULT_HINTS: tuple[tuple[type[ImagebotError], str], ...] = (
    (
        InvalidReference,
        "an image reference is [registry/]name[:tag][@digest] with a lowercase name, "
        "e.g. alpine:3.19 or ghcr.io/org/app:1.2.3",
    ),
    (
        InvalidTag,
        "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
    ),
    (
        PolicyError,
        "try it with `imagebot policy test POLICY TAG...`; policies look like semver:~1.2, "
        "glob:main-*, regex:^v[0-9]+, numerical:asc, alphabetical:desc or newest-build",
    ),
    (
        ConfigError,
        "the README's configuration reference describes every key; "
        "`imagebot check --config FILE` validates a config file",
    ),
    (
        Unauthorized,
        "log in with `docker login HOST` (imagebot reads ~/.docker/config.json) or set "
        "username and password_file under registries.HOST in the config file",
    ),
    (NotFound, "check the image name; `imagebot tags IMAGE` lists what the registry has"),
    (
        RateLimited,
        "wait and retry, log in (authenticated pulls have higher limits), or lower "
        "registries.HOST.rate_limit in the config file",
    ),
    (
        Unreachable,
        "check the registry host, port and network; a plain-HTTP registry needs "
        "registries.HOST.insecure: true in the config file",
    ),
    (
        GitError,
        "check the checkout or URL, the branch and the Git credentials; the same git "
        "command run by hand shows more",
    ),
    (ForgeError, "check the forge token and the pull_request settings in the config file"),
    (
        StoreError,
        "point state_dir in the config file (or $IMAGEBOT_STATE_DIR) at a writable directory",
    ),
)


#: The top-level group's options (name -> takes a value), also accepted after the
#: subcommand, as kubectl accepts its global flags: ``imagebot run --log-format json``.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--log-format": True,
    "-v": False,
    "--verbose": False,
    "-q": False,
    "--quiet": False,
}


class ImagebotGroup(click.Group):
    """A click group that ends commands on user errors with a message, never a traceback,
    and takes the global options after the subcommand too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = self._hoist_global_options(ctx, list(args))
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            # `imagebot --bad`: the group's own options, in the same shape as every error.
            if isinstance(exc, _NO_ARGS_IS_HELP):
                raise
            usage_error(exc)

    def _hoist_global_options(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move global options written after the subcommand in front of it, unless the
        subcommand has an option of that name itself (``imagebot check -v``)."""
        index = 0
        while index < len(args) and args[index].startswith("-") and args[index] != "--":
            name, eq, _ = args[index].partition("=")
            index += 2 if GLOBAL_OPTIONS.get(name) and not eq else 1
        if index >= len(args) or args[index] == "--":
            return args
        sub = self.get_command(ctx, args[index])
        if sub is None:
            return args
        own, own_with_value = _option_names(ctx, sub, args[index + 1 :])
        front, rest = args[:index], [args[index]]
        position = index + 1
        while position < len(args):
            token = args[position]
            name, eq, _ = token.partition("=")
            if token == "--":
                rest += args[position:]
                break
            if name in own_with_value and not eq:  # the subcommand's option and its value
                rest += args[position : position + 2]
                position += 2
                continue
            is_global = name in GLOBAL_OPTIONS or re.fullmatch(r"-v+", token) is not None
            if is_global and name not in own and token[:2] not in own:
                step = 2 if GLOBAL_OPTIONS.get(name) and not eq else 1
                front += args[position : position + step]
                position += step
                continue
            rest.append(token)
            position += 1
        return front + rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImagebotError as exc:
            command = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            fail(exc, command=command)
        except click.UsageError as exc:
            if isinstance(exc, _NO_ARGS_IS_HELP):
                raise  # click prints the help
            usage_error(exc)
        except KeyboardInterrupt:
            _close_progress()
            click.echo("\nimagebot: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            raise  # the reader went away (`| head`): click exits quietly
        except OSError as exc:
            # Disk full, permission denied, a path that vanished: the machine, not a bug.
            where = f"{exc.filename}: " if exc.filename else ""
            fail(ImagebotError(f"{where}{exc.strerror or exc}"))


def _option_names(
    ctx: click.Context, command: click.Command, rest: list[str]
) -> tuple[set[str], set[str]]:
    """Option names of *command* (and of its subcommands named in *rest* when a group), and
    those of them that take a value. Only the subcommands named are looked up, so a lazy
    group imports just the one that runs (``imagebot policy test`` loads no Git code)."""
    commands = [command]
    if isinstance(command, click.Group):
        named = set(rest)
        for name in command.list_commands(ctx):
            if name not in named:
                continue
            sub = command.get_command(ctx, name)
            if sub is not None:
                commands.append(sub)
    names: set[str] = set()
    with_value: set[str] = set()
    for each in commands:
        for param in each.params:
            if isinstance(param, click.Option):
                opts = set(param.opts) | set(param.secondary_opts)
                names |= opts
                if not param.is_flag and not param.count:
                    with_value |= opts
    return names, with_value


_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    [e] if (e := getattr(click.exceptions, "NoArgsIsHelpError", None)) else []
)


def usage_error(exc: click.UsageError) -> NoReturn:
    """A bad argument or option, in the same shape as every other error, with the usage."""
    _close_progress()
    command = exc.ctx.command_path if exc.ctx is not None else "imagebot"
    if exc.ctx is not None:
        click.echo(exc.ctx.get_usage(), err=True)
    click.echo(f"imagebot: error: {exc.format_message()}", err=True)
    click.echo(f"hint: `{command} --help` describes the arguments and options", err=True)
    sys.exit(exc.exit_code)


def hint_for(exc: ImagebotError, command: str = "imagebot") -> str | None:
    """The error's own hint, else the default one for its kind (*command* is the command
    that failed, for hints that point at its help)."""
    if exc.hint:
        return exc.hint
    for kind, hint in DEFAULT_HINTS:
        if isinstance(exc, kind):
            return hint
    if isinstance(exc, InvalidInput):
        return f"`{command} --help` describes the arguments and options"
    if isinstance(exc, RegistryError):
        return "`imagebot tags IMAGE` checks one image with the same configuration and credentials"
    if isinstance(exc, ManifestError):
        return "`imagebot check` reports every problem in the manifests with its line"
    return None


def fail(exc: ImagebotError, *, command: str = "imagebot") -> NoReturn:
    _close_progress()
    click.echo(f"imagebot: error: {exc}", err=True)
    hint = hint_for(exc, command)
    if hint:
        click.echo(f"hint: {hint}", err=True)
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


# --- output: consoles, tables, relative times -------------------------------------------


def stdout_console() -> Console:
    """Rich console for a command's output: colour on a terminal, plain text on a pipe."""
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, no_color=True, width=100_000)
    return console


def print_table(console: Console, table: RenderableType) -> None:
    """Print *table* (or any renderable); on a pipe, as plain lines without trailing padding
    (grep/awk-able)."""
    if console.is_terminal:
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        click.echo(line.rstrip())


def plain_table(*headers: str) -> Table:
    """A borderless table in the style of ``list-images`` (and ``kubectl get``)."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


# --- progress while registries are asked ------------------------------------------------

_STAGES = {
    "tags": "Listing tags",
    "build-times": "Reading build times",
    "digests": "Checking digests",
    "details": "Reading tag details",
}
_live: list[Any] = []


def _close_progress() -> None:
    """Stop a live progress bar before an error message, so the message stays readable."""
    while _live:
        _live.pop().stop()


@contextlib.contextmanager
def registry_progress(enabled: bool = True) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on stderr for :func:`imagebot.update.resolve`'s ``progress`` callback.

    Yields the callback, or None when stderr is not a terminal or *enabled* is false (JSON
    output): nothing is drawn then. Log lines printed meanwhile appear above the bar.
    """
    if not enabled or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int) -> None:
        if total == 0:
            return
        if stage not in tasks:
            for other in tasks.values():
                progress.update(other, visible=False)
            tasks[stage] = progress.add_task(_STAGES.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    original = sys.stderr
    handlers = [
        h
        for h in logging.getLogger("imagebot").handlers
        if isinstance(h, logging.StreamHandler) and h.stream is original
    ]
    progress.start()
    _live.append(progress)
    for handler in handlers:
        handler.setStream(sys.stderr)  # rich's proxy while live: lines print above the bar
    try:
        yield report
    finally:
        if progress in _live:
            _live.remove(progress)
            progress.stop()
        for handler in handlers:
            handler.setStream(original)


# --- the state store, which checkout, which workload: imagebot.operations -------------------


def complete_workload(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for WORKLOAD arguments, from the manifests of ``--repo`` or ``.``.

    Never fails and never prints: a completion that cannot read the checkout offers nothing.
    Bash splits words at ``:``, so there it offers ``kind/name`` when that is unambiguous.
    """
    from click.shell_completion import CompletionItem

    try:
        sites = _completion_sites(ctx)
    except Exception:
        return []
    bash = os.environ.get("_IMAGEBOT_COMPLETE", "").startswith("bash")
    short_count: dict[str, set[str]] = {}
    for site in sites:
        short_count.setdefault(workload_forms(site)[1], set()).add(site.workload)
    offered: dict[str, str] = {}
    for site in sites:
        full, short, name = workload_forms(site)
        if not any(form.startswith(incomplete) for form in (full, short, name)):
            continue
        unambiguous = len(short_count[short]) == 1
        value = short if bash and ":" not in incomplete and unambiguous else full
        offered.setdefault(value, f"{site.file}:{site.line}")
    return [CompletionItem(value, help=where) for value, where in sorted(offered.items())]


def complete_container(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for ``--container``: container names in the checkout (only the
    workload's when click could parse it, which it cannot while an option lacks its value)."""
    from click.shell_completion import CompletionItem

    try:
        sites = _completion_sites(ctx)
        workload = ctx.params.get("workload")
        if workload:
            sites = select_workload(sites, workload)
    except Exception:
        return []
    names = sorted({s.container for s in sites if s.container.startswith(incomplete)})
    return [CompletionItem(name) for name in names]


def _completion_sites(ctx: click.Context) -> list[ImageSite]:
    from imagebot.config import load_config
    from imagebot.gitops import is_remote_url

    logger = logging.getLogger("imagebot")
    was_disabled, logger.disabled = logger.disabled, True  # completions must print nothing
    try:
        config = load_config(ctx.params.get("config_path"))
        # --repo is "repo" in the read commands, "target" in the editing ones.
        repo = ctx.params.get("repo") or ctx.params.get("target")
        if repo and is_remote_url(str(repo)):
            return []  # never clone on a key press
        root, settings = local_checkout(config, Path(repo) if repo else None)
        return read_checkout(root, settings).sites
    finally:
        logger.disabled = was_disabled
