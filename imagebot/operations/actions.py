"""The named manual changes, one function each, each returning an :class:`Action`.

An action only computes the workload's file's new bytes (byte for byte, read back as the next
update cycle reads it, refused when it would not read as asked); :func:`~imagebot.operations.
change.plan` and :func:`~imagebot.operations.change.apply` preview and commit it. The command
line and the web build the same actions, so both make the same commit.

=============  ==========================================  ===============================
action         writes                                      commit subject
=============  ==========================================  ===============================
lock           ``locked``, ``locked_msg``, ``locked_user``   Locked: <workload>
unlock         removes the three                           Unlocked: <workload>
automate       ``automated: "true"``                       Automated: <workload>
deautomate     removes ``automated`` (else ``"false"``)     Deautomated: <workload>
policy_set     ``tag.<container>``                          Updated policies: <workload>
policy_unset   removes ``tag.<container>`` (``tag_all``)    Updated policies: <workload>
release        the image reference (tag, digest)           Release <image>:<tag> to <wl>
rollback       the image reference, then a lock             Roll back <image> to <tag> ...
=============  ==========================================  ===============================
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from imagebot.config import Config, RepositoryConfig
from imagebot.errors import ImagebotError, InvalidInput, NotFound, PolicyError, RegistryError
from imagebot.gitops import Workspace
from imagebot.manifests import Edit, ImageSite, rewrite, scan_bytes
from imagebot.manifests.annotate import (
    WorkloadDoc,
    find_workloads,
    lock_edits,
    set_policy,
    unset_policy,
)
from imagebot.manifests.annotations import ARGO, DEFAULT_POLICY, IMAGEBOT
from imagebot.operations.change import Action, Edited, Outcome, edit_annotations, refuse
from imagebot.operations.workloads import Target, pick_containers
from imagebot.policy.gates import GateReport
from imagebot.store import Store
from imagebot.update import Resolution, Runner

#: How long the registry may take to say whether a tag exists.
CHECK_TIMEOUT = 30.0


# --- lock and unlock ---------------------------------------------------------------------


def reads_locked(message: str | None, user: str | None) -> Callable[[list[ImageSite]], str | None]:
    def check(sites: list[ImageSite]) -> str | None:
        for site in sites:
            if not site.locked:
                return f"container {site.container} does not read as locked"
            if (site.lock_message, site.lock_user) != (message, user):
                return (
                    f"container {site.container} reads lock message {site.lock_message!r} and "
                    f"user {site.lock_user!r}"
                )
        return None

    return check


def _lock_edit(chosen: Target, content: bytes, message: str | None, user: str | None) -> Edited:
    edits = lock_edits(chosen.annotations, message, user)
    return edit_annotations(
        chosen, content, edits, reads_locked(message, user), unchanged="already locked"
    )


def lock(message: str | None, user: str | None) -> Action:
    """Freeze the workload's images: ``locked: "true"`` with ``locked_msg`` *message* and
    ``locked_user`` *user*; a message or user left from an earlier lock is removed rather than
    misattributed."""
    message = message.strip() if message and message.strip() else None
    return Action(
        "lock",
        "Locked: {workload}",
        lambda chosen, content: _lock_edit(chosen, content, message, user),
    )


def reads_unlocked(sites: list[ImageSite]) -> str | None:
    still = [s.container for s in sites if s.locked or s.lock_message or s.lock_user]
    return f"container(s) {', '.join(still)} still read as locked" if still else None


def unlock() -> Action:
    """Remove ``locked``, ``locked_msg`` and ``locked_user`` under every prefix."""

    def edit(chosen: Target, content: bytes) -> Edited:
        annotations = chosen.annotations
        edits = [
            edit
            for name in ("locked", "locked_msg", "locked_user")
            for edit in unset_policy(annotations, name)
        ]
        return edit_annotations(chosen, content, edits, reads_unlocked, unchanged="not locked")

    return Action("unlock", "Unlocked: {workload}", edit)


# --- automation ----------------------------------------------------------------------------


def reads_automated(sites: list[ImageSite]) -> str | None:
    """None when every container reads as automated, else what does not."""
    off = [s.container for s in sites if not s.automated]
    return f"container(s) {', '.join(off)} do not read as automated" if off else None


def automate() -> Action:
    """``automated: "true"`` under the prefix the workload already uses."""

    def edit(chosen: Target, content: bytes) -> Edited:
        edits = set_policy(chosen.annotations, "automated", "true")
        return edit_annotations(
            chosen, content, edits, reads_automated, unchanged="already automated"
        )

    return Action("automate", "Automated: {workload}", edit)


def reads_not_automated(sites: list[ImageSite]) -> str | None:
    """None when no container reads as automated, else which do and why."""
    on = [s for s in sites if s.automated]
    if not on:
        return None
    names = ", ".join(s.container for s in on)
    if any(s.source == "annotation:" + ARGO.rstrip("/") for s in on):
        return (
            f"container(s) {names} still read as automated: Argo CD Image Updater annotations "
            f"always automate; remove {ARGO}image-list to stop"
        )
    return f"container(s) {names} still read as automated ({on[0].source})"


def deautomate() -> Action:
    """Remove ``automated`` under every prefix; where that is not enough (a Flux v2
    ``$imagepolicy`` marker updates unless told ``"false"``), write ``"false"``."""

    def edit(chosen: Target, content: bytes) -> Edited:
        annotations = chosen.annotations
        return edit_annotations(
            chosen,
            content,
            unset_policy(annotations, "automated"),
            reads_not_automated,
            unchanged="not automated",
            fallback=set_policy(annotations, "automated", "false"),
        )

    return Action("deautomate", "Deautomated: {workload}", edit)


# --- tag policies ---------------------------------------------------------------------------

#: Policy kinds Flux v1 understands; others work for imagebot only.
_FLUX_V1_KINDS = ("glob", "semver", "regex", "regexp")
_POLICY_SUBJECT = "Updated policies: {workload}"


def written_policy(text: str) -> tuple[str, str]:
    """(text to write, normalised policy): a bare pattern gets ``glob:``, as fluxctl wrote it."""
    from imagebot.manifests.policycheck import check_policy

    normalised, problem = check_policy(text)
    if problem:
        raise PolicyError(f"policy {text.strip()!r}: {problem}")
    written = text.strip()
    if normalised.startswith("glob:") and not written.startswith("glob:"):
        written = "glob:" + written
    return written, normalised


def _not_from_marker(target: Target, containers: list[str]) -> None:
    for name in containers:
        site = target.site(name)
        if site.source.startswith("marker:"):
            raise refuse(
                target,
                f"container {name}'s policy comes from its {site.source} comment",
                hint="change that image policy instead; annotations do not govern marked values",
            )


def _policy_check(
    target: Target, wanted: dict[str, str | None]
) -> Callable[[list[ImageSite]], str | None]:
    """Each container reads its wanted policy (None: the default) and nothing else moved."""
    before = {s.container: (s.automated, s.locked) for s in target.sites}

    def check(sites: list[ImageSite]) -> str | None:
        for site in sites:
            if (site.automated, site.locked) != before.get(site.container, (None, None)):
                return (
                    f"container {site.container} would no longer read as "
                    f"{'automated' if before[site.container][0] else 'not automated'} "
                    f"({site.source})"
                )
            if site.container not in wanted:
                continue
            want = wanted[site.container]
            if want is None:
                want = DEFAULT_POLICY if site.automated else None
                if site.policy != want:
                    return (
                        f"container {site.container} still reads policy {site.policy!r} "
                        "(a tag_all annotation applies to every container: use --all-containers)"
                    )
            elif site.policy != want:
                return f"container {site.container} reads policy {site.policy!r}, not {want!r}"
        return None

    return check


def policy_set(policy: str, containers: Iterable[str] = (), *, every: bool = False) -> Action:
    """``tag.<container>: <policy>`` for the named containers (or every one); a bare pattern
    such as ``1.*`` is written as ``glob:1.*``. PolicyError at once for a bad policy."""
    written, normalised = written_policy(policy)
    names_given = tuple(containers)

    def edit(chosen: Target, content: bytes) -> Edited:
        names = pick_containers(chosen, names_given, every)
        _not_from_marker(chosen, names)
        edits = []
        for name in names:
            edits += set_policy(chosen.annotations, f"tag.{name}", written)
        check = _policy_check(chosen, {name: normalised for name in names})
        edited = edit_annotations(
            chosen, content, edits, check, unchanged=f"already has policy {written}"
        )
        kind = normalised.partition(":")[0]
        if kind not in _FLUX_V1_KINDS and any(not e.key.startswith(IMAGEBOT) for e in edits):
            edited.notes.append(
                f"{normalised} is an imagebot policy: Flux v1 does not understand it, so "
                "only imagebot should automate this workload"
            )
        return edited

    return Action("policy", _POLICY_SUBJECT, edit)


def policy_unset(containers: Iterable[str] = (), *, every: bool = False) -> Action:
    """Remove ``tag.<container>`` (with *every*, ``tag_all`` too): an automated container
    without a policy follows ``glob:*``."""
    names_given = tuple(containers)

    def edit(chosen: Target, content: bytes) -> Edited:
        names = pick_containers(chosen, names_given, every)
        _not_from_marker(chosen, names)
        edits = []
        for name in names:
            edits += unset_policy(chosen.annotations, f"tag.{name}")
        if every:
            edits += unset_policy(chosen.annotations, "tag_all")
        check = _policy_check(chosen, dict.fromkeys(names))
        return edit_annotations(
            chosen, content, edits, check, unchanged="has no tag policy annotation to remove"
        )

    return Action("policy", _POLICY_SUBJECT, edit)


# --- release and rollback ------------------------------------------------------------------


class TagChecker:
    """Asks the registry for a tag's digest, once per image and tag (pushes may retry)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.runner: Runner | None = None
        self.store: Store | None = None
        self.answers: dict[tuple[str, str], str | RegistryError | TimeoutError] = {}

    def digest(self, site: ImageSite, tag: str) -> str | RegistryError | TimeoutError:
        assert site.image is not None
        key = (site.image.repository, tag)
        if key not in self.answers:
            runner = self._start()
            client = runner.client
            try:
                self.answers[key] = runner.run(
                    asyncio.wait_for(client.get_digest(site.image, tag), CHECK_TIMEOUT)
                )
            except (RegistryError, TimeoutError) as exc:
                self.answers[key] = exc
        return self.answers[key]

    def gates(self, site: ImageSite, tag: str) -> GateReport | None:
        """The supply-chain gates' verdict on *tag* for *site* (None: no gate applies).
        A registry that cannot answer makes every gate reject ("cannot decide")."""
        from datetime import UTC, datetime

        from imagebot.policy.gates import TagFacts, evaluate
        from imagebot.update.gating import FactFinder, gates_for

        assert site.image is not None
        gates = gates_for(site, self.config)
        if not gates.active:
            return None
        runner = self._start()
        finder = FactFinder(runner.client, self.config, datetime.now(UTC))
        image = site.image

        async def check() -> GateReport:
            try:
                facts = await finder.facts(image, tag, gates)
                platforms = await finder.current_platforms(site) if gates.keep_platforms else None
            except RegistryError as exc:
                facts, platforms = TagFacts(tag, error=exc.reason), None
            return evaluate(
                gates, facts, now=finder.now, current_platforms=platforms, current=site.tag
            )

        try:
            return runner.run(asyncio.wait_for(check(), CHECK_TIMEOUT))
        except TimeoutError:
            return evaluate(gates, TagFacts(tag, error="no answer in time"), now=finder.now)

    def _start(self) -> Runner:
        """The registry runner, with the state store (first-seen times) when it opens."""
        if self.runner is None:
            from imagebot.store import open_store

            try:
                self.store = open_store(self.config)
            except ImagebotError:
                self.store = None  # the age gate then cannot decide, and says so
            self.runner = Runner(self.config, self.store)
            self.runner.start()
        return self.runner

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        if self.store is not None:
            self.store.close()
            self.store = None


def _new_digest(
    target: Target,
    site: ImageSite,
    tag: str,
    digest: str | None,
    registry: TagChecker | None,
    notes: list[str],
) -> str | None:
    """The digest to write (None for references not pinned by digest)."""
    assert site.image is not None
    shown = f"{site.image.familiar_name}:{tag}"
    answer = registry.digest(site, tag) if registry is not None else None
    if isinstance(answer, NotFound):
        raise refuse(
            target,
            f"{shown} does not exist in the registry ({answer.reason})",
            hint="check the tag, or pass --no-check-tag to release it anyway",
        )
    if isinstance(answer, RegistryError | TimeoutError):
        reason = str(answer) or "no answer in time"
        notes.append(f"could not ask the registry whether {shown} exists ({reason})")
        answer = None
    if digest is not None and answer is not None and digest != answer:
        raise refuse(target, f"the registry says {shown} is {answer}, not {digest}")
    pinned = site.digest is not None
    if not pinned:
        if digest is not None:
            notes.append(f"--digest not written: {site.reference_text} is not pinned by digest")
        return None
    found = digest or answer
    if found is None:
        raise refuse(
            target,
            f"{site.reference_text} is pinned by digest and the digest of {shown} is unknown",
            hint="pass --digest sha256:... (the registry could not be asked)",
        )
    return found


def _release_edit(
    chosen: Target,
    content: bytes,
    *,
    tag: str,
    container: str | None,
    digest: str | None,
    force: bool,
    registry: TagChecker | None,
    reason: str = "released by hand",
    config: Config | None = None,
) -> Edited:
    picked = [container] if container else []
    name = pick_containers(chosen, picked, False, allow_all=False)[0]
    site = chosen.site(name)
    if site.image is None:
        raise refuse(chosen, f"container {name}: {site.error or 'no image'}")
    why = "locked" if site.locked else "ignored"
    if site.locked and (site.lock_user or site.lock_message):
        by = f" by {site.lock_user}" if site.lock_user else ""
        said = f": {site.lock_message}" if site.lock_message else ""
        why += by + said
    if not force and (site.locked or site.ignored):
        raise refuse(
            chosen,
            f"is {why}; not released",
            hint=f"unlock it first (imagebot unlock {chosen.id}), or pass --force"
            if site.locked
            else "pass --force to release it anyway",
        )
    subject = f"Release {site.image.familiar_name}:{tag} to {chosen.id}"
    if site.tag == tag and (digest is None or digest == site.digest):
        return Edited(content, subject=subject, unchanged=f"{name} already runs {tag}")
    notes: list[str] = []
    forced_past_gates = _check_gates(chosen, site, tag, registry, force, notes, config)
    new_digest = _new_digest(chosen, site, tag, digest, registry, notes)
    result = rewrite(content, [Edit(site, tag, new_digest)])
    if result.errors:
        raise ImagebotError(result.errors[0])
    again = [
        s
        for s in scan_bytes(
            result.content, chosen.file, default_namespace=chosen.default_namespace
        ).sites
        if s.workload == chosen.id and s.container == name
    ]
    if len(again) != 1 or again[0].tag != tag:
        raise refuse(chosen, f"refused: {name} would not read as {tag} after the edit")
    notes.extend(result.notes)
    if site.locked or site.ignored:
        notes.append(f"released with --force although it is {why}")
    if site.automated and not site.locked:
        notes.append(
            f"{chosen.id} is automated ({site.policy}): the next cycle may move {name} "
            "again; lock it to keep this tag"
        )
    resolution = Resolution(
        site, "update", reason, policy=site.policy, new_tag=tag, new_digest=new_digest
    )
    new_reference = again[0].reference_text
    return Edited(
        result.content,
        changes=[
            {
                "container": name,
                "image": site.reference_text,
                "new_image": new_reference,
                "old_tag": site.tag,
                "new_tag": tag,
                "old_digest": site.digest,
                "new_digest": new_digest,
            }
        ],
        lines=[f"~ {name}: {site.reference_text} -> {new_reference}"],
        notes=notes,
        resolutions=[resolution],
        subject=subject,
        forced_past_gates=forced_past_gates,
    )


def _check_gates(
    target: Target,
    site: ImageSite,
    tag: str,
    registry: TagChecker | None,
    force: bool,
    notes: list[str],
    config: Config | None,
) -> bool:
    """Refuse a tag the supply-chain gates hold, unless *force*; True when forced past them."""
    from imagebot.update.gating import gates_for

    shown = f"{site.image.familiar_name}:{tag}" if site.image is not None else tag
    if registry is not None:
        report = registry.gates(site, tag)
        if report is None or report.passed:
            return False
        why = report.reason
    elif config is not None and gates_for(site, config).explicit:
        why = "the gates cannot be checked without asking the registry (--no-check-tag)"
    else:
        return False
    if not force:
        raise refuse(
            target,
            f"{shown} is held by the supply-chain gates: {why}",
            hint="pass --force to release it anyway (the history records it as forced)",
        )
    notes.append(f"released with --force past the supply-chain gates: {why}")
    return True


def _release_message(
    body: str | None,
) -> Callable[[str, Target, Edited, RepositoryConfig, str], str | None]:
    """The repository's ``commit.message`` template when it has one, else fluxctl's."""

    def message(
        title: str, chosen: Target, edited: Edited, repo: RepositoryConfig, branch: str
    ) -> str | None:
        from imagebot.update.changes import DEFAULT_MESSAGE, render, template_fields

        if repo.commit.message is None:
            return None  # the fluxctl-style message
        fields = template_fields(edited.resolutions, repository=repo.display_name, branch=branch)
        fields["subject"] = title
        text = render(repo.commit.message or DEFAULT_MESSAGE, fields, key="commit.message")
        if body:
            text = text.rstrip("\n") + "\n\n" + body.strip()
        return text if text.endswith("\n") else text + "\n"

    return message


def record_history(mode: str) -> Callable[[Config, Outcome, Workspace], None]:
    """After a commit: the image changes go into the history, with *mode*."""

    def record(config: Config, outcome: Outcome, ws: Workspace) -> None:
        from imagebot.store import open_store
        from imagebot.update import history

        if outcome.edited is None or not outcome.edited.resolutions:
            return
        recorded = f"{mode}-forced" if outcome.edited.forced_past_gates else mode
        with open_store(config) as store:
            history.record(
                store,
                outcome.edited.resolutions,
                repository=outcome.repository,
                url=ws.url,
                branch=ws.branch,
                target=outcome.pushed_to or ws.branch,
                mode=recorded,
                commit=outcome.commit,
                pushed=outcome.pushed,
                pull_request=outcome.pull_request,
            )

    return record


def release(
    config: Config,
    tag: str,
    *,
    container: str | None = None,
    digest: str | None = None,
    force: bool = False,
    check_tag: bool = True,
    body: str | None = None,
    mode: str = "release",
) -> Action:
    """Deploy *tag* to a container by hand: the same byte-exact edit an update makes,
    refused on a locked or ignored workload unless *force*; with *check_tag* the registry is
    asked that the tag exists (a registry that cannot answer only earns a note). Recorded in
    the history with *mode*."""
    from imagebot.reference import validate_digest, validate_tag

    tag = validate_tag(tag)
    if digest is not None:
        digest = validate_digest(digest)
    registry = TagChecker(config) if check_tag else None

    def edit(chosen: Target, content: bytes) -> Edited:
        return _release_edit(
            chosen,
            content,
            tag=tag,
            container=container,
            digest=digest,
            force=force,
            registry=registry,
            config=config,
        )

    return Action(
        "release",
        "Release to {workload}",
        edit,
        message=_release_message(body),
        after=record_history(mode),
        close=registry.close if registry is not None else None,
    )


def rollback(
    config: Config,
    tag: str,
    *,
    user: str | None,
    reason: str | None = None,
    container: str | None = None,
    check_tag: bool = True,
) -> Action:
    """Roll a container back to an earlier *tag* and lock the workload there, in one commit:
    the release edit, then a lock whose message is "rolled back by USER: reason". A locked
    workload may be rolled back (the new lock replaces the old)."""
    from imagebot.reference import validate_tag

    tag = validate_tag(tag)
    who = user or "someone"
    message = f"rolled back by {who}" + (f": {reason.strip()}" if reason and reason.strip() else "")
    registry = TagChecker(config) if check_tag else None

    def edit(chosen: Target, content: bytes) -> Edited:
        released = _release_edit(
            chosen,
            content,
            tag=tag,
            container=container,
            digest=None,
            force=True,
            registry=registry,
            config=config,
            reason=message,
        )
        if released.content == content:
            raise InvalidInput(f"{chosen.id}: {released.unchanged}; nothing to roll back")
        again = [
            s
            for s in scan_bytes(
                released.content, chosen.file, default_namespace=chosen.default_namespace
            ).sites
            if s.workload == chosen.id
        ]
        moved = Target(chosen.id, chosen.file, _doc_again(chosen, released.content), again)
        locked = _lock_edit(moved, released.content, message, user)
        site = chosen.site(released.changes[0]["container"])
        assert site.image is not None
        notes = [n for n in released.notes if "released with --force" not in n]
        notes = [n for n in notes if "the next cycle may move" not in n]
        return Edited(
            locked.content,
            changes=released.changes + locked.changes,
            lines=released.lines + locked.lines,
            notes=notes,
            resolutions=released.resolutions,
            subject=f"Roll back {site.image.familiar_name} to {tag} in {chosen.id}",
        )

    return Action(
        "rollback",
        "Roll back {workload}",
        edit,
        after=record_history("rollback"),
        close=registry.close if registry is not None else None,
    )


def _doc_again(chosen: Target, content: bytes) -> WorkloadDoc | None:

    old = chosen.annotated()
    for doc in find_workloads(content, chosen.file):
        if (doc.kind, doc.namespace, doc.name) == (old.kind, old.namespace, old.name):
            return doc
    return None


def approve(config: Config, tag: str, *, container: str, user: str | None) -> Action:
    """Commit an update that waited for approval: the release of *tag* (refused if the
    workload is locked meanwhile), recorded in the history with mode ``approval``."""
    action = release(config, tag, container=container, mode="approval")
    inner = action.edit

    def edit(chosen: Target, content: bytes) -> Edited:
        edited = inner(chosen, content)
        site = chosen.site(container)
        assert site.image is not None
        edited.subject = f"Update {site.image.familiar_name} to {tag} in {chosen.id} (approved)"
        edited.notes = [n for n in edited.notes if "the next cycle may move" not in n]
        if user:
            edited.lines.append(f"approved by {user}")
        return edited

    action.name = "approve"
    action.subject = "Approved update: {workload}"
    action.edit = edit
    action.message = None
    return action


#: The actions a request may name (web forms, the JSON API).
NAMES = ("lock", "unlock", "automate", "deautomate", "policy", "release", "rollback", "approve")


def by_name(
    config: Config,
    name: str,
    *,
    user: str | None,
    tag: str | None = None,
    container: str | None = None,
    policy: str | None = None,
    message: str | None = None,
) -> Action:
    """The action a request names, with its arguments checked (InvalidInput otherwise)."""

    def need(value: str | None, what: str) -> str:
        if not value or not value.strip():
            raise InvalidInput(f"{name} needs {what}")
        return value.strip()

    containers = [container] if container else []
    if name == "lock":
        return lock(message, user)
    if name == "unlock":
        return unlock()
    if name == "automate":
        return automate()
    if name == "deautomate":
        return deautomate()
    if name == "policy":
        if policy is not None and not policy.strip():
            return policy_unset(containers)
        return policy_set(need(policy, "a policy"), containers)
    if name == "release":
        return release(config, need(tag, "a tag"), container=container, body=message)
    if name == "rollback":
        return rollback(config, need(tag, "a tag"), user=user, reason=message, container=container)
    if name == "approve":
        return approve(
            config, need(tag, "a tag"), container=need(container, "a container"), user=user
        )
    raise InvalidInput(f"unknown action {name!r}", hint=f"one of {', '.join(NAMES)}")
