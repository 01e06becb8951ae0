"""Argo CD Image Updater's configuration, read where its users keep it.

Its users configure it on Argo CD ``Application`` objects in their repository (annotations
``argocd-image-updater.argoproj.io/...``) or, since its CRD-based releases, in
``ImageUpdater`` objects that select applications by name pattern and labels. Either way an
application names images to follow (``image-list``: ``[<alias>=]<image>[:<constraint>]``)
and how to follow them (``<alias>.update-strategy`` ``semver`` | ``newest-build``
(``latest``) | ``alphabetical`` (``name``) | ``digest``, ``allow-tags``, ``ignore-tags``,
``force-update``, ``platforms``, with application-wide defaults), where the chart or
kustomization takes them (``<alias>.helm.image-name`` / ``.image-tag`` / ``.image-spec``,
``<alias>.kustomize.image-name``) and where a new version is written
(``write-back-target``; the ``git:<credentials>`` of ``write-back-method`` is read but Git
credentials come from imagebot's config).

The images are found as the tool finds them, except that imagebot reads the repository
instead of the cluster: an image is followed when the application's source deploys it (the
manifests its kustomization includes, after its ``images:``, the Application's own
``kustomize.images`` and ``.argocd-source-<app>.yaml``; for a Helm chart the value of its
parameter, or an image in the chart's values files), or when ``force-update`` says so. The
current version is what Argo CD would render from the repository, overrides included.

Each followed image becomes an :class:`~imagebot.manifests.models.ImageSite` of kind
``Application`` whose ``writeback`` says where the tool would write
(:mod:`imagebot.manifests.argowrite`). An application whose source is in another repository
(or a Helm repository), or whose source is neither a Helm chart nor a kustomization, gives
sites with a ``warning`` naming it: reported, never updated. Configuration mistakes are
site errors naming the application's file and line.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml.nodes import Node

from imagebot.errors import ImagebotError
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.annotations import ARGO, Annotation, combine_filter, split_image_spec
from imagebot.manifests.argowrite import (
    DEFAULT_HELM_NAME,
    DEFAULT_HELM_TAG,
    Typed,
    WriteTarget,
    entry_key,
    plain,
)
from imagebot.manifests.models import ImageSite
from imagebot.manifests.namespaces import KUSTOMIZATION_FILES, Kustomization
from imagebot.reference import ImageReference

APPLICATION_API = "argoproj.io/"
UPDATER_API = "argocd-image-updater.argoproj.io/"

#: Options an application may set for all its images (an image's own setting wins).
_APP_WIDE = ("update-strategy", "allow-tags", "ignore-tags", "force-update", "platforms")
_STRATEGIES = {
    "semver": "semver",
    "latest": "newest-build",
    "newest-build": "newest-build",
    "name": "alphabetical",
    "alphabetical": "alphabetical",
    "digest": "digest",
}


@dataclass(frozen=True)
class ArgoDoc:
    """An ``Application`` or ``ImageUpdater`` document, kept as values once its file is read."""

    file: str
    line: int
    kind: str
    name: str
    namespace: str | None
    annotations: Mapping[str, Annotation]
    labels: Mapping[str, str]
    spec: Any

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def read_docs(file: str, docs: Sequence[Node]) -> list[ArgoDoc]:
    """The Argo CD documents among a file's composed *docs* (discovery calls this)."""
    from imagebot.manifests.discovery import read_annotations

    found = []
    for node in docs:
        api = ys.get_str(node, "apiVersion") or ""
        kind = ys.get_str(node, "kind") or ""
        is_app = kind == "Application" and api.startswith(APPLICATION_API)
        if not is_app and not (kind == "ImageUpdater" and api.startswith(UPDATER_API)):
            continue
        metadata = ys.get(node, "metadata")
        labels = plain(ys.get(metadata, "labels"))
        found.append(
            ArgoDoc(
                file=file,
                line=node.start_mark.line + 1,
                kind=kind,
                name=ys.get_str(metadata, "name") or "",
                namespace=ys.get_str(metadata, "namespace"),
                annotations=read_annotations(ys.get(metadata, "annotations")),
                labels={k: t for k, v in labels.items() if (t := _scalar(v)) is not None}
                if isinstance(labels, dict)
                else {},
                spec=plain(ys.get(node, "spec")),
            )
        )
    return found


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageConfig:
    """One image an application follows, with its options."""

    alias: str | None
    name: str  # as written, without the constraint
    constraint: str | None
    strategy: str = "semver"
    allow_tags: str | None = None
    ignore_tags: tuple[str, ...] = ()
    force_update: bool = False
    platforms: tuple[str, ...] = ()
    helm_name: str | None = None
    helm_tag: str | None = None
    helm_spec: str | None = None
    kustomize_name: str | None = None


@dataclass(frozen=True)
class WriteBack:
    """Where new versions go: ``source`` (``.argocd-source-<app>.yaml``), ``kustomization``
    or ``helmvalues`` (with a path as written, relative to the source path unless it starts
    with ``/``); ``method``, ``branch`` and ``repository`` as written."""

    target: str = "source"
    path: str | None = None
    method: str = "argocd"
    branch: str | None = None
    repository: str | None = None


@dataclass
class AppConfig:
    app: ArgoDoc
    images: list[ImageConfig] = field(default_factory=list)
    write_back: WriteBack = field(default_factory=WriteBack)
    #: Where the configuration is written: the Application, or an ImageUpdater.
    origin: str = ""
    errors: list[str] = field(default_factory=list)


def _scalar(value: Any) -> str | None:
    """A plain value's text when it is a single value (``true``, ``2`` included)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Typed):
        return value.value
    return None


def _list(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def _write_back(
    target: str | None,
    method: str | None,
    branch: str | None,
    repository: str | None,
    errors: list[str],
    where: str,
) -> WriteBack:
    method = (method or "argocd").strip()
    if method not in ("argocd", "git") and not method.startswith("git:"):
        errors.append(f"{where}: write-back method {method!r} is not argocd, git or git:<creds>")
    kind, path = "source", None
    if target:
        head, _, rest = target.strip().partition(":")
        if head not in ("kustomization", "helmvalues"):
            errors.append(
                f"{where}: write-back target {target!r} is not kustomization[:path] or "
                "helmvalues[:path]"
            )
        else:
            kind, path = head, rest.strip() or None
    return WriteBack(kind, path, method, branch, repository)


def from_annotations(app: ArgoDoc) -> AppConfig | None:
    """The configuration in an Application's annotations; None when it has none."""
    if not any(k.startswith(ARGO) for k in app.annotations):
        return None
    config = AppConfig(app, origin=f"{app.file}:{app.line} (Application {app.name} annotations)")

    def text(key: str) -> str | None:
        ann = app.annotations.get(ARGO + key)
        if ann is None:
            return None
        if not ann.is_string:
            config.errors.append(f"annotation {ARGO}{key}: {ann.value} is not a string")
        return ann.value

    listing = text("image-list")
    if listing is None:
        config.errors.append(f"annotation {ARGO}image-list is missing")
        return config
    for spec in _list(listing):
        alias, name, constraint = split_image_spec(spec)
        key = (alias or name).replace("/", "_")

        def option(name: str, key: str = key) -> str | None:
            value = text(f"{key}.{name}")
            if value is None and name in _APP_WIDE:
                value = text(name)
            return value

        config.images.append(
            ImageConfig(
                alias=alias,
                name=name,
                constraint=constraint,
                strategy=(option("update-strategy") or "semver").strip(),
                allow_tags=option("allow-tags"),
                ignore_tags=_list(option("ignore-tags")),
                force_update=(option("force-update") or "").strip() == "true",
                platforms=_list(option("platforms")),
                helm_name=option("helm.image-name"),
                helm_tag=option("helm.image-tag"),
                helm_spec=option("helm.image-spec"),
                kustomize_name=option("kustomize.image-name"),
            )
        )
    config.write_back = _write_back(
        text("write-back-target"),
        text("write-back-method"),
        text("git-branch"),
        text("git-repository"),
        config.errors,
        f"annotation {ARGO}write-back-*",
    )
    return config


def _settings(*layers: Any) -> dict[str, Any]:
    """``commonUpdateSettings`` layers merged, the last one set winning."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, dict):
            merged.update({k: v for k, v in layer.items() if v is not None})
    return merged


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if isinstance(v, str) and v.strip())
    if isinstance(value, str):
        return _list(value)
    return ()


def _selects(ref: dict[str, Any], app: ArgoDoc) -> bool:
    pattern = ref.get("namePattern")
    if not isinstance(pattern, str) or not fnmatch.fnmatchcase(app.name, pattern):
        return False
    selectors = ref.get("labelSelectors")
    wanted = selectors.get("matchLabels") if isinstance(selectors, dict) else None
    if isinstance(wanted, dict):
        return all(app.labels.get(k) == v for k, v in wanted.items())
    return True


def from_image_updater(updater: ArgoDoc, apps: Sequence[ArgoDoc]) -> list[AppConfig]:
    """The configurations an ``ImageUpdater`` gives the applications it selects."""
    spec = updater.spec if isinstance(updater.spec, dict) else {}
    namespace = spec.get("namespace") or updater.namespace
    common = spec.get("commonUpdateSettings")
    written = f"{updater.file}:{updater.line} (ImageUpdater {updater.name})"
    out: list[AppConfig] = []
    refs = spec.get("applicationRefs")
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict):
            continue
        for app in apps:
            if not _selects(ref, app) or (
                app.namespace and namespace and app.namespace != namespace
            ):
                continue
            if _scalar(ref.get("useAnnotations")) == "true":
                config = from_annotations(app)
                if config is not None:
                    out.append(config)
                continue
            config = AppConfig(app, origin=written)
            images = ref.get("images")
            for image in images if isinstance(images, list) else []:
                if not isinstance(image, dict) or not isinstance(image.get("imageName"), str):
                    config.errors.append(
                        f"{written}: an image of {ref.get('namePattern')!r} has no imageName"
                    )
                    continue
                _, name, constraint = split_image_spec(image["imageName"])
                settings = _settings(
                    common, ref.get("commonUpdateSettings"), image.get("commonUpdateSettings")
                )
                targets = image.get("manifestTargets")
                helm = targets.get("helm") if isinstance(targets, dict) else None
                kustomize = targets.get("kustomize") if isinstance(targets, dict) else None
                helm = helm if isinstance(helm, dict) else {}
                kustomize = kustomize if isinstance(kustomize, dict) else {}
                config.images.append(
                    ImageConfig(
                        alias=image.get("alias") if isinstance(image.get("alias"), str) else None,
                        name=name,
                        constraint=constraint,
                        strategy=str(settings.get("updateStrategy") or "semver"),
                        allow_tags=settings.get("allowTags"),
                        ignore_tags=_strings(settings.get("ignoreTags")),
                        force_update=_scalar(settings.get("forceUpdate")) == "true",
                        platforms=_strings(settings.get("platforms")),
                        helm_name=helm.get("name"),
                        helm_tag=helm.get("tag"),
                        helm_spec=helm.get("spec"),
                        kustomize_name=kustomize.get("name"),
                    )
                )
            config.write_back = _updater_write_back(
                spec.get("writeBackConfig"), ref.get("writeBackConfig"), config.errors, written
            )
            out.append(config)
    return out


def _updater_write_back(outer: Any, inner: Any, errors: list[str], where: str) -> WriteBack:
    merged: dict[str, Any] = {}
    git: dict[str, Any] = {}
    for layer in (outer, inner):
        if isinstance(layer, dict):
            merged.update({k: v for k, v in layer.items() if v is not None and k != "gitConfig"})
            if isinstance(layer.get("gitConfig"), dict):
                git.update({k: v for k, v in layer["gitConfig"].items() if v is not None})
    return _write_back(
        git.get("writeBackTarget"),
        merged.get("method"),
        git.get("branch"),
        git.get("repository"),
        errors,
        where,
    )


def configurations(docs: Sequence[ArgoDoc]) -> list[AppConfig]:
    """Every application's configuration: an ``ImageUpdater`` selecting it wins over its
    annotations (unless it says ``useAnnotations``), as in the tool's CRD releases."""
    apps = [d for d in docs if d.kind == "Application"]
    by_app: dict[tuple[str, str, int], AppConfig] = {}
    for updater in (d for d in docs if d.kind == "ImageUpdater"):
        for config in from_image_updater(updater, apps):
            by_app.setdefault((config.app.file, config.app.name, config.app.line), config)
    for app in apps:
        key = (app.file, app.name, app.line)
        if key not in by_app:
            own = from_annotations(app)
            if own is not None:
                by_app[key] = own
    return sorted(by_app.values(), key=lambda c: (c.app.file, c.app.line))


# --- the branch written to ----------------------------------------------------------------


@dataclass(frozen=True)
class BranchRequest:
    """An application's ``git-branch`` (``writeBackConfig.gitConfig.branch``): ``branch``
    (check out, commit and push there), ``base:target`` (check out *base*, push a branch
    *target* made from it) or ``:target`` (the branch already read as base). *target* may be
    a Go template over the changes (``{{range .Images}}...``): :attr:`templated`."""

    app: str
    origin: str  # where it is configured: file:line (Application ...) or (ImageUpdater ...)
    text: str  # as written
    base: str | None
    target: str | None

    @property
    def templated(self) -> bool:
        return self.target is not None and "{{" in self.target

    def same(self, other: BranchRequest) -> bool:
        return (self.base, self.target) == (other.base, other.target)


def branch_requests(docs: Sequence[ArgoDoc], repo_urls: Sequence[str] = ()) -> list[BranchRequest]:
    """The branch each application updated in this repository asks to be written to, in
    the order of :func:`configurations` (file, then line)."""
    own = {normalise_url(u) for u in repo_urls if u}
    out = []
    for config in configurations(docs):
        wb = config.write_back
        text = (wb.branch or "").strip()
        source = _source(config.app.spec)
        if not text or config.errors or source is None or source.get("chart"):
            continue
        if own and normalise_url(str(source.get("repoURL") or "")) not in own:
            continue
        if wb.repository and own and normalise_url(wb.repository) not in own:
            continue
        base, colon, target = text.partition(":")
        out.append(
            BranchRequest(
                app=_app_label(config.app),
                origin=config.origin,
                text=text,
                base=base.strip() or None,
                target=(target.strip() or None) if colon else None,
            )
        )
    return out


# --- where the source is ---------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """A Git URL reduced to host and path, so that the HTTPS, SSH and scp-like spellings of
    one repository compare equal (scheme, user, port, ``.git`` and trailing ``/`` dropped)."""
    text = url.strip()
    if text.startswith("file://"):
        return "file:" + os.path.normpath(text[len("file://") :])
    if "://" not in text:
        scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.*)$", text)
        if scp:
            host, path = scp.group(1), scp.group(2)
        else:
            return "file:" + os.path.normpath(text)
    else:
        parts = urlsplit(text)
        host, path = (parts.hostname or "").lower(), parts.path
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host.lower()}/{path.rstrip('/')}"


def _source(spec: Any) -> dict[str, Any] | None:
    if not isinstance(spec, dict):
        return None
    source = spec.get("source")
    if isinstance(source, dict):
        return source
    sources = [s for s in spec.get("sources") or [] if isinstance(s, dict)]
    # A multi-source application: the source with a path holds its images (a chart from a
    # Helm repository, or a "ref" to values, does not), as the tool picks it.
    for key in ("path", "chart"):
        for candidate in sources:
            if candidate.get(key):
                return candidate
    return None


# --- what the source deploys -----------------------------------------------------------------


@dataclass
class _Checkout:
    """What discovery knows of the repository, as the application readers need it."""

    root: Path
    sites: Sequence[ImageSite]
    kustomizations: Mapping[str, Kustomization]
    charts: set[str]
    max_file_bytes: int
    values_cache: dict[str, Any] = field(default_factory=dict)
    by_file: dict[str, list[ImageSite]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for site in self.sites:
            self.by_file.setdefault(site.file, []).append(site)

    def sites_in(self, files: Iterable[str]) -> list[ImageSite]:
        return [site for rel in files for site in self.by_file.get(rel, ())]

    def read(self, rel: str) -> bytes | None:
        path = self.root / rel
        try:
            if not path.is_file() or path.stat().st_size > self.max_file_bytes:
                return None
            if not path.resolve().is_relative_to(self.root):
                return None
            return path.read_bytes()
        except OSError:
            return None

    def data(self, rel: str) -> Any:
        """A YAML file's first document as plain data (None: missing or unreadable)."""
        if rel not in self.values_cache:
            content = self.read(rel)
            value = None
            if content is not None:
                try:
                    docs = ys.load(content).docs
                    value = plain(docs[0]) if docs else None
                except (ys.YamlSyntaxError, ImagebotError):
                    value = None
            self.values_cache[rel] = value
        return self.values_cache[rel]

    def is_dir(self, rel: str) -> bool:
        """A directory of the repository (a symlink out of it is not)."""
        path = self.root / rel
        try:
            return path.is_dir() and path.resolve().is_relative_to(self.root.resolve())
        except OSError:
            return False

    def kustomization_in(self, folder: str) -> str | None:
        for name in KUSTOMIZATION_FILES:
            rel = posixpath.join(folder, name) if folder else name
            if rel in self.kustomizations or (self.root / rel).is_file():
                return rel
        return None


def _override(image: ImageReference, entry: str) -> ImageReference | None:
    """*image* after a kustomize image override ``[name=]ref`` that names it, else None."""
    key = entry_key(entry)
    if key != image.written_name and key != image.repository:
        return None
    ref_text = entry.split("=", 1)[1] if "=" in entry else entry
    try:
        ref = ImageReference.parse(ref_text)
    except ImagebotError:
        return None
    name = ref.written_name if "=" in entry else image.written_name
    tag = ref.tag if ref.tag is not None else (image.tag if ref.digest is None else None)
    try:
        return ImageReference.from_parts(name, tag, ref.digest)
    except ImagebotError:
        return None


def _kustomize_images(checkout: _Checkout, folder: str) -> list[ImageReference]:
    """The images the kustomization in *folder* deploys, after its ``images:`` (inner
    kustomizations first, as kustomize applies them)."""
    top = checkout.kustomization_in(folder)
    if top is None:
        return []
    order: list[str] = []
    manifests: set[str] = set()

    def walk(rel: str, seen: frozenset[str]) -> None:
        if rel in seen or len(seen) > 50:
            return
        here = posixpath.dirname(rel)
        k = checkout.kustomizations.get(rel)
        for entry in k.includes if k is not None else ():
            target = posixpath.normpath(posixpath.join(here, entry))
            child = target if target in checkout.kustomizations else None
            child = child or checkout.kustomization_in(target)
            if child is not None and child != rel:
                walk(child, seen | {rel})
            else:
                manifests.add(target)
        order.append(rel)

    walk(top, frozenset())
    images = [
        s.image
        for s in checkout.sites_in(sorted(manifests))
        if s.image is not None
        and s.writeback is None
        and s.kind not in ("Kustomization", "Component", "HelmValues")
    ]
    for rel in order:  # inner first
        for site in checkout.sites_in([rel]):
            if site.kind not in ("Kustomization", "Component"):
                continue
            if site.image is None:
                continue
            entry = f"{site.container}={site.image}"
            images = [_override(i, entry) or i for i in images]
    return images


def _param(values: Any, name: str) -> str | None:
    """A Helm parameter's value in plain values (``a.b`` is the key ``a.b`` or ``b`` under
    ``a``)."""
    if not isinstance(values, dict):
        return None
    if name in values and isinstance(values[name], str):
        return values[name]
    node: Any = values
    for key in name.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, str) else None


# --- sites ---------------------------------------------------------------------------------------


def _strategy_policy(image: ImageConfig) -> tuple[str | None, str | None, str | None]:
    """(policy, filter, error) for an image's strategy and tag options."""
    strategy = _STRATEGIES.get(image.strategy.strip())
    if strategy is None:
        return (
            None,
            None,
            f"update strategy {image.strategy!r} is not one of " + ", ".join(sorted(_STRATEGIES)),
        )
    if strategy == "semver":
        policy = f"semver:{image.constraint or '*'}"
    elif strategy == "digest":
        policy = f"glob:{image.constraint or 'latest'}"
    elif strategy == "alphabetical":
        policy = "alphabetical:asc"
    else:
        policy = "newest-build"
    allow = (image.allow_tags or "").strip() or None
    allow_re = None
    if allow is not None and allow != "any":
        if not allow.startswith("regexp:"):
            return None, None, f"allow-tags {allow!r} is not regexp:<expression> or any"
        allow_re = allow[len("regexp:") :]
    try:
        return policy, combine_filter(allow_re, image.ignore_tags), None
    except ImagebotError as exc:
        return None, None, f"ignore-tags: {exc}"


def _site(
    config: AppConfig,
    image: ImageConfig,
    *,
    file: str,
    line: int,
    current: ImageReference | None,
    writeback: WriteTarget | None,
    warning: str | None = None,
    error: str | None = None,
) -> ImageSite:
    app = config.app
    ref = current
    if ref is None:
        try:
            ref = ImageReference.parse(image.name)
        except ImagebotError as exc:
            error = error or f"image {image.name!r}: {exc}"
    policy, filter_, problem = _strategy_policy(image)
    errors = [e for e in (error, problem, *config.errors) if e]
    site = ImageSite(
        file=file,
        line=line,
        kind="Application",
        namespace=app.namespace,
        name=app.name,
        container=image.alias or image.name,
        image=ref,
        reference_text=str(ref) if ref is not None else image.name,
        tag=ref.tag if ref is not None else None,
        digest=ref.digest if ref is not None else None,
        policy=policy,
        filter=filter_,
        same_family=False,
        automated=True,
        source=f"argocd-image-updater:{config.origin}",
        platforms=image.platforms or None,
        writeback=writeback,
    )
    if image.strategy.strip() == "digest":
        site.digest_reflection = "Always"
    if errors:
        site.error = "; ".join(f"application {app.name} ({app.where}): {e}" for e in errors)
    elif warning:
        site.warning = f"application {app.name} ({app.where}): {warning}"
    return site


def application_sites(
    docs: Sequence[ArgoDoc],
    *,
    root: Path,
    sites: Sequence[ImageSite],
    kustomizations: Mapping[str, Kustomization],
    charts: Iterable[str],
    repo_urls: Sequence[str] = (),
    max_file_bytes: int,
) -> list[ImageSite]:
    """Sites for every image the repository's Argo CD Image Updater configuration follows."""
    checkout = _Checkout(Path(root), sites, kustomizations, set(charts), max_file_bytes)
    own = {normalise_url(u) for u in repo_urls if u}
    out: list[ImageSite] = []
    for config in configurations(docs):
        out.extend(_app_sites(config, checkout, own))
    return out


def _app_sites(config: AppConfig, checkout: _Checkout, own: set[str]) -> list[ImageSite]:
    app = config.app
    source = _source(app.spec)

    def left(why: str, *, error: str | None = None) -> list[ImageSite]:
        """Every image of the application, not updated: *why* (a warning) or *error*."""
        return [
            _site(
                config,
                image,
                file=app.file,
                line=app.line,
                current=None,
                writeback=None,
                warning=why,
                error=error,
            )
            for image in config.images
        ]

    if source is None:
        return left("no spec.source; not updated")
    repo_url = str(source.get("repoURL") or "")
    wb = config.write_back
    if source.get("chart"):
        return left(
            f"its source is chart {source.get('chart')} from {repo_url}, not a path in "
            "this repository; not updated"
        )
    ours = not own or normalise_url(repo_url) in own
    if wb.repository and own and normalise_url(wb.repository) not in own:
        ours = False
    if not ours:
        return left(f"its source is in another repository ({repo_url}); not updated here")
    if not _NAME.fullmatch(app.name):
        return left("", error=f"{app.name!r} is not a valid Application name")
    path = posixpath.normpath(str(source.get("path") or ".").strip().lstrip("/")) or "."
    folder = "" if path == "." else path
    if not _inside(folder) or not checkout.is_dir(folder):
        return left(
            f"its source path {source.get('path')!r} (of {repo_url}) is not a directory of "
            "this repository; not updated"
        )
    helm_spec = source.get("helm")
    kustomize_spec = source.get("kustomize")
    if isinstance(helm_spec, dict) or (
        folder in checkout.charts or (checkout.root / folder / "Chart.yaml").is_file()
    ):
        kind = "helm"
    elif isinstance(kustomize_spec, dict) or checkout.kustomization_in(folder):
        kind = "kustomize"
    else:
        return left(
            f"its source {path} is neither a Helm chart nor a kustomization, which "
            "Argo CD Image Updater does not update; not updated"
        )
    override_file = posixpath.join(folder, f".argocd-source-{app.name}.yaml").lstrip("/")
    overrides = checkout.data(override_file)
    if kind == "kustomize":
        return _kustomize_app(config, checkout, source, folder, override_file, overrides)
    return _helm_app(config, checkout, source, folder, override_file, overrides)


#: A Kubernetes object name (DNS subdomain): what may go into ``.argocd-source-<app>.yaml``.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def _inside(rel: str) -> bool:
    """True for a normalised relative path that stays inside the repository."""
    return rel != ".." and not rel.startswith(("../", "/"))


def _target_file(wb: WriteBack, folder: str, default: str) -> str:
    if wb.path is None:
        return posixpath.join(folder, default).lstrip("/") if folder else default
    if wb.path.startswith("/"):
        return posixpath.normpath(wb.path.lstrip("/"))
    return posixpath.normpath(posixpath.join(folder, wb.path))


def _kustomize_app(
    config: AppConfig,
    checkout: _Checkout,
    source: dict[str, Any],
    folder: str,
    override_file: str,
    overrides: Any,
) -> list[ImageSite]:
    app, wb = config.app, config.write_back
    spec_images = (
        [e for e in (source.get("kustomize") or {}).get("images") or [] if isinstance(e, str)]
        if isinstance(source.get("kustomize"), dict)
        else []
    )
    file_images = []
    if isinstance(overrides, dict) and isinstance(overrides.get("kustomize"), dict):
        listed = overrides["kustomize"].get("images")
        file_images = [e for e in listed if isinstance(e, str)] if isinstance(listed, list) else []
    live = _kustomize_images(checkout, folder)
    for entry in spec_images + file_images:
        live = [_override(i, entry) or i for i in live]
    out = []
    for image in config.images:
        error = None
        if wb.target == "helmvalues":
            error = "write-back target helmvalues is for Helm applications; this is a kustomization"
        if wb.target == "kustomization":
            target_dir = _target_file(wb, folder, "").rstrip("/") if wb.path else folder
            target_dir = "" if target_dir == "." else target_dir
            file = checkout.kustomization_in(target_dir) or posixpath.join(
                target_dir, "kustomization.yaml"
            ).lstrip("/")
            kind = "kustomization"
        else:
            file, kind = override_file, "source-kustomize"
        target = WriteTarget(
            kind,  # type: ignore[arg-type]
            file,
            _app_label(app),
            image.name,
            kustomize_name=image.kustomize_name,
            seed_images=tuple(spec_images),
        )
        wanted = [image.kustomize_name, image.name] if image.kustomize_name else [image.name]
        current = _match(live, wanted)
        out.append(_followed(config, image, target, current, error, f"its source {folder or '.'}"))
    return out


def _followed(
    config: AppConfig,
    image: ImageConfig,
    target: WriteTarget,
    current: ImageReference | None,
    error: str | None,
    source: str,
) -> ImageSite:
    """The site of an image written to *target*; left (a warning) when *source* does not
    deploy it and ``force-update`` is not set, as the tool skips images not live."""
    warning = None
    if current is None and not image.force_update:
        warning = f"{image.name} is not deployed by {source} (force-update is not set); not updated"
    if not _inside(target.file):
        error = error or f"write-back target {target.file} is outside the repository"
    return _site(
        config,
        image,
        file=target.file,
        line=1,
        current=_renamed(current, image.name),
        writeback=target,
        warning=warning,
        error=error,
    )


def _match(live: Sequence[ImageReference], names: Sequence[str | None]) -> ImageReference | None:
    for name in names:
        if not name:
            continue
        try:
            repository = ImageReference.parse(name).repository
        except ImagebotError:
            continue
        for image in live:
            if image.repository == repository:
                return image
    return None


def _renamed(current: ImageReference | None, name: str) -> ImageReference | None:
    """The configured image with the current tag and digest (what a policy compares)."""
    try:
        if current is None:
            return ImageReference.parse(name)
        return ImageReference.from_parts(name, current.tag, current.digest)
    except ImagebotError:
        return None


def _app_label(app: ArgoDoc) -> str:
    return f"{app.namespace}/{app.name}" if app.namespace else app.name


def _helm_app(
    config: AppConfig,
    checkout: _Checkout,
    source: dict[str, Any],
    folder: str,
    override_file: str,
    overrides: Any,
) -> list[ImageSite]:
    app, wb = config.app, config.write_back
    helm = source.get("helm") if isinstance(source.get("helm"), dict) else {}
    assert isinstance(helm, dict)
    layers: list[Any] = [checkout.data(posixpath.join(folder, "values.yaml").lstrip("/"))]
    for rel in helm.get("valueFiles") or []:
        if isinstance(rel, str) and not rel.startswith("$") and "://" not in rel:
            layers.append(checkout.data(posixpath.normpath(posixpath.join(folder, rel))))
    if isinstance(helm.get("valuesObject"), dict):
        layers.append(helm["valuesObject"])
    elif isinstance(helm.get("values"), str):
        try:
            docs = ys.load(helm["values"].encode()).docs
            layers.append(plain(docs[0]) if docs else None)
        except (ys.YamlSyntaxError, ImagebotError):
            pass
    params: dict[str, str] = {}
    seeds: list[tuple[str, str, bool]] = []
    for item in helm.get("parameters") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            value = _scalar(item.get("value")) or ""
            params[item["name"]] = value
            seeds.append((item["name"], value, _scalar(item.get("forceString")) == "true"))
    if isinstance(overrides, dict) and isinstance(overrides.get("helm"), dict):
        for item in overrides["helm"].get("parameters") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                params[item["name"]] = _scalar(item.get("value")) or ""

    def lookup(name: str) -> str | None:
        if name in params:
            return params[name]
        for layer in reversed(layers):
            found = _param(layer, name)
            if found is not None:
                return found
        return None

    chart_sites = [
        s.image
        for s in checkout.sites
        if s.kind == "HelmValues" and s.image is not None and (posixpath.dirname(s.file) == folder)
    ]
    out = []
    for image in config.images:
        error = None
        if wb.target == "kustomization":
            error = (
                "write-back target kustomization is for kustomize applications; "
                "this is a Helm chart"
            )
        if wb.target == "helmvalues":
            file, kind = _target_file(wb, folder, "values.yaml"), "helmvalues"
            if not image.alias:
                error = error or (
                    "helmvalues write-back needs an alias for the image (Argo CD "
                    "Image Updater skips images without one)"
                )
        else:
            file, kind = override_file, "source-helm"
        target = WriteTarget(
            kind,  # type: ignore[arg-type]
            file,
            _app_label(app),
            image.name,
            helm_name=image.helm_name,
            helm_tag=image.helm_tag,
            helm_spec=image.helm_spec,
            seed_parameters=tuple(seeds),
        )
        current = _helm_current(image, lookup, chart_sites)
        out.append(_followed(config, image, target, current, error, f"chart {folder or '.'}"))
    return out


def _helm_current(
    image: ImageConfig, lookup: Any, chart_images: Sequence[ImageReference | None]
) -> ImageReference | None:
    """The image as the chart renders it: its parameters' values, else an image of the same
    repository in the chart's values with the tag parameter's value."""
    try:
        wanted = ImageReference.parse(image.name)
    except ImagebotError:
        return None
    if image.helm_spec:
        value = lookup(image.helm_spec)
        try:
            ref = ImageReference.parse(value) if value else None
        except ImagebotError:
            ref = None
        if ref is not None and ref.repository == wanted.repository:
            return _renamed(ref, image.name)
        return None
    name_value = lookup(image.helm_name or DEFAULT_HELM_NAME)
    tag_value = lookup(image.helm_tag or DEFAULT_HELM_TAG)
    deployed = None
    try:
        if name_value and ImageReference.parse(name_value).repository == wanted.repository:
            deployed = ImageReference.parse(name_value)
    except ImagebotError:
        deployed = None
    if deployed is None:
        deployed = next(
            (i for i in chart_images if i is not None and i.repository == wanted.repository),
            None,
        )
    if deployed is None:
        return None
    tag, digest = deployed.tag, deployed.digest
    if tag_value:
        tag, _, pin = tag_value.partition("@")
        digest = pin or None
    try:
        return ImageReference.from_parts(image.name, tag or None, digest)
    except ImagebotError:
        return None


__all__ = [
    "AppConfig",
    "ArgoDoc",
    "ImageConfig",
    "WriteBack",
    "application_sites",
    "configurations",
    "from_annotations",
    "from_image_updater",
    "normalise_url",
    "read_docs",
]
