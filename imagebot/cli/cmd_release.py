"""``imagebot release WORKLOAD --tag T``: deploy a tag by hand (``fluxctl release``).

The same byte-exact edit an automated update makes (:func:`imagebot.manifests.rewrite`), for
one container of one workload, committed as "Release <image>:<tag> to <workload>" and
recorded in the history with mode ``release``. A locked (or ignored) workload is refused
unless ``--force``: the lock is someone's decision.

Before committing, the registry is asked whether the tag exists (one ``HEAD`` request for its
manifest, which Docker Hub does not count as a pull). A tag the registry does not have is
refused; a registry that cannot be asked (offline, no credentials) only earns a note, unless
the reference is pinned by digest, whose new digest then has to come from ``--digest``.
``--no-check-tag`` skips the question.
"""

from __future__ import annotations

import asyncio

import click

from imagebot.cli import manual
from imagebot.cli.common import complete_container
from imagebot.config import Config, RepositoryConfig, load_config
from imagebot.errors import ImagebotError, NotFound, RegistryError
from imagebot.gitops import Workspace
from imagebot.manifests import Edit, ImageSite, rewrite, scan_bytes
from imagebot.reference import validate_digest, validate_tag
from imagebot.store import Store, store_path
from imagebot.update import Resolution, Runner, history
from imagebot.update.changes import DEFAULT_MESSAGE, render, template_fields

#: How long the registry may take to say whether a tag exists.
CHECK_TIMEOUT = 30.0


class _Registry:
    """Asks the registry for a tag's digest, once per image and tag (pushes may retry)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.runner: Runner | None = None
        self.answers: dict[tuple[str, str], str | RegistryError | TimeoutError] = {}

    def digest(self, site: ImageSite, tag: str) -> str | RegistryError | TimeoutError:
        assert site.image is not None
        key = (site.image.repository, tag)
        if key not in self.answers:
            if self.runner is None:
                self.runner = Runner(self.config)
                self.runner.start()
            client = self.runner.client
            try:
                self.answers[key] = self.runner.run(
                    asyncio.wait_for(client.get_digest(site.image, tag), CHECK_TIMEOUT)
                )
            except (RegistryError, TimeoutError) as exc:
                self.answers[key] = exc
        return self.answers[key]

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()


def _new_digest(
    target: manual.Target,
    site: ImageSite,
    tag: str,
    digest: str | None,
    registry: _Registry | None,
    notes: list[str],
) -> str | None:
    """The digest to write (None for references not pinned by digest)."""
    assert site.image is not None
    shown = f"{site.image.familiar_name}:{tag}"
    answer = registry.digest(site, tag) if registry is not None else None
    if isinstance(answer, NotFound):
        raise manual.refuse(
            target,
            f"{shown} does not exist in the registry ({answer.reason})",
            hint="check the tag, or pass --no-check-tag to release it anyway",
        )
    if isinstance(answer, RegistryError | TimeoutError):
        reason = str(answer) or "no answer in time"
        notes.append(f"could not ask the registry whether {shown} exists ({reason})")
        answer = None
    if digest is not None and answer is not None and digest != answer:
        raise manual.refuse(target, f"the registry says {shown} is {answer}, not {digest}")
    pinned = site.digest is not None
    if not pinned:
        if digest is not None:
            notes.append(f"--digest not written: {site.reference_text} is not pinned by digest")
        return None
    found = digest or answer
    if found is None:
        raise manual.refuse(
            target,
            f"{site.reference_text} is pinned by digest and the digest of {shown} is unknown",
            hint="pass --digest sha256:... (the registry could not be asked)",
        )
    return found


@click.command("release")
@manual.workload_argument
@click.option("-t", "--tag", required=True, help="The tag to deploy.")
@click.option(
    "-c",
    "--container",
    metavar="NAME",
    shell_complete=complete_container,
    help="The container to change; not needed when the workload has only one.",
)
@click.option(
    "--digest",
    metavar="sha256:...",
    help="The tag's digest, for references pinned by digest (default: asked from the registry).",
)
@click.option("--force", is_flag=True, help="Release even if the workload is locked or ignored.")
@click.option(
    "--check-tag/--no-check-tag",
    default=True,
    show_default=True,
    help="Ask the registry that the tag exists before committing.",
)
@manual.workload_options()
def command(
    request: manual.Request,
    tag: str,
    container: str | None,
    digest: str | None,
    force: bool,
    check_tag: bool,
) -> None:
    """Deploy TAG to a container of WORKLOAD (namespace:kind/name) by hand.

    Exit status: 0 committed (or already at the tag), 1 refused (locked, unknown tag) or
    failed, 2 usage errors.
    """
    tag = validate_tag(tag)
    if digest is not None:
        digest = validate_digest(digest)
    registry = _Registry(load_config(request.config_path)) if check_tag else None

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        picked = [container] if container else []
        name = manual.pick_containers(chosen, picked, False, allow_all=False)[0]
        site = chosen.site(name)
        if site.image is None:
            raise manual.refuse(chosen, f"container {name}: {site.error or 'no image'}")
        why = "locked" if site.locked else "ignored"
        if site.locked and (site.lock_user or site.lock_message):
            by = f" by {site.lock_user}" if site.lock_user else ""
            said = f": {site.lock_message}" if site.lock_message else ""
            why += by + said
        if not force and (site.locked or site.ignored):
            raise manual.refuse(
                chosen,
                f"is {why}; not released",
                hint=f"unlock it first (imagebot unlock {chosen.id}), or pass --force"
                if site.locked
                else "pass --force to release it anyway",
            )
        subject = f"Release {site.image.familiar_name}:{tag} to {chosen.id}"
        if site.tag == tag and (digest is None or digest == site.digest):
            return manual.Edited(content, subject=subject, unchanged=f"{name} already runs {tag}")
        notes: list[str] = []
        new_digest = _new_digest(chosen, site, tag, digest, registry, notes)
        result = rewrite(content, [Edit(site, tag, new_digest)])
        if result.errors:
            raise ImagebotError(result.errors[0])
        again = [
            s
            for s in scan_bytes(result.content, chosen.file).sites
            if s.workload == chosen.id and s.container == name
        ]
        if len(again) != 1 or again[0].tag != tag:
            raise manual.refuse(chosen, f"refused: {name} would not read as {tag} after the edit")
        notes.extend(result.notes)
        if site.locked or site.ignored:
            notes.append(f"released with --force although it is {why}")
        if site.automated and not site.locked:
            notes.append(
                f"{chosen.id} is automated ({site.policy}): the next cycle may move {name} "
                "again; lock it to keep this tag"
            )
        resolution = Resolution(
            site,
            "update",
            "released by hand",
            policy=site.policy,
            new_tag=tag,
            new_digest=new_digest,
        )
        new_reference = again[0].reference_text
        return manual.Edited(
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
        )

    def commit_text(
        title: str,
        chosen: manual.Target,
        edited: manual.Edited,
        repo: RepositoryConfig,
        branch_name: str,
    ) -> str | None:
        if repo.commit.message is None:
            return None  # the fluxctl-style message
        fields = template_fields(
            edited.resolutions, repository=repo.display_name, branch=branch_name
        )
        fields["subject"] = title
        text = render(repo.commit.message or DEFAULT_MESSAGE, fields, key="commit.message")
        if request.message:
            text = text.rstrip("\n") + "\n\n" + request.message.strip()
        return text if text.endswith("\n") else text + "\n"

    def record(config: Config, outcome: manual.Outcome, ws: Workspace) -> None:
        if outcome.edited is None or not outcome.edited.resolutions:
            return
        with Store.open(store_path(config)) as store:
            history.record(
                store,
                outcome.edited.resolutions,
                repository=outcome.repository,
                url=ws.url,
                branch=ws.branch,
                target=outcome.pushed_to or ws.branch,
                mode="release",
                commit=outcome.commit,
                pushed=outcome.pushed,
                pull_request=outcome.pull_request,
            )

    try:
        request.run(
            action_name="release",
            subject="Release to {workload}",
            action=action,
            message=commit_text,
            after=record,
        )
    finally:
        if registry is not None:
            registry.close()
