"""What the fluxctl-style commands share: find one workload, edit its file, commit it.

``imagebot automate|deautomate|lock|unlock|policy set|policy unset|release`` each change one
workload, named as fluxctl named it (``demo:deployment/podinfo``, or ``deployment/podinfo``
when that is unambiguous). They read the repository, compute the new bytes of the one file
with an *action*, and commit it through :meth:`~imagebot.gitops.Workspace.publish`, so a
branch that moved meanwhile is read again rather than rebased over. ``--dry-run`` prints the
diff and changes nothing.

Where the commit goes: ``--repo PATH|URL`` alone commits on the branch (direct); a repository
from the config file follows its ``write_mode``, but on a branch of its own per change
(``imagebot/main-lock-demo-deployment-podinfo``), because the bot's usual branch is rebuilt
from scratch on every cycle and would drop a hand-made change.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import click

from imagebot.cli.common import (
    WorkloadId,
    complete_workload,
    config_option,
    output_option,
    print_json,
    read_checkout,
)
from imagebot.config import Config, RepositoryConfig, load_config
from imagebot.errors import ConfigError, ForgeError, ImagebotError, InvalidInput, ManifestError
from imagebot.gitops import Change, Published, Workspace
from imagebot.manifests import Discovery, ImageSite, scan_bytes
from imagebot.manifests.annotate import (
    AnnotationChange,
    AnnotationEdit,
    WorkloadDoc,
    annotate,
    find_workloads,
    render_value,
)
from imagebot.update import Resolution, repository_for_target

F = TypeVar("F", bound=Callable[..., Any])


# --- the workload -----------------------------------------------------------------------------


@dataclass
class Target:
    """The workload a command edits: its file, its document and its image sites."""

    id: str  # as imagebot prints it: namespace:kind/name
    file: str
    #: The object holding its metadata; None for images without one (kustomize ``images:``,
    #: Compose services, chart values): those can be released but not annotated.
    doc: WorkloadDoc | None
    sites: list[ImageSite]

    @property
    def line(self) -> int:
        return self.doc.line if self.doc is not None else min(s.line for s in self.sites)

    def annotated(self) -> WorkloadDoc:
        """The document whose annotations govern it; ManifestError when there is none."""
        if self.doc is None:
            raise ManifestError(
                f"{self.id} has no metadata to write annotations in", file=self.file
            )
        return self.doc

    @property
    def annotations(self) -> dict[str, Any]:
        return self.annotated().annotations

    @property
    def containers(self) -> list[str]:
        return list(dict.fromkeys(site.container for site in self.sites))

    def site(self, container: str) -> ImageSite:
        found = [s for s in self.sites if s.container == container]
        if not found:
            raise InvalidInput(
                f"{self.id} has no container {container!r}",
                hint=f"its containers: {', '.join(self.containers)}",
            )
        if len(found) > 1:
            lines = ", ".join(str(s.line) for s in found)
            raise InvalidInput(
                f"{self.id}: container {container!r} is written more than once "
                f"({self.file} lines {lines})"
            )
        return found[0]


def find_target(
    discovery: Discovery, root: Path, wanted: WorkloadId, *, file: str | None
) -> Target:
    """The one workload *wanted* names; InvalidInput (with the candidates) otherwise."""
    sites = [s for s in discovery.sites if wanted.matches(s) and (file is None or s.file == file)]
    if not sites:
        known = sorted({s.workload for s in discovery.sites})
        close = difflib.get_close_matches(str(wanted), known, n=3, cutoff=0.8)
        where = f" in {file}" if file else ""
        raise InvalidInput(
            f"no workload {wanted}{where} with container images in the repository",
            hint=f"did you mean {', '.join(close)}?" if close else "see imagebot list-images",
        )
    groups: dict[tuple[str, str], list[ImageSite]] = {}
    for site in sites:
        groups.setdefault((site.file, site.workload), []).append(site)
    if len(groups) > 1:
        listed = "; ".join(f"{w} in {f}" for f, w in sorted(groups))
        ids = {w for _, w in groups}
        hint = "pass --file to choose one" if len(ids) == 1 else "name the namespace as well"
        raise InvalidInput(f"{wanted} names more than one workload: {listed}", hint=hint)
    (path, workload), group = next(iter(groups.items()))
    docs = [
        d
        for d in find_workloads((root / path).read_bytes(), path)
        if d.kind == group[0].kind and d.name == group[0].name and d.namespace == group[0].namespace
    ]
    if len(docs) > 1:
        raise ManifestError(
            f"{workload} is defined {len(docs)} times in this file (lines "
            f"{', '.join(str(d.line) for d in docs)}); edit it by hand",
            file=path,
        )
    return Target(workload, path, docs[0] if docs else None, group)


def pick_containers(
    target: Target, containers: Iterable[str], every: bool, *, allow_all: bool = True
) -> list[str]:
    """``--container`` (repeatable) or ``--all-containers``; a lone container needs neither."""
    names = list(dict.fromkeys(containers))
    if every and names:
        raise click.UsageError("give --container or --all-containers, not both")
    if every:
        return target.containers
    if not names:
        if len(target.containers) == 1:
            return target.containers
        raise InvalidInput(
            f"{target.id} has {len(target.containers)} containers; say which",
            hint=f"--container {' / '.join(target.containers)}"
            + (", or --all-containers" if allow_all else ""),
        )
    for name in names:
        target.site(name)
    return names


# --- what an action computes --------------------------------------------------------------------


@dataclass
class Edited:
    """An action's result for the workload's file."""

    content: bytes
    changes: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    #: The commit subject, when the action knows better than the command's template.
    subject: str | None = None
    #: Said when nothing changes ("demo:deployment/podinfo is already locked").
    unchanged: str = "nothing to change"


Action = Callable[[Target, bytes], Edited]
Check = Callable[[list[ImageSite]], str | None]


def edit_annotations(
    target: Target,
    content: bytes,
    edits: list[AnnotationEdit],
    check: Check,
    *,
    unchanged: str,
    fallback: list[AnnotationEdit] | None = None,
) -> Edited:
    """Apply *edits*; refuse unless every site of the workload then passes *check*.

    The new bytes are read back as discovery reads them, so what is committed is what the
    next update cycle will see; an edit that would make the annotations invalid (a conflict
    between prefixes, say) is refused too. When *edits* do not pass, *fallback* is tried
    instead (deautomate: remove the key, else write "false").
    """
    result = annotate(content, target.annotated(), edits, file=target.file)
    after = _sites(scan_bytes(result.content, target.file), target) if result.changed else None
    problem = check(after if after is not None else target.sites)
    if problem is not None and fallback is not None:
        return edit_annotations(target, content, fallback, check, unchanged=unchanged)
    if problem is not None:
        state = "after the edit, " if result.changed else ""
        raise ManifestError(
            f"{target.id}: refused: {state}{problem}", file=target.file, line=target.line
        )
    if after is None:
        return Edited(content, unchanged=unchanged)
    before = _sites(scan_bytes(content, target.file), target)
    old_errors = {e for s in before if s.error for e in s.error.split("; ")}
    new_errors = [e for s in after if s.error for e in s.error.split("; ") if e not in old_errors]
    if new_errors:
        raise ManifestError(
            f"{target.id}: refused: the annotations would not be valid: {new_errors[0]}",
            file=target.file,
            line=target.line,
        )
    return Edited(
        result.content,
        changes=[c.to_dict() for c in result.changes],
        lines=[_describe(c) for c in result.changes],
    )


def _sites(discovery: Discovery, target: Target) -> list[ImageSite]:
    return [s for s in discovery.sites if s.workload == target.id]


def _describe(change: AnnotationChange) -> str:
    if change.new is None:
        return f"- {change.key}"
    shown = render_value(change.new)
    if change.old is None:
        return f"+ {change.key}: {shown}"
    return f"~ {change.key}: {render_value(change.old)} -> {shown}"


# --- the command line ------------------------------------------------------------------------


@dataclass
class Request:
    """What every editing command is asked: WORKLOAD, ``--message`` and the
    :func:`workload_options`; :meth:`run` does the rest with the command's action."""

    workload: str
    message: str | None
    target: str | None
    branch: str | None
    file: str | None
    config_path: str | None
    dry_run: bool
    user: str | None
    output: str

    def run(
        self,
        *,
        action_name: str,
        subject: str,
        action: Action,
        message: Callable[[str, Target, Edited, RepositoryConfig, str], str | None] | None = None,
        after: Callable[[Config, Outcome, Workspace], None] | None = None,
    ) -> None:
        """:func:`run` with this request's options (``--message`` goes in the commit body)."""
        run(
            action_name=action_name,
            subject=subject,
            workload=self.workload,
            action=action,
            config_path=self.config_path,
            target=self.target,
            branch=self.branch,
            file=self.file,
            dry_run=self.dry_run,
            user=self.user,
            output=self.output,
            body=self.message,
            message=message,
            after=after,
        )


_REQUEST_FIELDS = tuple(f.name for f in fields(Request))

#: WORKLOAD, the first argument of every editing command (with :func:`workload_options`).
workload_argument = click.argument("workload", shell_complete=complete_workload)


def workload_options(
    message_help: str = "A message for the commit body.",
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--message`` and the options every editing command takes, after its own; the
    command function gets them, and its :data:`workload_argument`, as one :class:`Request`
    first argument, then its own parameters.

    Goes last (next to the function) so that ``--help`` lists the command's own options
    first, while :data:`workload_argument` goes first to stay the first argument.
    """

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def command(**params: Any) -> None:
            request = Request(**{name: params.pop(name) for name in _REQUEST_FIELDS})
            func(request, **params)

        for option in reversed(_options(message_help)):
            command = option(command)
        return command

    return decorate


def _options(message_help: str) -> list[Callable[[F], F]]:
    return [
        click.option("-m", "--message", help=message_help),
        click.option(
            "--repo",
            "target",
            metavar="PATH|URL",
            help="A Git checkout (committed in place) or a Git URL (cloned into the state "
            "directory). Default: the one repository in the config, else the current directory.",
        ),
        click.option("--branch", help="Branch to change (default: the checkout's, or HEAD)."),
        click.option(
            "--file",
            "file",
            metavar="PATH",
            help="The file (relative to the repository) when the workload is in several.",
        ),
        config_option,
        click.option("--dry-run", is_flag=True, help="Print the diff; commit nothing."),
        click.option(
            "--user",
            metavar="'NAME <EMAIL>'",
            help="Who asks: named in the commit (lock: also locked_user). Default: git config "
            "user.name and user.email.",
        ),
        output_option,
    ]


# --- running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManualChange(Change):
    target: Target | None = None
    old: bytes = b""
    edited: Edited | None = None


@dataclass
class Outcome:
    action: str
    subject: str
    repository: str
    branch: str | None
    dry_run: bool
    target: Target | None = None
    edited: Edited | None = None
    subject_template: str = "{workload}"
    diff: str = ""
    commit: str | None = None
    pushed_to: str | None = None
    pushed: bool = False
    pull_request: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.diff)

    def to_dict(self) -> dict[str, Any]:
        edited = self.edited
        return {
            "action": self.action,
            "subject": self.subject,
            "workload": self.target.id if self.target else None,
            "file": self.target.file if self.target else None,
            "repository": self.repository,
            "branch": self.branch,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "changes": edited.changes if edited else [],
            "notes": edited.notes if edited else [],
            "commit": self.commit,
            "target": self.pushed_to,
            "pushed": self.pushed,
            "pull_request": self.pull_request,
            "diff": self.diff,
        }


def default_user(cwd: Path | None = None) -> str | None:
    """``Name <email>`` from git config, as fluxctl defaulted ``--user``."""

    def get(key: str) -> str:
        try:
            result = subprocess.run(
                ["git", "config", "--get", key],
                cwd=cwd if cwd is not None and cwd.is_dir() else None,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    name, email = get("user.name"), get("user.email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or None


def pick_repository(config: Config, target: str | None, branch: str | None) -> RepositoryConfig:
    """The one repository to change, and whether it came from the config file."""
    if target is None and not config.repositories:
        target = "."
    repos = repository_for_target(config, target, branch=branch)
    if len(repos) != 1:
        names = ", ".join(r.display_name for r in repos)
        raise ConfigError(
            f"the config lists {len(repos)} repositories ({names})",
            hint="pass --repo PATH|URL to choose one",
        )
    repo = repos[0]
    from_config = any(repo.url == r.url and repo.path == r.path for r in config.repositories)
    if not from_config:
        repo = replace(repo, write_mode="direct")
    return repo


def commit_message(subject: str, target: Target, edited: Edited, *, user: str | None) -> str:
    """fluxctl's subject line, then what changed, then who asked."""
    lines = [subject, "", f"{target.file}:"] + [f"  {line}" for line in edited.lines]
    if user:
        lines += ["", f"Requested-by: {user}"]
    return "\n".join(lines) + "\n"


def run(
    *,
    action_name: str,
    subject: str,
    workload: str,
    action: Action,
    config_path: str | None,
    target: str | None,
    branch: str | None,
    file: str | None,
    dry_run: bool,
    user: str | None,
    output: str,
    body: str | None = None,
    message: Callable[[str, Target, Edited, RepositoryConfig, str], str | None] | None = None,
    after: Callable[[Config, Outcome, Workspace], None] | None = None,
) -> None:
    """Find *workload*, run *action* on its file, commit (or print the dry run), report."""
    wanted = WorkloadId.parse(workload)
    config = load_config(config_path)
    repo = pick_repository(config, target, branch)
    if repo.write_mode != "direct":
        slug = re.sub(r"[^a-z0-9]+", "-", f"{action_name} {wanted}".lower()).strip("-")
        repo = replace(repo, push_branch=f"{repo.push_branch}-{slug}")
    if user is None:
        user = default_user()
    outcome = Outcome(
        action_name, subject.format(workload=wanted), repo.display_name, repo.branch, dry_run
    )
    outcome.subject_template = subject

    with Workspace.open(repo, config.resolved_state_dir()) as ws:
        outcome.branch = ws.branch

        def compute(base: str) -> ManualChange:
            found = read_checkout(ws.root, repo)
            chosen = find_target(found, ws.root, wanted, file=file)
            old = (ws.root / chosen.file).read_bytes()
            edited = action(chosen, old)
            if edited.content == old:
                return ManualChange({}, "", target=chosen, old=old, edited=edited)
            title = edited.subject or subject.format(workload=chosen.id)
            text = message(title, chosen, edited, repo, ws.branch) if message else None
            if text is None:
                text = commit_message(title, chosen, edited, user=user)
                if body:
                    head, _, rest = text.partition("\n\n")
                    text = f"{head}\n\n{body.strip()}\n\n{rest}"
            return ManualChange(
                {chosen.file: edited.content}, text, target=chosen, old=old, edited=edited
            )

        if dry_run:
            base = ws.sync() if ws.kind == "clone" else ws.head()
            change = compute(base)
            _fill(outcome, change)
        else:
            published: Published[ManualChange] = ws.publish(
                compute, repo.commit, mode=repo.write_mode
            )
            if published.change is not None:
                _fill(outcome, published.change)
            outcome.commit = published.sha
            outcome.pushed = published.pushed
            outcome.pushed_to = published.branch
            if published.sha is not None and repo.write_mode == "pull-request":
                outcome.pull_request = _pull_request(repo, ws, published)
            if published.sha is not None and after is not None:
                after(config, outcome, ws)
    _report(outcome, output)


def _fill(outcome: Outcome, change: ManualChange) -> None:
    outcome.target = change.target
    if change.target is not None:
        outcome.subject = outcome.subject_template.format(workload=change.target.id)
    if change.edited is not None and change.edited.subject:
        outcome.subject = change.edited.subject
    outcome.edited = change.edited
    if change.target is not None and change.files:
        path = change.target.file
        old = change.old.decode("utf-8", "replace").splitlines(keepends=True)
        new = change.files[path].decode("utf-8", "replace").splitlines(keepends=True)
        lines = difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")
        outcome.diff = "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _pull_request(repo: RepositoryConfig, ws: Workspace, published: Published[ManualChange]) -> str:
    from imagebot.gitops.forge import forge_for

    url = repo.url or ws.url
    if not url:
        raise ForgeError(f"{repo.display_name}: pull-request mode needs a remote URL")
    change = published.change
    assert change is not None
    title, _, body = change.message.partition("\n\n")

    async def talk() -> str:
        async with forge_for(url, repo.pull_request, credentials=repo.credentials) as forge:
            result = await forge.ensure(
                head=ws.bot_branch,
                base=ws.branch,
                title=title.strip(),
                body=body.strip() + "\n\nOpened by `imagebot` for a change made by hand.\n",
                labels=repo.pull_request.labels,
                reviewers=repo.pull_request.reviewers,
            )
            return result.pull_request.url

    return asyncio.run(talk())


def _report(outcome: Outcome, output: str) -> None:
    if output == "json":
        print_json(outcome.to_dict())
        return
    target, edited = outcome.target, outcome.edited
    if target is None or edited is None:  # pragma: no cover - compute always fills them
        return
    if not outcome.changed:
        click.echo(f"{target.id}: {edited.unchanged}.")
        for note in edited.notes:
            click.echo(f"note: {note}")
        return
    click.echo(f"{outcome.subject} ({target.file})")
    for line in edited.lines:
        click.echo(f"  {line}")
    for note in edited.notes:
        click.echo(f"note: {note}")
    if outcome.dry_run:
        click.echo("Dry run: nothing committed.\n")
        click.echo(outcome.diff, nl=False)
        return
    if outcome.commit:
        where = outcome.pushed_to or outcome.branch
        verb = "pushed to" if outcome.pushed else "committed on"
        click.echo(f"Commit {outcome.commit[:12]} {verb} {where}.")
    if outcome.pull_request:
        click.echo(f"Pull request: {outcome.pull_request}")


def refuse(target: Target, message: str, *, hint: str | None = None) -> ImagebotError:
    """An error for a change the workload's state forbids (exit 1, with a hint)."""
    return ImagebotError(f"{target.file}:{target.line}: {target.id}: {message}", hint=hint)
