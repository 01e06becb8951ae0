"""What a repository's Flux ``ImageUpdateAutomation`` objects change in a cycle, and why.

imagebot's own config wins wherever it says something; a setting left at imagebot's default
takes the automation's value (``imagebot check`` lists each decision). The automations that
cover the changes decide (``Automation.covers``: their ``spec.update.path``):

==========================  ===================================================================
commit author               ``spec.git.commit.author`` unless ``commit.author_name`` /
                            ``author_email`` are set
commit message              ``messageTemplate`` (Flux's default text without one) rendered as
                            Flux renders it (:mod:`imagebot.gotemplate`), unless
                            ``commit.message`` is set; changes from several automations give
                            one message each, in order; a change no automation covers keeps
                            imagebot's message
push branch                 ``spec.git.push.branch``, or the branch of a
                            ``spec.git.push.refspec`` ``HEAD:refs/heads/<branch>``, other than
                            the checkout branch is imagebot's branch mode (``write_mode:
                            branch`` with that branch), unless ``write_mode`` / ``push_branch``
                            are set; a refspec in another form is an error (``check``) and the
                            cycle writes in branch mode to imagebot's own ``push_branch``,
                            never to the checkout branch
checkout branch, interval   ``spec.git.checkout.ref.branch`` and ``spec.interval`` when
                            ``branch`` / ``interval`` are not set
==========================  ===================================================================

Argo CD Image Updater's ``git-branch`` (:func:`argo_branch_settings`) sets the branches the
same way, after the automations: ``branch`` is the checkout branch, ``base:target`` checks out
*base* and pushes *target* (branch mode), ``:target`` pushes *target* from the branch read.
A *target* that is a template over the changes (``{{range .Images}}...``) is not rendered:
the cycle writes in branch mode to imagebot's own ``push_branch``, and says so. One branch
is written per repository: when applications ask for different ones, the first (by file and
line) is used and a note names the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imagebot.config import CommitConfig, Interval, RepositoryConfig
from imagebot.gitops.workspace import valid_branch_name
from imagebot.gotemplate import GoStruct, TemplateError, render
from imagebot.manifests import Edit
from imagebot.manifests.argocd import BranchRequest
from imagebot.manifests.fluxautomation import DEFAULT_FLUX_MESSAGE, Automation
from imagebot.manifests.rewrite import plan_values
from imagebot.reference import ImageReference
from imagebot.update.resolve import Resolution

_DEFAULTS = RepositoryConfig()
_COMMIT_DEFAULTS = CommitConfig()


@dataclass(frozen=True)
class Decision:
    """One setting and where its value came from."""

    setting: str
    value: str
    source: str  # "imagebot config" | "ImageUpdateAutomation ns/name (file:line)" | ...
    applied: bool = True
    tool: str = "flux"  # whose configuration asked: "flux" | "argocd"

    def to_dict(self) -> dict[str, Any]:
        """``setting``, ``value``, ``source``, ``applied`` (``check --output json``)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "tool"}

    def __str__(self) -> str:
        verb = "from" if self.applied else "not applied, from"
        return f"{self.setting}: {self.value} ({verb} {self.source})"


@dataclass
class FluxSettings:
    """The repository settings a cycle uses, with the decisions that made them."""

    repo: RepositoryConfig
    automations: list[Automation] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    #: What a cycle report should say about these settings (conflicting requests).
    notes: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.automations)


def usable(automations: Sequence[Any]) -> list[Automation]:
    return [a for a in automations if isinstance(a, Automation) and not a.error]


def _named(auto: Automation) -> str:
    return f"ImageUpdateAutomation {auto.key} ({auto.where})"


def _default_mode(repo: RepositoryConfig) -> bool:
    return repo.write_mode == _DEFAULTS.write_mode and repo.push_branch == _DEFAULTS.push_branch


def literal_branch(name: str) -> str:
    """*name* as a ``push_branch`` template that gives exactly *name*."""
    return name.replace("{", "{{").replace("}", "}}")


def flux_settings(
    repo: RepositoryConfig, automations: Sequence[Any], argo_branches: Sequence[Any] = ()
) -> FluxSettings:
    """*repo* with what the automations (then Argo CD applications' ``git-branch``,
    :func:`argo_branch_settings`) set where imagebot's config says nothing."""
    settings = _flux_settings(repo, automations)
    argo_branch_settings(settings, repo, argo_branches)
    return settings


def _flux_settings(repo: RepositoryConfig, automations: Sequence[Any]) -> FluxSettings:
    autos = usable(automations)
    settings = FluxSettings(repo, autos)
    if not autos:
        return settings
    first = autos[0]
    ours = "imagebot config"
    commit = repo.commit
    if first.author_name or first.author_email:
        if (commit.author_name, commit.author_email) == (
            _COMMIT_DEFAULTS.author_name,
            _COMMIT_DEFAULTS.author_email,
        ):
            commit = dataclasses.replace(
                commit,
                author_name=first.author_name or commit.author_name,
                author_email=first.author_email or commit.author_email,
            )
            settings.decisions.append(
                Decision(
                    "commit author", f"{commit.author_name} <{commit.author_email}>", _named(first)
                )
            )
        else:
            settings.decisions.append(
                Decision("commit author", f"{commit.author_name} <{commit.author_email}>", ours)
            )
    if repo.commit.message is None:
        settings.decisions.append(
            Decision(
                "commit message",
                "messageTemplate" if first.message_template else repr(DEFAULT_FLUX_MESSAGE),
                ", ".join(_named(a) for a in autos),
            )
        )
    else:
        settings.decisions.append(Decision("commit message", "commit.message", ours))
    push = first.refspec_branch or first.push_branch
    checkout = first.checkout_branch
    if first.refspec_error:
        if _default_mode(repo):
            settings.repo = dataclasses.replace(repo, write_mode="branch")
            settings.decisions.append(
                Decision(
                    "write mode",
                    f"branch {repo.push_branch} (imagebot's own: the refspec is not supported)",
                    _named(first),
                )
            )
        else:
            settings.decisions.append(
                Decision("write mode", f"{repo.write_mode} ({repo.push_branch})", ours)
            )
    elif push and push != (checkout or repo.branch):
        if _default_mode(repo):
            settings.repo = dataclasses.replace(
                repo, write_mode="branch", push_branch=literal_branch(push)
            )
            settings.decisions.append(Decision("write mode", f"branch {push}", _named(first)))
        else:
            settings.decisions.append(
                Decision("write mode", f"{repo.write_mode} ({repo.push_branch})", ours)
            )
    if checkout:
        if repo.branch is None and repo.path is None:
            settings.repo = dataclasses.replace(settings.repo, branch=checkout)
            settings.decisions.append(Decision("branch", checkout, _named(first)))
        elif repo.branch is None:
            # A local checkout is read on the branch it is on; imagebot does not switch it.
            settings.decisions.append(
                Decision("branch", checkout, _named(first) + "; a local checkout", applied=False)
            )
        elif repo.branch != checkout:
            settings.decisions.append(Decision("branch", repo.branch, ours))
    if first.interval is not None:
        if repo.interval is None:
            settings.repo = dataclasses.replace(settings.repo, interval=Interval(first.interval))
            settings.decisions.append(Decision("interval", f"{first.interval:g}s", _named(first)))
        else:
            settings.decisions.append(Decision("interval", f"{float(repo.interval):g}s", ours))
    if first.refspec and first.refspec_branch:
        settings.decisions.append(Decision("push refspec", first.refspec, _named(first)))
    settings.repo = dataclasses.replace(settings.repo, commit=commit)
    return settings


def argo_branch_settings(
    settings: FluxSettings, configured: RepositoryConfig, requests: Sequence[BranchRequest]
) -> None:
    """Apply the first application's ``git-branch`` to *settings* where neither imagebot's
    config (*configured*) nor an ImageUpdateAutomation set the branches; a note names the
    applications asking for other branches, which are not used."""
    if not requests:
        return
    first = requests[0]
    named = f"Argo CD application {first.app} git-branch {first.text!r} ({first.origin})"
    others = [r for r in requests[1:] if not r.same(first)]
    if others:
        settings.notes.append(
            f"{first.origin}: Argo CD application {first.app} asks to write to branch "
            f"{first.text!r}, which is used; imagebot writes one branch per repository, so "
            + "; ".join(f"{r.app} ({r.origin}) asking for {r.text!r}" for r in others)
            + " is not followed"
        )
    repo = settings.repo
    ours = "imagebot config" if repo == configured else "imagebot config or ImageUpdateAutomation"
    if first.base:
        if repo.branch is None and repo.path is None:
            repo = dataclasses.replace(repo, branch=first.base)
            settings.decisions.append(Decision("branch", first.base, named, tool="argocd"))
        elif repo.branch is None:
            settings.decisions.append(
                Decision("branch", first.base, named + "; a local checkout", False, "argocd")
            )
        elif repo.branch != first.base:
            settings.decisions.append(Decision("branch", repo.branch, ours, tool="argocd"))
    target = first.target
    if target and target != (first.base or repo.branch):
        if not _default_mode(repo):
            settings.decisions.append(
                Decision(
                    "write mode", f"{repo.write_mode} ({repo.push_branch})", ours, tool="argocd"
                )
            )
        elif first.templated:
            repo = dataclasses.replace(repo, write_mode="branch")
            settings.notes.append(
                f"{first.origin}: git-branch {first.text!r}: imagebot does not render a branch "
                f"name templated over the changes; it pushes to its own branch "
                f"(push_branch {repo.push_branch}), never to the branch it reads"
            )
            settings.decisions.append(
                Decision(
                    "write mode",
                    f"branch {repo.push_branch} (imagebot's own: a branch name templated over "
                    "the changes is not rendered)",
                    named,
                    tool="argocd",
                )
            )
        elif not valid_branch_name(target):
            settings.notes.append(
                f"{first.origin}: git-branch {first.text!r}: {target!r} is "
                "not a branch name; nothing is pushed to it"
            )
            repo = dataclasses.replace(repo, write_mode="branch")
            settings.decisions.append(
                Decision(
                    "write mode",
                    f"branch {repo.push_branch} (imagebot's own)",
                    named,
                    tool="argocd",
                )
            )
        else:
            repo = dataclasses.replace(
                repo, write_mode="branch", push_branch=literal_branch(target)
            )
            settings.decisions.append(
                Decision("write mode", f"branch {target}", named, tool="argocd")
            )
    settings.repo = repo


# --- the commit message, as Flux renders it ----------------------------------------------


class NamespacedName(GoStruct):
    fields = ("Namespace", "Name")

    def __init__(self, namespace: str, name: str) -> None:
        self.Namespace, self.Name = namespace, name

    def __str__(self) -> str:
        return f"{self.Namespace}/{self.Name}"


class ObjectIdentifier(GoStruct):
    """kyaml's ResourceIdentifier: sorted (and printed) as Go does, type first."""

    fields = ("APIVersion", "Kind", "Name", "Namespace")

    def __init__(self, api: str, kind: str, name: str, namespace: str) -> None:
        self.APIVersion, self.Kind, self.Name, self.Namespace = api, kind, name, namespace

    def __str__(self) -> str:
        return f"{{{{{self.APIVersion} {self.Kind}}} {{{self.Name} {self.Namespace}}}}}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectIdentifier) and self.sort_key() == other.sort_key()

    def __hash__(self) -> int:
        return hash(self.sort_key())


class Change(GoStruct):
    fields = ("OldValue", "NewValue", "Setter")

    def __init__(self, old: str, new: str, setter: str) -> None:
        self.OldValue, self.NewValue, self.Setter = old, new, setter

    def __str__(self) -> str:
        return f"{{{self.OldValue} {self.NewValue} {self.Setter}}}"


class ResultV2(GoStruct):
    """``.Changed``: file -> object -> changes, with Flux's two projections as methods."""

    fields = ("FileChanges",)
    methods = ("Changes", "Objects")

    def __init__(self, files: dict[str, dict[ObjectIdentifier, list[Change]]]) -> None:
        self.FileChanges = files

    def Changes(self) -> list[Change]:  # Go's method name, as templates spell it
        seen: dict[tuple[str, str, str], Change] = {}
        for file in sorted(self.FileChanges):
            for changes in self.FileChanges[file].values():
                for change in changes:
                    seen.setdefault((change.OldValue, change.NewValue, change.Setter), change)
        return list(seen.values())

    def Objects(self) -> dict[ObjectIdentifier, list[Change]]:
        out: dict[ObjectIdentifier, list[Change]] = {}
        for file in sorted(self.FileChanges):
            out.update(self.FileChanges[file])
        return out


class ImageRef(GoStruct):
    """Flux's ``ImageRef`` (``.Updated``, deprecated in Flux but still in many templates):
    the reference a policy chose, printed as used in the update."""

    methods = ("Identifier", "Repository", "Registry", "Name", "Policy", "String")

    def __init__(self, text: str, policy: NamespacedName | None) -> None:
        self._text, self._policy = text, policy
        self._ref = ImageReference.parse(text)

    def __str__(self) -> str:
        return self._text

    def sort_key(self) -> tuple[Any, ...]:
        return (self._text,)

    def String(self) -> str:
        return self._text

    def Identifier(self) -> str:
        return self._ref.tag or self._ref.digest or "latest"

    def Registry(self) -> str:
        return "index.docker.io" if self._ref.domain == "docker.io" else self._ref.domain

    def Repository(self) -> str:
        return self._ref.path

    def Name(self) -> str:
        return f"{self.Registry()}/{self.Repository()}:{self.Identifier()}"

    def Policy(self) -> NamespacedName | None:
        return self._policy


class FileResult(GoStruct):
    fields = ("Objects",)

    def __init__(self, objects: dict[ObjectIdentifier, list[ImageRef]]) -> None:
        self.Objects = objects


class Result(GoStruct):
    """``.Updated``: file -> object -> images, with ``Images`` and ``Objects``."""

    fields = ("Files",)
    methods = ("Images", "Objects")

    def __init__(self, files: dict[str, FileResult]) -> None:
        self.Files = files

    def Images(self) -> list[ImageRef]:
        seen: dict[str, ImageRef] = {}
        for file in sorted(self.Files):
            for refs in self.Files[file].Objects.values():
                for ref in refs:
                    seen.setdefault(str(ref), ref)
        return list(seen.values())

    def Objects(self) -> dict[ObjectIdentifier, list[ImageRef]]:
        out: dict[ObjectIdentifier, list[ImageRef]] = {}
        for file in sorted(self.Files):
            for obj, refs in self.Files[file].Objects.items():
                out.setdefault(obj, []).extend(refs)
        return out


def _chosen(res: Resolution) -> ImageRef | None:
    """The reference the policy chose for *res*, as Flux's ``ImageRef`` prints it."""
    site = res.site
    if site.image is None:
        return None
    name = res.new_name or (site.policy_image or site.image.written_name)
    text = name + (f":{res.new_tag}" if res.new_tag else "")
    text += f"@{res.new_digest}" if res.new_digest else ""
    policy = None
    if site.source.startswith("marker:"):
        namespace, _, pname = site.source[len("marker:") :].partition(":")
        policy = NamespacedName(namespace, pname)
    return ImageRef(text, policy)


def _setter(res: Resolution, role: str) -> str:
    source = res.site.source
    if not source.startswith("marker:"):
        return ""
    marker = source[len("marker:") :]
    return marker if role == "image" else f"{marker}:{role}"


def template_data(applied: Sequence[Resolution], automation: Automation) -> dict[str, Any]:
    """The value Flux hands its template: ``.AutomationObject``, ``.Changed``, ``.Values``."""
    files: dict[str, dict[ObjectIdentifier, list[Change]]] = {}
    updated: dict[str, FileResult] = {}
    prefix = automation.update_path + "/" if automation.update_path else ""
    for res in applied:
        site = res.site
        edit = Edit(site, res.new_tag, res.new_digest, res.new_name)
        try:
            changes, _, _ = plan_values(edit)
        except Exception:  # applied already, so planned already: never expected here
            changes = []
        file = site.file[len(prefix) :] if site.file.startswith(prefix) else site.file
        name, namespace = site.name, site.namespace or ""
        if site.kind in ("Kustomization", "Component") and not site.api_version.startswith(
            "kustomize.toolkit.fluxcd.io/"
        ):
            # kustomize's own file has no metadata: Flux names it by its type alone.
            name = namespace = ""
        obj = ObjectIdentifier(site.api_version, site.kind, name, namespace)
        bucket = files.setdefault(file, {}).setdefault(obj, [])
        for part, new in changes:
            bucket.append(Change(part.value, new, _setter(res, part.role)))
        ref = _chosen(res)
        if ref is not None:
            refs = updated.setdefault(file, FileResult({})).Objects.setdefault(obj, [])
            if all(str(r) != str(ref) for r in refs):
                refs.append(ref)
    return {
        "AutomationObject": NamespacedName(automation.namespace or "flux-system", automation.name),
        "Changed": ResultV2(files),
        "Updated": Result(updated),
        "Values": dict(automation.template_values),
    }


def flux_message(
    applied: Sequence[Resolution], settings: FluxSettings
) -> tuple[str | None, list[str]]:
    """The commit message Flux's automations would write for *applied*, and notes; None
    when imagebot's own message applies (its config sets one, or a change is outside every
    automation, or a template fails: the note says why)."""
    if not settings.active or settings.repo.commit.message is not None or not applied:
        return None, []
    groups: list[tuple[Automation, list[Resolution]]] = []
    for res in applied:
        auto = next((a for a in settings.automations if a.covers(res.site.file)), None)
        if auto is None:
            return None, []
        for owner, members in groups:
            if owner is auto:
                members.append(res)
                break
        else:
            groups.append((auto, [res]))
    messages = []
    for auto, members in groups:
        template = auto.message_template or DEFAULT_FLUX_MESSAGE
        try:
            messages.append(render(template, template_data(members, auto)))
        except TemplateError as exc:
            note = (
                f"{auto.where}: ImageUpdateAutomation {auto.key}: messageTemplate: {exc}; "
                "imagebot's own commit message is used"
            )
            return None, [note]
    text = "\n\n".join(m.rstrip("\n") for m in messages)
    return (text if text.strip() else DEFAULT_FLUX_MESSAGE) + "\n", []


__all__ = [
    "Decision",
    "FluxSettings",
    "argo_branch_settings",
    "flux_message",
    "flux_settings",
    "literal_branch",
    "template_data",
]
