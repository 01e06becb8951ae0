"""What every command shares: error handling, logging, output, and the common options.

User errors (:class:`~imagebot.errors.ImagebotError`) end a command with a one-line message
and a hint on stderr and the error's exit status, never a traceback; so do failures of the
machine around it (a file that cannot be written, Ctrl-C, a closed pipe). Logs always go to
stderr, so stdout carries only the command's output and can be piped (``--output json``).
Colour and progress bars appear only on a terminal.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

    from imagebot.config import Config, RepositoryConfig
    from imagebot.manifests import Discovery, ImageSite
    from imagebot.store import Store

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


class ImagebotGroup(click.Group):
    """A click group that ends commands on user errors with a message, never a traceback."""

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


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``3 days ago``, ``just now``, ``in 2 hours`` (a clock ahead); ``-`` when unknown."""
    if moment is None:
        return "-"
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("week", 7 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"  # pragma: no cover - the loop always returns for seconds >= 60


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


# --- the state store ---------------------------------------------------------------------


@contextlib.contextmanager
def optional_store(config: Config) -> Iterator[Store | None]:
    """The state store, closed afterwards; None (with a warning) when it cannot be opened.

    It only caches tags and image details for the read commands, so they still work (slower)
    on a read-only disk rather than fail.
    """
    from imagebot.store import Store, store_path

    try:
        store = Store.open(store_path(config))
    except ImagebotError as exc:
        log.warning("working without the state store: %s", exc)
        store = None
    try:
        yield store
    finally:
        if store is not None:
            store.close()


# --- which checkout, which workload ---------------------------------------------------


def local_checkout(config: Config, repo: Path | None) -> tuple[Path, RepositoryConfig | None]:
    """The checkout a read-only command reads, and its configured settings.

    Without ``--repo``: the one configured repository with a ``path``, else the current
    directory. Settings (include, exclude, policy_dirs) come from the config entry whose
    path is that directory.
    """
    local = [(Path(r.path).expanduser(), r) for r in config.repositories if r.path]
    if repo is None:
        if len(local) == 1:
            path, settings = local[0]
            if not path.is_dir():
                raise ConfigError(
                    f"the configured repository path {path} is not a directory",
                    file=config.source,
                    key="repositories[].path",
                    hint="fix the path in the config file, or pass --repo PATH",
                )
            return path, settings
        repo = Path(os.curdir)
    if not repo.exists():
        raise InvalidInput(
            f"{repo}: no such directory", hint="pass --repo PATH of a GitOps checkout"
        )
    if not repo.is_dir():
        raise InvalidInput(
            f"{repo}: not a directory", hint="pass --repo the checkout's top directory"
        )
    wanted = repo.resolve()
    for path, settings in local:
        if path.resolve() == wanted:
            return repo, settings
    return repo, None


def read_checkout(root: Path, settings: RepositoryConfig | None) -> Discovery:
    """Every image site under *root*, read with the repository's include, exclude and
    policy_dirs as an update cycle reads it (discovery's defaults without settings)."""
    from imagebot.manifests import discover

    if settings is None:
        return discover(root)
    return discover(
        root,
        include=settings.include,
        exclude=settings.exclude,
        policy_dirs=settings.policy_dirs,
    )


_WORKLOAD = re.compile(
    r"(?:(?P<ns>[^:/\s]+):)?(?P<kind>[A-Za-z][A-Za-z0-9]*)/(?P<name>[^:\s]+)|(?P<alone>[^:/\s]+)"
)


@dataclass(frozen=True)
class WorkloadId:
    """A workload as the user names it: ``namespace:kind/name`` (fluxctl's resource ID, the
    kind in any case), ``kind/name``, or (where allowed) ``name`` alone.

    A manifest without a namespace is ``<cluster>:`` as imagebot prints it, and ``default:``
    as Flux v1 read it; both spellings find it.
    """

    namespace: str | None
    kind: str | None  # lowercase
    name: str

    @classmethod
    def parse(cls, text: str, *, name_alone: bool = False) -> WorkloadId:
        """InvalidInput for anything else; a bare name only with *name_alone* (read-only
        commands take it; the editing commands want the kind, as fluxctl did)."""
        hint = (
            "write it as namespace:kind/name, e.g. demo:deployment/podinfo, or kind/name "
            "when only one namespace has it"
            + (", or name when only one workload has it" if name_alone else "")
        )
        match = _WORKLOAD.fullmatch(text.strip())
        if match is None:
            raise InvalidInput(f"cannot read workload {text!r}", hint=hint)
        if match["alone"] is not None:
            if not name_alone:
                raise InvalidInput(f"workload {text!r} lacks its kind", hint=hint)
            return cls(None, None, match["alone"])
        return cls(match["ns"], match["kind"].lower(), match["name"])

    def matches(self, site: ImageSite) -> bool:
        if site.name != self.name:
            return False
        if self.kind is not None and site.kind.lower() != self.kind:
            return False
        if self.namespace is None or site.namespace == self.namespace:
            return True
        return site.namespace is None and self.namespace in ("default", "<cluster>")

    def __str__(self) -> str:
        if self.kind is None:
            return self.name
        short = f"{self.kind}/{self.name}"
        return f"{self.namespace}:{short}" if self.namespace else short


def workload_forms(site: ImageSite) -> tuple[str, str, str]:
    """How a workload may be named: ``ns:kind/name``, ``kind/name`` and ``name``."""
    kind = site.kind.lower() or "document"
    return site.workload, f"{kind}/{site.name}", site.name


def select_workload(sites: Sequence[ImageSite], text: str) -> list[ImageSite]:
    """The sites of the workload *text* names (any :class:`WorkloadId` spelling, ``name``
    included). Raises :class:`InvalidInput` naming the candidates."""
    wanted = WorkloadId.parse(text, name_alone=True)
    found = [site for site in sites if wanted.matches(site)]
    workloads = sorted({site.workload for site in found})
    if len(workloads) > 1:
        raise InvalidInput(
            f"{text!r} names {len(workloads)} workloads: {', '.join(workloads)}",
            hint="name one as namespace:kind/name",
        )
    if not found:
        # Compare like with like (full name, kind/name or name), suggest full names.
        form = 0 if wanted.namespace else 1 if wanted.kind else 2
        named: dict[str, str] = {}
        for site in sites:
            named.setdefault(workload_forms(site)[form], site.workload)
        close = difflib.get_close_matches(text.strip(), sorted(named), n=3, cutoff=0.5)
        suggestions = list(dict.fromkeys(named[c] for c in close))
        hint = (
            f"did you mean {' or '.join(suggestions)}?"
            if suggestions
            else "`imagebot list-images` lists every workload and container"
        )
        raise InvalidInput(f"no workload {text!r} in the manifests", hint=hint)
    return found


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
