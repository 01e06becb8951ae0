"""Plain values the manifests stage hands to the rest of imagebot.

Everything here is a dataclass with a ``to_dict()`` that is JSON-serialisable, so sites can be
printed (``list-images --output json``), logged and stored without knowing about YAML.
"""

from __future__ import annotations

import copyreg
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from imagebot.reference import ImageReference

if TYPE_CHECKING:
    from imagebot.manifests.argowrite import WriteTarget

#: What a located scalar holds: a whole reference (``name[:tag][@digest]``), or one part of a
#: split form (Helm values' ``repository`` + ``tag``, kustomize's ``newName`` + ``newTag``).
Role = Literal["image", "registry", "name", "tag", "digest"]


@dataclass(frozen=True)
class Part:
    """One YAML scalar holding (part of) an image reference, and where it sits.

    ``doc`` and ``path`` find the node again in a re-parsed file; ``start``/``end`` are byte
    offsets of the scalar as written (quotes included, anchor and tag excluded) in the bytes
    the site was discovered in. ``value`` is the scalar's text as written (``1.30`` stays
    ``"1.30"``).
    """

    role: Role
    doc: int
    path: tuple[str | int, ...]
    value: str
    style: str  # "" plain, "'" single, '"' double, "|" literal, ">" folded
    start: int
    end: int
    line: int
    #: The YAML tag the scalar resolved to ("" when not known): the rewriter keeps a plain
    #: value's type without reading the file again.
    tag: str = ""
    #: Where in ``value`` the reference sits when it is not the whole value: the default of
    #: a Compose ``${VAR:-repo:tag}`` (characters; None: all of it).
    inner: tuple[int, int] | None = None

    @property
    def text(self) -> str:
        """The reference (or piece of one) the value holds."""
        return self.value if self.inner is None else self.value[self.inner[0] : self.inner[1]]

    def wrap(self, text: str) -> str:
        """The whole value with *text* in place of :attr:`text`."""
        if self.inner is None:
            return text
        return self.value[: self.inner[0]] + text + self.value[self.inner[1] :]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "doc": self.doc,
            "path": list(self.path),
            "value": self.value,
            "style": self.style,
            "start": self.start,
            "end": self.end,
            "line": self.line,
        }


@dataclass(frozen=True)
class FileIssue:
    """A file (or a place in it) that was skipped or could not be used."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.message}"
            if self.line
            else f"{self.file}: {self.message}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass
class ImageSite:
    """One occurrence of a container image in a manifest, with the policy that governs it.

    A site with ``error`` set is shown but never updated: its image, policy or marker could
    not be understood.
    """

    file: str
    line: int
    kind: str
    namespace: str | None
    name: str
    container: str
    image: ImageReference | None
    reference_text: str
    tag: str | None
    digest: str | None
    policy: str | None = None
    filter: str | None = None
    extract: str | None = None
    same_family: bool = True
    automated: bool = False
    locked: bool = False
    lock_message: str | None = None
    lock_user: str | None = None
    ignored: bool = False
    #: Updates wait for a person's approval (annotation or policy file ``approve``).
    approve: bool = False
    #: Supply-chain gates as its annotations or policy file write them (None: not said there,
    #: the config's ``gates:`` apply): ``min_age`` (``3d``), ``age_source`` (``seen`` or
    #: ``created``), ``platforms``, ``verify`` (a verifier's name). See ``policy/gates.py``.
    min_age: str | None = None
    age_source: str | None = None
    platforms: tuple[str, ...] | None = None
    verify: str | None = None
    source: str = "none"
    error: str | None = None
    parts: list[Part] = field(default_factory=list)
    #: Name text used when no scalar holds a writable name (kustomize entry without newName).
    fixed_name: str | None = None
    #: Set when a marker names a Flux ``ImagePolicy``: the image of its ``ImageRepository``.
    #: The policy then decides the whole value as Flux's setters do: this image's tags are
    #: listed, and a marked name or whole reference is written with this name (a rename).
    policy_image: str | None = None
    #: The policy's ``digestReflectionPolicy`` (``IfNotPresent`` or ``Always``): the marked
    #: value carries the chosen tag's digest (``Always`` also follows a moved tag).
    digest_reflection: str | None = None
    #: Why the site is left alone without it being an error (a marker naming a policy that
    #: does not exist, which Flux ignores too). Never updated; the run's status is unaffected.
    warning: str | None = None
    #: Where it lands without ``metadata.namespace``: a covering kustomization's namespace or
    #: the repository's ``default_namespace`` (None: ``default``); see ``namespaces.py``.
    default_namespace: str | None = None
    #: Git blob id of the bytes the parts' offsets refer to: the rewriter splices at those
    #: offsets without reading the file again when its bytes still have this id.
    blob: str | None = None
    #: Set for an image an Argo CD Image Updater configuration governs: the value is written
    #: where that tool writes it (``.argocd-source-<app>.yaml``, a kustomization's
    #: ``images:``, a Helm values file), by :mod:`imagebot.manifests.argowrite`, not spliced
    #: into ``parts``; ``file`` is that target file, which may not exist yet.
    writeback: WriteTarget | None = None
    #: Seconds between polls of its image as the manifest asks (Keel's
    #: ``keel.sh/pollSchedule``); imagebot's config (``images``, ``registries``) wins.
    interval: float | None = None
    #: Regexes whose tags are never chosen (a Flux ``ImageRepository``'s ``exclusionList``).
    exclude: tuple[str, ...] = ()
    #: The object's ``apiVersion`` ("" when it has none), for Flux's commit templates.
    api_version: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled without the fields still at their default (most of them; the class
        attribute answers for a field not in the instance): the cycle caches keep thousands
        of sites between processes, and a new process builds each from a third of the
        values (:mod:`imagebot.update.cyclecache`)."""
        defaults = _SITE_DEFAULTS
        state = {
            k: v for k, v in self.__dict__.items() if not (k in defaults and _same(v, defaults[k]))
        }
        return (copyreg.__newobj__, (type(self),), state)  # type: ignore[attr-defined]

    @property
    def workload(self) -> str:
        """``namespace:kind/name`` as ``fluxctl`` printed workloads: the namespace it lands
        in (``default:deployment/carts``), ``<cluster>`` for cluster-scoped kinds only."""
        return f"{self.landing_namespace}:{self.kind.lower() or 'document'}/{self.name}"

    @property
    def landing_namespace(self) -> str:
        """``metadata.namespace``, else where it lands (``<cluster>``: in no namespace)."""
        if self.namespace:  # most sites: no import statement on this path (a cycle asks 1000s)
            return self.namespace
        from imagebot.manifests.namespaces import landing_namespace

        return landing_namespace(self.kind, self.namespace, self.default_namespace)

    @property
    def id(self) -> str:
        """Stable identity within a checkout: file, workload and container."""
        return f"{self.file}#{self.workload}#{self.container}"

    @property
    def repository(self) -> str | None:
        """The repository whose tags decide this site (the scan key): the Flux policy's image
        for a Flux marker, else the image as written."""
        image = self.scan_image
        return image.repository if image is not None else None

    @property
    def scan_image(self) -> ImageReference | None:
        """The image whose tags are listed for this site: a Flux marker's policy image (its
        name, no tag), else the image as written."""
        if self.policy_image is not None:
            return ImageReference.parse(self.policy_image)
        return self.image

    @property
    def updatable(self) -> bool:
        """True when the bot may change this image (automated, not locked/ignored, no error
        or warning)."""
        return (
            self.automated
            and not self.locked
            and not self.ignored
            and self.error is None
            and self.warning is None
        )

    def part(self, role: Role) -> Part | None:
        for part in self.parts:
            if part.role == role:
                return part
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "container": self.container,
            "image": self.reference_text,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "policy": self.policy,
            "filter": self.filter,
            "extract": self.extract,
            "same_family": self.same_family,
            "automated": self.automated,
            "locked": self.locked,
            "lock_message": self.lock_message,
            "lock_user": self.lock_user,
            "ignored": self.ignored,
            "source": self.source,
            "error": self.error,
            "warning": self.warning,
            "policy_image": self.policy_image,
            "digest_reflection": self.digest_reflection,
            "writeback": self.writeback.to_dict() if self.writeback is not None else None,
            "interval": self.interval,
            "parts": [p.to_dict() for p in self.parts],
            "gates": {
                "min_age": self.min_age,
                "age_source": self.age_source,
                "platforms": list(self.platforms) if self.platforms is not None else None,
                "verify": self.verify,
            },
        }


@dataclass
class Discovery:
    """Everything a scan of a checkout found."""

    sites: list[ImageSite] = field(default_factory=list)
    skipped: list[FileIssue] = field(default_factory=list)
    errors: list[FileIssue] = field(default_factory=list)
    files_read: int = 0
    #: The files read (posix, relative to the root), in the order they were read.
    files: list[str] = field(default_factory=list)
    #: Flux ``ImageUpdateAutomation`` objects found (``manifests.fluxautomation.Automation``).
    automations: list[Any] = field(default_factory=list)
    #: Argo CD applications' ``git-branch`` settings (``manifests.argocd.BranchRequest``).
    argo_branches: list[Any] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        """File errors or any site with an error (skipped files are not errors)."""
        return bool(self.errors) or any(site.error for site in self.sites)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sites": [s.to_dict() for s in self.sites],
            "skipped": [i.to_dict() for i in self.skipped],
            "errors": [i.to_dict() for i in self.errors],
            "files_read": self.files_read,
            "files": list(self.files),
        }


@dataclass(frozen=True)
class Edit:
    """Change one site's tag (and digest, and optionally name)."""

    site: ImageSite
    new_tag: str | None
    new_digest: str | None = None
    new_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.id,
            "new_tag": self.new_tag,
            "new_digest": self.new_digest,
            "new_name": self.new_name,
        }


@dataclass
class RewriteResult:
    """New bytes for one file; ``errors`` name the edits that were refused (not applied)."""

    content: bytes
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    applied: list[Edit] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "errors": self.errors,
            "applied": [e.to_dict() for e in self.applied],
        }


@dataclass
class FileChange:
    """The outcome for one file: written when ``changed``; ``errors`` say what was refused."""

    file: str
    old: bytes
    new: bytes
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "changed": self.changed,
            "notes": self.notes,
            "errors": self.errors,
        }


def _same(value: object, default: object) -> bool:
    return value is default or (type(value) is type(default) and value == default)


#: ImageSite's fields with a plain default, which the class holds as an attribute.
_SITE_DEFAULTS: dict[str, object] = {
    f.name: f.default for f in fields(ImageSite) if f.default is not MISSING
}
