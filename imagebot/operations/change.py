"""A change a person asks for: one workload's file edited, previewed, then committed.

Every manual action (lock, unlock, automate, deautomate, policy set/unset, release, rollback,
approve) is an :class:`Action`: a name, a subject template and an *edit* that computes the
new bytes of the workload's file from the old ones. :func:`plan` runs it on the current tip
and returns the unified diff and commit message without writing anything; :func:`apply` runs
it inside :meth:`~imagebot.gitops.Workspace.publish`, so a branch that moved meanwhile is read
again rather than rebased over, and commits. Both return an :class:`Outcome`; neither prints.

Who asks is an argument (``user``): named in the commit message (``Requested-by:``), and with
``author=True`` also the commit's author (the web passes the signed-in user).

Where the commit goes: a repository named by path or URL alone is committed on its branch
(direct); a repository from the config file follows its ``write_mode``, but on a branch of its
own per change (``imagebot/main-lock-demo-deployment-podinfo``), because the bot's usual
branch is rebuilt from scratch on every cycle and would drop a hand-made change.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from imagebot.config import Config, RepositoryConfig
from imagebot.errors import ForgeError, ImagebotError, ManifestError
from imagebot.gitops import Change, Published, Workspace
from imagebot.manifests import Discovery, ImageSite, scan_bytes
from imagebot.manifests.annotate import AnnotationChange, AnnotationEdit, annotate, render_value
from imagebot.operations.workloads import (
    Target,
    WorkloadId,
    find_target,
    pick_repository,
    read_checkout,
)
from imagebot.update import Resolution


class PlanChanged(ImagebotError):
    """The change computed on the current tip is not the one that was shown (someone pushed
    meanwhile); nothing was committed."""

    exit_code = 1


# --- what an action computes --------------------------------------------------------------


@dataclass
class Edited:
    """An action's result for the workload's file."""

    content: bytes
    changes: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    #: The commit subject, when the action knows better than its subject template.
    subject: str | None = None
    #: Said when nothing changes ("demo:deployment/podinfo is already locked").
    unchanged: str = "nothing to change"
    #: A release pushed past the supply-chain gates with ``--force``: the history says so
    #: (mode ``release-forced``).
    forced_past_gates: bool = False


Edit = Callable[[Target, bytes], Edited]
Check = Callable[[list[ImageSite]], str | None]
#: ``message(subject, target, edited, repo, branch)``: the whole commit message, or None for
#: the fluxctl-style one (:func:`commit_message`).
Message = Callable[[str, Target, Edited, RepositoryConfig, str], str | None]


@dataclass
class Action:
    """One named manual change (see :mod:`imagebot.operations.actions` for each)."""

    name: str  # lock, unlock, automate, deautomate, policy, release, rollback, approve
    subject: str  # template with {workload}: "Locked: {workload}"
    edit: Edit
    message: Message | None = None
    #: Called after a commit (not on a plan): records history, say.
    after: Callable[[Config, Outcome, Workspace], None] | None = None
    #: Releases what the action holds (a registry connection); called by plan/apply.
    close: Callable[[], None] | None = None


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
    rescan = partial(scan_bytes, file=target.file, default_namespace=target.default_namespace)
    after = _sites(rescan(result.content), target) if result.changed else None
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
    before = _sites(rescan(content), target)
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


def refuse(target: Target, message: str, *, hint: str | None = None) -> ImagebotError:
    """An error for a change the workload's state forbids (exit 1, with a hint)."""
    return ImagebotError(f"{target.file}:{target.line}: {target.id}: {message}", hint=hint)


# --- the outcome ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ManualChange(Change):
    target: Target | None = None
    old: bytes = b""
    edited: Edited | None = None


@dataclass
class Outcome:
    """What a plan would commit, or what apply committed."""

    action: str
    subject: str
    repository: str
    branch: str | None
    dry_run: bool
    target: Target | None = None
    edited: Edited | None = None
    subject_template: str = "{workload}"
    diff: str = ""
    #: The whole commit message ("" when nothing changes).
    message: str = ""
    #: The commit the change was computed on.
    base: str | None = None
    commit: str | None = None
    pushed_to: str | None = None
    pushed: bool = False
    pull_request: str | None = None
    user: str | None = None

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


_PERSON = re.compile(r"\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]+)>\s*")


def person(user: str) -> tuple[str, str]:
    """(name, e-mail) of ``Name <email>``, or of a bare name (an address under
    ``users.noreply.local``, as the bot's own default)."""
    match = _PERSON.fullmatch(user)
    if match and match["name"]:
        return match["name"], match["email"]
    name = user.strip()
    local = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "user"
    return name, f"{local}@users.noreply.local"


def commit_message(subject: str, target: Target, edited: Edited, *, user: str | None) -> str:
    """fluxctl's subject line, then what changed, then who asked."""
    lines = [subject, "", f"{target.file}:"] + [f"  {line}" for line in edited.lines]
    if user:
        lines += ["", f"Requested-by: {user}"]
    return "\n".join(lines) + "\n"


# --- plan and apply --------------------------------------------------------------------------


def plan(
    config: Config,
    action: Action,
    workload: str | WorkloadId,
    *,
    repo: str | RepositoryConfig | None = None,
    branch: str | None = None,
    file: str | None = None,
    user: str | None = None,
    body: str | None = None,
) -> Outcome:
    """What :func:`apply` would commit (diff and message) on the current tip; writes nothing
    (a clone in the state directory is synced)."""
    return run(
        config,
        action,
        workload,
        repo=repo,
        branch=branch,
        file=file,
        user=user,
        body=body,
        dry_run=True,
    )


def apply(
    config: Config,
    action: Action,
    workload: str | WorkloadId,
    *,
    repo: str | RepositoryConfig | None = None,
    branch: str | None = None,
    file: str | None = None,
    user: str | None = None,
    body: str | None = None,
    author: bool = False,
    expect_diff: str | None = None,
) -> Outcome:
    """Commit the change (and push it, or open a pull request, as the repository says).

    *author*: the commit is authored by *user* (the committer stays the configured one).
    *expect_diff*: the diff a :func:`plan` showed (or its :func:`diff_digest`); if the change
    computed now differs (the branch moved under it), :class:`PlanChanged` and nothing is
    committed.
    """
    return run(
        config,
        action,
        workload,
        repo=repo,
        branch=branch,
        file=file,
        user=user,
        body=body,
        dry_run=False,
        author=author,
        expect_diff=expect_diff,
    )


def run(
    config: Config,
    action: Action,
    workload: str | WorkloadId,
    *,
    repo: str | RepositoryConfig | None,
    branch: str | None,
    file: str | None,
    user: str | None,
    body: str | None,
    dry_run: bool,
    author: bool = False,
    expect_diff: str | None = None,
) -> Outcome:
    """:func:`plan` (*dry_run*) or :func:`apply`."""
    try:
        return _run(
            config,
            action,
            workload,
            repo=repo,
            branch=branch,
            file=file,
            user=user,
            body=body,
            dry_run=dry_run,
            author=author,
            expect_diff=expect_diff,
        )
    finally:
        if action.close is not None:
            action.close()


def _run(
    config: Config,
    action: Action,
    workload: str | WorkloadId,
    *,
    repo: str | RepositoryConfig | None,
    branch: str | None,
    file: str | None,
    user: str | None,
    body: str | None,
    dry_run: bool,
    author: bool,
    expect_diff: str | None,
) -> Outcome:
    wanted = workload if isinstance(workload, WorkloadId) else WorkloadId.parse(workload)
    if isinstance(repo, RepositoryConfig):
        settings = replace(repo, branch=branch) if branch is not None else repo
    else:
        settings = pick_repository(config, repo, branch)
    if settings.write_mode != "direct":
        slug = re.sub(r"[^a-z0-9]+", "-", f"{action.name} {wanted}".lower()).strip("-")
        settings = replace(settings, push_branch=f"{settings.push_branch}-{slug}")
    if author and user:
        name, email = person(user)
        settings = replace(
            settings,
            commit=replace(
                settings.commit,
                author_name=name,
                author_email=email,
                committer_name=settings.commit.committer_name or settings.commit.author_name,
                committer_email=settings.commit.committer_email or settings.commit.author_email,
            ),
        )
    subject = action.subject
    outcome = Outcome(
        action.name,
        subject.format(workload=wanted),
        settings.display_name,
        settings.branch,
        dry_run,
        subject_template=subject,
        user=user,
    )

    with Workspace.open(settings, config.resolved_state_dir()) as ws:
        outcome.branch = ws.branch

        def compute(base: str) -> ManualChange:
            found = read_checkout(ws.root, settings)
            chosen = find_target(found, ws.root, wanted, file=file)
            old = (ws.root / chosen.file).read_bytes()
            edited = action.edit(chosen, old)
            if edited.content == old:
                return ManualChange({}, "", target=chosen, old=old, edited=edited)
            title = edited.subject or subject.format(workload=chosen.id)
            text = (
                action.message(title, chosen, edited, settings, ws.branch)
                if action.message
                else None
            )
            if text is None:
                text = commit_message(title, chosen, edited, user=user)
                if body:
                    head, _, rest = text.partition("\n\n")
                    text = f"{head}\n\n{body.strip()}\n\n{rest}"
            change = ManualChange(
                {chosen.file: edited.content}, text, target=chosen, old=old, edited=edited
            )
            shown = diff_of(change)
            if expect_diff is not None and expect_diff not in (shown, diff_digest(shown)):
                raise PlanChanged(
                    f"{chosen.id}: the change is no longer the one shown ({settings.display_name} "
                    "moved meanwhile); nothing committed",
                    hint="look at the new plan and confirm again",
                )
            return change

        if dry_run:
            base = ws.sync() if ws.kind == "clone" else ws.head()
            outcome.base = base
            _fill(outcome, compute(base))
        else:
            published: Published[ManualChange] = ws.publish(
                compute, settings.commit, mode=settings.write_mode
            )
            if published.change is not None:
                _fill(outcome, published.change)
            outcome.base = published.base
            outcome.commit = published.sha
            outcome.pushed = published.pushed
            outcome.pushed_to = published.branch
            if published.sha is not None and settings.write_mode == "pull-request":
                outcome.pull_request = _pull_request(settings, ws, published)
            if published.sha is not None and action.after is not None:
                action.after(config, outcome, ws)
            if published.sha is not None and outcome.target is not None:
                # Who asked; the timeline folds it into the history row of the same commit.
                from imagebot.operations.events import record_quietly

                record_quietly(
                    config,
                    repository=outcome.repository,
                    workload=outcome.target.id,
                    action=action.name,
                    subject=outcome.subject,
                    user=user,
                    message=body,
                    commit=published.sha,
                    pull_request=outcome.pull_request,
                )
    return outcome


def diff_digest(diff: str) -> str:
    """A short stand-in for a plan's diff (``sha256:<hex>``), accepted by ``expect_diff``."""
    import hashlib

    return "sha256:" + hashlib.sha256(diff.encode()).hexdigest()


def diff_of(change: ManualChange) -> str:
    """The unified diff of a change's one file ("" when it changes nothing)."""
    if change.target is None or not change.files:
        return ""
    path = change.target.file
    old = change.old.decode("utf-8", "replace").splitlines(keepends=True)
    new = change.files[path].decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _fill(outcome: Outcome, change: ManualChange) -> None:
    outcome.target = change.target
    if change.target is not None:
        outcome.subject = outcome.subject_template.format(workload=change.target.id)
    if change.edited is not None and change.edited.subject:
        outcome.subject = change.edited.subject
    outcome.edited = change.edited
    outcome.message = change.message
    outcome.diff = diff_of(change)


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
