"""Flux v2 ``ImageUpdateAutomation`` objects, as a repository keeps them.

Flux's image-automation-controller writes markers only under ``spec.update.path``, commits as
``spec.git.commit.author`` with ``spec.git.commit.messageTemplate``, checks out
``spec.git.checkout.ref.branch`` and pushes to ``spec.git.push.branch`` (a different branch:
imagebot's branch mode) and ``spec.git.push.refspec``, every ``spec.interval``. imagebot reads
them so a Flux repository works unchanged; its own config wins wherever it says something
(``flux_settings`` in :mod:`imagebot.update.fluxsettings` decides, ``imagebot check`` shows).

Reading is pure: :func:`read_automation` takes a composed document and returns an
:class:`Automation` whose ``error`` names the field that could not be used.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from imagebot.gitops.workspace import valid_branch_name
from imagebot.gotemplate import TemplateError, parse
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.goduration import parse_go_duration

KIND = "ImageUpdateAutomation"
#: What Flux commits with when ``messageTemplate`` is not set.
DEFAULT_FLUX_MESSAGE = "Update from image update automation"
#: Bounds on what is read from a repository (hostile input): a template longer than this is
#: refused, as are more template values.
MAX_TEMPLATE_BYTES = 16 << 10
MAX_TEMPLATE_VALUES = 64


@dataclass
class Automation:
    """One ``ImageUpdateAutomation`` (fields None when not written)."""

    file: str
    line: int
    namespace: str | None
    name: str
    update_path: str = ""  # repository-relative folder ("" = everything)
    checkout_branch: str | None = None
    push_branch: str | None = None
    refspec: str | None = None
    #: The branch ``refspec`` pushes the new commit to (``HEAD:refs/heads/<branch>`` and
    #: ``refs/heads/<checkout>:refs/heads/<branch>``, the forms imagebot supports).
    refspec_branch: str | None = None
    #: A refspec in another form (a Gerrit ``refs/for/`` ref, a pattern, another source, or
    #: a second branch besides ``push.branch``): reported; the rest of the automation applies.
    refspec_error: str | None = None
    refspec_line: int | None = None
    author_name: str | None = None
    author_email: str | None = None
    message_template: str | None = None
    template_values: dict[str, str] = field(default_factory=dict)
    interval: float | None = None
    #: ``key: problem`` when the object cannot be used, and the line it is about.
    error: str | None = None
    error_line: int | None = None
    #: A ``messageTemplate`` Go cannot parse (or imagebot's subset lacks): the rest of the
    #: automation still applies; its commits get imagebot's own message.
    template_error: str | None = None
    template_line: int | None = None

    @property
    def key(self) -> str:
        """``namespace/name``, as Flux's ``.AutomationObject`` prints it."""
        return f"{self.namespace or 'flux-system'}/{self.name}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def covers(self, file: str) -> bool:
        """Whether a marker in *file* is one this automation writes."""
        return self.update_path == "" or file.startswith(self.update_path + "/")


class _Bad(Exception):
    def __init__(self, node: Node | None, key: str, message: str) -> None:
        super().__init__(message)
        self.node, self.key, self.message = node, key, message


def read_automation(file: str, doc: Node) -> Automation:
    """The automation in *doc*; ``error`` set (``key: problem``) when unusable."""
    metadata = ys.get(doc, "metadata")
    line = doc.start_mark.line + 1
    auto = Automation(
        file, line, ys.get_str(metadata, "namespace"), ys.get_str(metadata, "name") or ""
    )
    try:
        if not auto.name:
            raise _Bad(metadata or doc, "metadata.name", "missing")
        spec = ys.get(doc, "spec")
        if not isinstance(spec, MappingNode):
            raise _Bad(spec or doc, "spec", "expected a mapping")
        update = ys.get(spec, "update")
        path = _text(ys.get(update, "path"), "spec.update.path")
        if path is not None:
            auto.update_path = _folder(path)
        strategy = _text(ys.get(update, "strategy"), "spec.update.strategy")
        if strategy not in (None, "Setters"):
            raise _Bad(ys.get(update, "strategy"), "spec.update.strategy", "only Setters exists")
        git = ys.get(spec, "git")
        auto.checkout_branch = _text(
            ys.get_path(git, ("checkout", "ref", "branch")), "spec.git.checkout.ref.branch"
        )
        auto.push_branch = _text(ys.get_path(git, ("push", "branch")), "spec.git.push.branch")
        refspec_node = ys.get_path(git, ("push", "refspec"))
        auto.refspec = _text(refspec_node, "spec.git.push.refspec")
        if auto.refspec is not None and refspec_node is not None:
            try:
                auto.refspec_branch = _refspec_branch(auto)
            except ValueError as exc:
                auto.refspec_error = f"spec.git.push.refspec: {exc}"
                auto.refspec_line = refspec_node.start_mark.line + 1
        commit = ys.get(git, "commit")
        auto.author_name = _text(ys.get_path(commit, ("author", "name")), "author.name")
        auto.author_email = _text(ys.get_path(commit, ("author", "email")), "author.email")
        template_node = ys.get(commit, "messageTemplate")
        auto.message_template = _text(template_node, "spec.git.commit.messageTemplate")
        template = auto.message_template
        if template is not None and len(template.encode()) > MAX_TEMPLATE_BYTES:
            raise _Bad(
                template_node, "spec.git.commit.messageTemplate", f"over {MAX_TEMPLATE_BYTES} bytes"
            )
        if template is not None and template_node is not None:
            try:
                parse(template)
            except TemplateError as exc:
                auto.template_error = f"spec.git.commit.messageTemplate: {exc}"
                auto.template_line = template_node.start_mark.line + 1
        values = ys.get(commit, "messageTemplateValues")
        for key, _, value in ys.items(values)[: MAX_TEMPLATE_VALUES + 1]:
            if len(auto.template_values) == MAX_TEMPLATE_VALUES:
                raise _Bad(values, "messageTemplateValues", f"over {MAX_TEMPLATE_VALUES} values")
            text = _text(value, f"messageTemplateValues.{key}")
            auto.template_values[key] = text or ""
        interval = _text(ys.get(spec, "interval"), "spec.interval")
        if interval is not None:
            try:
                auto.interval = parse_go_duration(interval)
            except ValueError as exc:
                raise _Bad(ys.get(spec, "interval"), "spec.interval", str(exc)) from None
            if auto.interval < 1:
                raise _Bad(ys.get(spec, "interval"), "spec.interval", "at least 1s")
    except _Bad as exc:
        auto.error_line = exc.node.start_mark.line + 1 if exc.node is not None else line
        auto.error = f"{exc.key}: {exc.message}"
    return auto


def _text(node: Node | None, key: str) -> str | None:
    if node is None:
        return None
    if not isinstance(node, ScalarNode) or ys.scalar_text(node) is None:
        raise _Bad(node, key, "expected a string")
    return node.value


_HEADS = "refs/heads/"


def _refspec_branch(auto: Automation) -> str:
    """The branch *auto*'s refspec pushes the new commit to; ValueError for another form."""
    text = (auto.refspec or "").strip()
    spec = text[1:] if text.startswith("+") else text
    source, colon, dest = spec.partition(":")
    if not colon or ":" in dest:
        raise ValueError(
            f"{text!r} is not <source>:<destination>; imagebot supports HEAD:refs/heads/<branch>"
        )
    # The new commit is on HEAD: the push branch, else the checkout branch (which, without
    # spec.git.checkout, is the GitRepository's: not known here).
    made_on = auto.push_branch or auto.checkout_branch
    mine = ("HEAD",) if made_on is None else ("HEAD", made_on, _HEADS + made_on)
    if source not in mine and not (made_on is None and source.startswith(_HEADS)):
        raise ValueError(
            f"{text!r} pushes {source}, not the branch holding the new commit; imagebot "
            "supports HEAD:refs/heads/<branch>"
        )
    if not dest.startswith(_HEADS):
        raise ValueError(
            f"{text!r} pushes to {dest}, which is not a branch (refs/heads/...); imagebot pushes "
            "only to a branch"
        )
    branch = dest[len(_HEADS) :]
    if not valid_branch_name(branch):
        raise ValueError(f"{text!r}: {branch!r} is not a branch name imagebot can push to")
    if auto.push_branch and auto.push_branch != branch:
        raise ValueError(
            f"{text!r} pushes to {branch} and spec.git.push.branch to {auto.push_branch}; "
            "imagebot pushes to one branch"
        )
    return branch


def _folder(path: str) -> str:
    """``./apps/`` -> ``apps``; ``./`` -> ``""``; refused when it leaves the repository."""
    norm = posixpath.normpath(path.strip() or ".")
    if norm.startswith("/"):
        norm = norm.lstrip("/") or "."
    if norm == ".." or norm.startswith("../"):
        raise _Bad(None, "spec.update.path", f"{path!r} is outside the repository")
    return "" if norm == "." else norm


__all__ = ["DEFAULT_FLUX_MESSAGE", "KIND", "Automation", "read_automation"]
