"""Finding every container image in a checkout, and the policy that governs each.

Images are read from workloads (containers and initContainers), Flux v1 and v2
``HelmRelease`` values, kustomize ``images:`` entries and any scalar carrying a Flux v2 marker
comment (``# {"$imagepolicy": "<ns>:<name>[:tag|:name|:digest]"}``). Every site remembers the
exact scalars it was read from (:class:`~imagebot.manifests.models.Part`), so the rewriter can
change those bytes and nothing else.

Nothing here stops a scan: a file that is not YAML, a bad annotation or a marker naming a
missing policy is reported (on the file or on the site) and the rest carries on.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.errors import ImagebotError
from imagebot.manifests import graph
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.annotations import (
    ARGO,
    FILTER,
    FLUX,
    IMAGEBOT,
    WEAVE,
    Annotation,
    AnnotationPolicies,
    ContainerPolicy,
)
from imagebot.manifests.argocd import ArgoDoc, application_sites, branch_requests, read_docs
from imagebot.manifests.models import Discovery, FileIssue, ImageSite, Part, Role
from imagebot.manifests.namespaces import (
    KUSTOMIZATION_FILES,
    Kustomization,
    is_kustomization_file,
    kustomization_in,
    kustomize_namespaces,
    read_kustomization,
)
from imagebot.manifests.podspecs import pod_specs
from imagebot.manifests.policyfiles import PolicyIndex
from imagebot.reference import ImageReference, is_valid_digest

log = logging.getLogger(__name__)

#: YAML files, and kustomize's extension-less `Kustomization` files (kustomize and Flux read them).
DEFAULT_INCLUDE = ("**/*.yaml", "**/*.yml", "**/Kustomization")
#: Files larger than this are skipped unread (the config's ``max_file_bytes``): the largest
#: real manifests (CRD bundles, whole-platform installs) are a few MiB.
DEFAULT_MAX_FILE_BYTES = 8 << 20

CONTAINER_SECTIONS = ("initContainers", "containers")

#: Flux v1's name for an image at the top of a HelmRelease's values.
CHART_IMAGE = "chart-image"
FLUX1_HELM_APIS = ("helm.fluxcd.io/", "flux.weave.works/")
FLUX2_HELM_API = "helm.toolkit.fluxcd.io/"
KUSTOMIZE_API = "kustomize.config.k8s.io/"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/"
PATH_PREFIXES = {
    "registry": "registry.fluxcd.io/",
    "repository": "repository.fluxcd.io/",
    "tag": "tag.fluxcd.io/",
}
#: The role of each Flux v1 path annotation's value ("repository" is "image" without a tag).
_PATH_ROLES: dict[str, Role] = {"registry": "registry", "repository": "name", "tag": "tag"}
#: Kustomize ``images:`` entry keys and the part of the reference each one sets.
_KUSTOMIZE_FIELDS: tuple[tuple[str, Role], ...] = (
    ("newName", "name"),
    ("newTag", "tag"),
    ("digest", "digest"),
)

_COMPOSE_FILE = re.compile(r"^(?:docker-)?compose(?:[.-][^/]*)?\.ya?ml$")
#: Compose's ``${VAR:-default}`` / ``${VAR-default}`` as a whole value, the default plain.
_COMPOSE_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-(?P<default>[^${}]*)\}")
_MARKER = re.compile(r'#[ \t]*\{[ \t]*"\$imagepolicy"[ \t]*:[ \t]*"([^"\\]*)"[ \t]*\}')
_MARKER_FIELDS: dict[str | None, Role] = {
    None: "image",
    "tag": "tag",
    "name": "name",
    "digest": "digest",
}
_ROLE_ORDER: tuple[Role, ...] = ("image", "registry", "name", "tag", "digest")


# --- the walk -----------------------------------------------------------------------------


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex over posix paths: ``**`` spans directories, ``*`` does not."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class _Walk:
    files: list[tuple[str, str]] = field(default_factory=list)  # (shown, path on disk)
    skipped: list[FileIssue] = field(default_factory=list)
    charts: set[str] = field(default_factory=set)


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _walk(
    root: Path, include: Sequence[str], exclude: Sequence[str], policy_dirs: Sequence[str]
) -> _Walk:
    walk = _Walk()
    seen: set[str] = set()
    includes = _any_glob(include)
    excludes = _any_glob(exclude)

    def excluded(rel: str) -> bool:
        return excludes is not None and excludes.match(rel) is not None

    def scan(top: Path, prefix: str, inc: re.Pattern[str] | None, use_exclude: bool) -> None:
        for rel_dir, dirs, files in _tree(top):
            if any(f.name == "Chart.yaml" for f in files):
                walk.charts.add(prefix + rel_dir)
            keep = []
            for d in sorted(dirs, key=lambda e: e.name):
                rel = f"{rel_dir}/{d.name}" if rel_dir else d.name
                if d.name == ".git" or (use_exclude and (excluded(rel) or excluded(rel + "/"))):
                    continue
                if d.is_symlink():
                    # Never followed: inside the repository its target is read at its own
                    # path; outside, it is not ours to read (or to rewrite).
                    if not _is_within(Path(d.path).resolve(), root):
                        walk.skipped.append(
                            FileIssue(
                                prefix + rel,
                                None,
                                "symlink to a directory outside the repository; not followed",
                            )
                        )
                    continue
                keep.append(d)
            dirs[:] = keep
            for entry in sorted(files, key=lambda e: e.name):
                name = entry.name
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if inc is None or inc.match(rel) is None:
                    continue
                if use_exclude and excluded(rel):
                    continue
                shown = prefix + rel
                if shown in seen:
                    continue
                seen.add(shown)
                if entry.is_symlink():
                    target = Path(entry.path).resolve()
                    where = (
                        "outside the repository"
                        if not _is_within(target, root)
                        else ("inside the repository; read at its own path")
                    )
                    walk.skipped.append(FileIssue(shown, None, f"symlink to a file {where}"))
                    continue
                if not entry.is_file():
                    continue
                walk.files.append((shown, entry.path))

    scan(root, "", includes, True)
    default_includes = _any_glob(DEFAULT_INCLUDE)
    for d in policy_dirs:
        given = Path(d).expanduser()
        top = given if given.is_absolute() else root / given
        if not top.is_dir():
            continue
        resolved = top.resolve()
        if given.is_absolute():
            prefix = resolved.as_posix().rstrip("/") + "/"
            if _is_within(resolved, root):
                prefix = _rel_prefix(resolved, root)
        else:
            if not _is_within(resolved, root):
                lexical = Path(os.path.normpath(root / given))
                why = (
                    "is a symlink out of the repository"
                    if _is_within(lexical, root)
                    else "is outside the repository (give an absolute path to read it)"
                )
                walk.skipped.append(FileIssue(d, None, f"policy directory {why}; not read"))
                continue
            prefix = _rel_prefix(resolved, root)
        scan(resolved, prefix, default_includes, False)
    return walk


def _any_glob(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One regex matching a path when any of the globs does; None for no globs. Each glob
    is compiled on its own first, so a bad one fails as :func:`glob_regex` says."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{glob_regex(p).pattern})" for p in patterns))


def _tree(top: Path) -> Iterator[tuple[str, list[os.DirEntry[str]], list[os.DirEntry[str]]]]:
    """``os.walk(top)`` (top-down, symlinks not followed, unreadable directories left out)
    with each directory's entries rather than names: the type of an entry comes with the
    listing, so telling files, directories and symlinks apart costs no system call.

    Yields (the directory's posix path relative to *top*, "" for *top*, its subdirectories,
    its other entries); the caller prunes the walk by editing the subdirectories in place."""
    pending = [(str(top), "")]
    while pending:
        here, rel_dir = pending.pop()
        try:
            with os.scandir(here) as listing:
                entries = list(listing)
        except OSError:
            continue
        dirs: list[os.DirEntry[str]] = []
        files: list[os.DirEntry[str]] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows a symlink, as os.walk does
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(entry)
        yield rel_dir, dirs, files
        for d in reversed(dirs):
            pending.append((d.path, f"{rel_dir}/{d.name}" if rel_dir else d.name))


def _rel_prefix(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel + "/"


def _chart_template(rel: str, charts: set[str]) -> bool:
    parts = rel.split("/")
    for i in range(len(parts) - 1):
        if parts[i] == "templates" and "/".join(parts[:i]) in charts:
            return True
    return False


#: Bytes one of which any file with an image site or a policy document contains (``image:``,
#: ``images:``, ``$imagepolicy``, ``ImagePolicy``, ``ImageRepository``, Helm values'
#: ``repository`` + ``tag``, Flux v1's ``repository.fluxcd.io/``, Argo CD Image Updater's
#: ``ImageUpdater``), or a Flux ``Kustomization`` (its ``spec.path`` tells same-named policies
#: apart). Files without any are only checked to be YAML, not composed.
_SITE_WORDS = (b"image", b"Image", b"repository", FLUX_KUSTOMIZE_API.encode())
#: An Argo CD ``Application`` has both: its API group and its kind (``argoproj.io`` alone is
#: also every Argo Workflows, Rollouts and Events object, and an ``AppProject``).
_ARGO_WORDS = (b"argoproj.io", b"Application")


def may_hold_sites(data: bytes) -> bool:
    """False when *data* cannot hold an image site or a policy: a cheap screen before parsing."""
    return any(word in data for word in _SITE_WORDS) or all(word in data for word in _ARGO_WORDS)


blob_id = ys.blob_id


@dataclass
class _FileResult:
    """What one file contributed to a discovery, before policies from other files resolve."""

    drafts: list[_Draft]
    policies: PolicyIndex
    issues: list[FileIssue]  # errors found in the file
    skipped: FileIssue | None = None  # a template, not read
    notes: list[FileIssue] = field(default_factory=list)  # places left unread, not errors
    read: bool = True
    kustomization: Kustomization | None = None  # namespace and includes, for namespaces.py
    #: Argo CD ``Application`` / ``ImageUpdater`` documents, for :mod:`.argocd`.
    argo: list[ArgoDoc] = field(default_factory=list)


@dataclass
class DiscoveryCache:
    """Per-file discovery results keyed by Git blob id, kept between cycles.

    ``discover(..., blobs=, cache=)`` reuses the result of a file whose path and blob id are
    unchanged without reading it; only what the latest discovery saw is kept.
    ``files_parsed`` counts the files the latest discovery composed."""

    entries: dict[tuple[str, str, int], _FileResult] = field(default_factory=dict)
    files_parsed: int = 0
    #: The latest discovery's answer and what it was made from: every file's key in walk
    #: order, the walk's own issues and the default namespace. A discovery that finds all of
    #: them again, every file from the cache, returns a copy of it (the same sites) without
    #: finishing the sites again; ``reused`` says whether the latest discovery did.
    last: tuple[object, Discovery] | None = None
    reused: bool = False
    #: Hook for a cache read from the store (:mod:`imagebot.update.cyclecache`): there,
    #: ``entries`` may map each key to an empty stand-in (enough for ``last`` to answer) and
    #: this builds the real results; a discovery that needs them calls it first.
    unread: Callable[[], dict[tuple[str, str, int], _FileResult]] | None = field(
        default=None, repr=False, compare=False
    )


def _first_template_line(text: str) -> int | None:
    pos = text.find("{{")
    return text.count("\n", 0, pos) + 1 if pos != -1 else None


# --- the scan ------------------------------------------------------------------------------


def discover(
    root: Path,
    *,
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = (),
    policy_dirs: Sequence[str] = ("policies",),
    blobs: Mapping[str, str] | None = None,
    cache: DiscoveryCache | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    default_namespace: str | None = None,
    repo_urls: Sequence[str] = (),
) -> Discovery:
    """Every image site under *root*, with its policy; problems are collected, not raised.

    Argo CD Image Updater's configuration (``Application`` annotations, ``ImageUpdater``
    objects) adds a site per image it follows (:mod:`.argocd`); *repo_urls* are this
    repository's URLs, to tell an application whose source is here from one elsewhere
    (none known: a source path that exists here counts as here).

    Files over *max_file_bytes* are skipped unread, and said so. A site without
    ``metadata.namespace`` is given the namespace of a kustomization that includes its file,
    else *default_namespace* (:mod:`.namespaces`) to name it by.

    With *blobs* (path -> Git blob id of the file as it is in the checkout, for the files
    known unchanged) and a *cache*, a file whose blob was read by the previous discovery with
    that cache is not read again. Files that cannot hold a site (:func:`may_hold_sites`) are
    only checked to be YAML; the rest are composed once and only their sites are kept."""
    root = Path(root).resolve()
    result = Discovery()
    walk = _walk(root, include, exclude, policy_dirs)
    result.skipped.extend(walk.skipped)
    index = PolicyIndex()
    pending: list[_Draft] = []
    kept: dict[tuple[str, str, int], _FileResult] = {}
    kustomizations: dict[str, Kustomization] = {}
    argo: list[ArgoDoc] = []
    parsed = 0
    if cache is not None and blobs is not None and cache.last is not None:
        again = _last_answer(cache, walk, blobs, default_namespace, repo_urls)
        if again is not None:
            return again
    if cache is not None and cache.unread is not None:
        cache.entries, cache.unread = cache.unread(), None
    for rel, path in walk.files:
        role = _chart_role(rel, walk.charts)
        known = blobs.get(rel) if blobs is not None else None
        cached = cache.entries.get((rel, known, role)) if cache and known else None
        if cached is not None:
            kept[(rel, known, role)] = cached  # type: ignore[index]
            _merge(result, index, pending, rel, cached, kustomizations)
            argo.extend(cached.argo)
            continue
        try:
            data = _read_bounded(Path(path), max_file_bytes)
        except OSError as exc:
            result.errors.append(FileIssue(rel, None, f"cannot read: {exc.strerror}"))
            continue
        except _TooLarge as exc:
            result.skipped.append(FileIssue(rel, None, str(exc)))
            continue
        blob = blob_id(data)
        with ys.collector_paused:  # the file's nodes die with it: nothing to collect
            found, composed = _read_file(rel, data, role, blob)
        parsed += composed
        if cache is not None:
            kept[(rel, blob, role)] = found
        _merge(result, index, pending, rel, found, kustomizations)
        argo.extend(found.argo)
    made_from = _made_from(kept, walk, default_namespace, repo_urls)
    if cache is not None:
        cache.entries = kept
        cache.files_parsed = parsed
        cache.reused = False
    index.finish()
    for draft in pending:
        result.sites.append(draft.finish(index))
    result.errors.extend(index.errors)
    _limit_to_update_paths(result, index)
    result.sites.sort(key=lambda s: (s.file, s.line, s.container))
    covered = kustomize_namespaces(kustomizations, result.files)
    for site in result.sites:
        site.default_namespace = covered.get(site.file, default_namespace)
    if argo:
        found_sites = application_sites(
            argo,
            root=root,
            sites=result.sites,
            kustomizations=kustomizations,
            charts=walk.charts,
            repo_urls=repo_urls,
            max_file_bytes=max_file_bytes,
        )
        result.sites.extend(found_sites)
        result.argo_branches = branch_requests(argo, repo_urls)
    if cache is not None:
        cache.last = (made_from, _copy(result))
    return result


def _last_answer(
    cache: DiscoveryCache,
    walk: _Walk,
    blobs: Mapping[str, str],
    default_namespace: str | None,
    repo_urls: Sequence[str],
) -> Discovery | None:
    """The previous discovery's answer (a copy) when every file of *walk* is in the cache
    under the blob Git reports and nothing else it was made from changed; else None.

    Argo CD sites read files outside this walk's cache (sources, .argocd-source files): a
    repository with Argo CD documents is always discovered afresh."""
    assert cache.last is not None
    keys = []
    for rel, _ in walk.files:
        known = blobs.get(rel)
        if known is None:
            return None
        key = (rel, known, _chart_role(rel, walk.charts))
        found = cache.entries.get(key)
        if found is None or found.argo:
            return None
        keys.append(key)
    if cache.last[0] != _made_from(keys, walk, default_namespace, repo_urls):
        return None
    cache.files_parsed = 0
    cache.reused = True
    return _copy(cache.last[1])


#: What a file is to the Helm charts around it (:func:`_chart_role`), bits of an int.
_VALUES, _TEMPLATE = 1, 2


def _chart_role(rel: str, charts: set[str]) -> int:
    """Whether *rel* is a ``values*`` file of a chart (read as chart values) and whether it
    sits in a chart's ``templates/`` (not YAML until Helm renders it). Part of a file's cache
    key: a Chart.yaml added or removed changes what the same bytes give."""
    if not charts:
        return 0
    folder, _, basename = rel.rpartition("/")
    role = _VALUES if folder in charts and basename.startswith("values") else 0
    if "templates/" in rel and _chart_template(rel, charts):
        role |= _TEMPLATE
    return role


def _made_from(
    keys: Iterable[tuple[str, str, int]],
    walk: _Walk,
    default_namespace: str | None,
    repo_urls: Sequence[str],
) -> tuple[object, ...]:
    """What a discovery's answer depends on besides the files' results (its cache key)."""
    return (tuple(keys), tuple(walk.skipped), default_namespace, tuple(repo_urls))


def _copy(found: Discovery) -> Discovery:
    """A discovery with lists of its own (the sites and issues themselves are shared)."""
    return Discovery(
        list(found.sites),
        list(found.skipped),
        list(found.errors),
        found.files_read,
        list(found.files),
        list(found.automations),
        list(found.argo_branches),
    )


def _limit_to_update_paths(result: Discovery, index: PolicyIndex) -> None:
    """Flux writes a marker only under an ``ImageUpdateAutomation``'s ``spec.update.path``:
    with automations in the repository, a marker outside all of them is left alone (a
    warning, as for a marker naming no policy)."""
    result.automations = list(index.automations)
    usable = [a for a in index.automations if not a.error]
    if not usable:
        return
    paths = ", ".join(sorted({"./" + a.update_path for a in usable}))
    for site in result.sites:
        if not site.source.startswith("marker:") or site.warning or site.error:
            continue
        if not any(a.covers(site.file) for a in usable):
            site.warning = (
                f"outside every ImageUpdateAutomation's spec.update.path ({paths}); "
                "Flux leaves this marker alone, and so does imagebot"
            )


class _TooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, over the {limit}-byte limit (max_file_bytes); not read")


def _read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes; :class:`_TooLarge` when over *limit* (measured before reading)."""
    size = path.stat().st_size
    if size > limit:
        raise _TooLarge(size, limit)
    data = path.read_bytes()
    if len(data) > limit:  # grew since it was measured
        raise _TooLarge(len(data), limit)
    return data


def _read_file(rel: str, data: bytes, role: int, blob: str) -> tuple[_FileResult, int]:
    """One file's result, and 1 when it had to be composed."""
    found, composed, source = _read_sites(rel, data, role, blob)
    if found.read and is_kustomization_file(rel):
        # the documents just scanned when the file was composed, else composed here
        if source is not None:
            found.kustomization = kustomization_in(source.docs)
        else:
            found.kustomization = read_kustomization(data)
    return found, composed


def _read_sites(
    rel: str, data: bytes, role: int, blob: str
) -> tuple[_FileResult, int, ys.Source | None]:
    """One file's result, 1 when it had to be composed, and what it composed (if it did)."""
    if b"{{" in data and role & _TEMPLATE:
        # Even when a template happens to parse, its values are Helm's to fill in.
        line = _first_template_line(data.decode("utf-8", "replace"))
        issue = FileIssue(rel, line, "Helm chart template: not YAML until Helm renders it")
        return _FileResult([], PolicyIndex(), [], skipped=issue, read=False), 0, None
    if not may_hold_sites(data) and ys.well_formed(data):
        return _FileResult([], PolicyIndex(), []), 0, None
    try:
        source = ys.load(data)
    except ys.YamlSyntaxError as exc:
        if "{{" in data.decode("utf-8", "replace"):
            issue = FileIssue(rel, exc.line, f"template, not YAML: {exc.message}")
            return _FileResult([], PolicyIndex(), [], skipped=issue, read=False), 1, None
        issue = FileIssue(rel, exc.line, exc.message)
        return _FileResult([], PolicyIndex(), [issue], read=False), 1, None
    local = PolicyIndex()
    argo = read_docs(rel, source.docs) if b"argoproj.io" in data else []
    scanner = _FileScanner(rel, source, local, chart_values=bool(role & _VALUES), blob=blob)
    # the drafts keep their scalars' spans and values, not the node graph
    drafts = scanner.scan()
    found = _FileResult(drafts, local, scanner.issues, notes=scanner.notes, argo=argo)
    return found, 1, source


def _merge(
    result: Discovery,
    index: PolicyIndex,
    pending: list[_Draft],
    rel: str,
    found: _FileResult,
    kustomizations: dict[str, Kustomization],
) -> None:
    if found.kustomization is not None:
        kustomizations[rel] = found.kustomization
    if found.skipped is not None:
        result.skipped.append(found.skipped)
    if not found.read:
        result.errors.extend(found.issues)
        return
    result.files_read += 1
    result.files.append(rel)
    result.skipped.extend(found.notes)
    index.absorb(found.policies)
    pending.extend(found.drafts)
    result.errors.extend(found.issues)


def scan_bytes(
    data: bytes, file: str = "manifest.yaml", *, default_namespace: str | None = None
) -> Discovery:
    """Discover the sites of one file's bytes, as if it were the whole checkout.

    Markers resolve only against policies in the same bytes. For re-reading a file that was
    just rewritten, or checking content before it is written: pass the *default_namespace*
    its sites had in the checkout's discovery, so that they are named the same.
    """
    result = Discovery()
    try:
        source = ys.load(data)
    except ys.YamlSyntaxError as exc:
        result.errors.append(FileIssue(file, exc.line, exc.message))
        return result
    result.files_read, result.files = 1, [file]
    _scan_source(result, source, file, default_namespace=default_namespace)
    return result


def sites_in(
    source: ys.Source,
    file: str,
    *,
    chart_values: bool = False,
    default_namespace: str | None = None,
) -> list[ImageSite]:
    """The sites of an already composed file, read as :func:`scan_bytes` reads them (a
    chart's values file when *chart_values*); for checks over a file being rewritten."""
    result = Discovery()
    _scan_source(
        result, source, file, chart_values=chart_values, default_namespace=default_namespace
    )
    return result.sites


def _scan_source(
    result: Discovery,
    source: ys.Source,
    file: str,
    *,
    chart_values: bool = False,
    default_namespace: str | None = None,
) -> None:
    index = PolicyIndex()
    scanner = _FileScanner(
        file, source, index, chart_values=chart_values, blob=blob_id(source.data)
    )
    drafts = scanner.scan()
    result.errors.extend(scanner.issues)
    result.skipped.extend(scanner.notes)
    index.finish()
    result.sites = sorted(
        (d.finish(index) for d in drafts), key=lambda s: (s.file, s.line, s.container)
    )
    for site in result.sites:
        site.default_namespace = default_namespace
    result.errors.extend(index.errors)
    _limit_to_update_paths(result, index)


# --- one file -----------------------------------------------------------------------------

#: What a document's node becomes once its file is scanned (drafts keep only values).
_RELEASED: Node = ScalarNode("tag:yaml.org,2002:null", "")


@dataclass
class _Doc:
    index: int
    node: Node
    kind: str
    api: str
    namespace: str | None
    name: str
    annotations: dict[str, Annotation]
    prefix: tuple[str | int, ...] = ()
    line: int = 0  # of the document's first node, still known once the node is released
    #: ``metadata.labels``: only Keel reads its keys there too.
    labels: dict[str, Annotation] = field(default_factory=dict)


class _DraftOptions(TypedDict, total=False):
    """What :meth:`_FileScanner.draft` may set on a new :class:`_Draft` besides its parts."""

    fixed_name: str | None
    kind: str | None
    name: str | None
    namespace: str | None
    errors: list[str]
    marker: tuple[str, str] | None


@dataclass
class _Draft:
    """A site being assembled: its scalars, its annotations' verdict, its marker."""

    file: str
    doc: _Doc
    container: str
    parts: dict[Role, Part]
    fixed_name: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    errors: list[str] = field(default_factory=list)
    marker: tuple[str, str] | None = None
    #: The roles of the parts a marker sits on (a Flux policy writes those and no others).
    marked: set[Role] = field(default_factory=set)
    #: An unmarked ``digest:`` beside a marked tag (used unless a Flux policy decides).
    sibling_digest: Part | None = None
    sibling_name: str | None = None
    annotation_policy: ContainerPolicy | None = None
    workload_errors: list[str] = field(default_factory=list)
    blob: str | None = None
    #: An init container (Keel leaves those alone unless told).
    init: bool = False

    def reference(
        self, name_hint: str | None = None, *, setter: bool = False
    ) -> tuple[ImageReference | None, str, str | None]:
        """(parsed reference, text as written, error).

        With *setter* (a marker naming a Flux policy, which overwrites whatever is there, as
        Flux does) a digest value that is not a valid digest reads as no digest."""
        texts = {role: part.text for role, part in self.parts.items()}
        registry = texts.get("registry")
        if "image" in texts:
            text = texts["image"] if registry is None else f"{registry}/{texts['image']}"
            try:
                return ImageReference.parse(text), text, None
            except ImagebotError as exc:
                return None, text, str(exc)
        name = texts.get("name") or self.fixed_name or name_hint
        tag, digest = texts.get("tag"), texts.get("digest")
        if tag is not None and "@" in tag:
            # "0.1@sha256:..." (Argo CD Image Updater's digest strategy): a tag and a pin.
            if digest is not None:
                shown = f"{name or '?'}:{tag}@{digest}"
                return None, shown, "the tag value carries a digest and so does digest:"
            tag, _, digest = tag.partition("@")
            tag = tag or None
        shown = (
            (name or "?")
            + (f":{tag}" if tag is not None else "")
            + (f"@{digest}" if digest is not None else "")
        )
        if name is None:
            return None, shown, "cannot tell which image this tag belongs to"
        if registry is not None:
            name = f"{registry}/{name}"
            shown = f"{registry}/{shown}"
        if setter and digest is not None and not is_valid_digest(digest):
            digest = None
        try:
            ref = ImageReference.from_parts(name, tag, digest)
        except ImagebotError as exc:
            return None, shown, str(exc)
        return ref, (shown if setter else str(ref)), None

    def finish(self, index: PolicyIndex) -> ImageSite:
        errors = list(self.errors)
        warning = None
        policy_image = None
        definition = None
        if self.marker is not None:
            ns, pname = self.marker
            definition = index.lookup(ns, pname, self.file)
            if definition is None:
                # Flux skips a marker whose policy it does not know; so does imagebot, aloud.
                warning = (
                    f"marker names image policy {ns}:{pname}, which is not defined in the "
                    "repository (no Flux ImagePolicy or imagebot policy file has that name); "
                    "left alone"
                )
            elif definition.error:
                errors.append(f"image policy {ns}:{pname} is invalid: {definition.error}")
            else:
                policy_image = definition.image
        setter = (
            definition is not None
            and not definition.error
            and definition.origin == "flux"
            and policy_image is not None
        )
        hint = policy_image or self.sibling_name
        if not setter and self.sibling_digest is not None and "digest" not in self.parts:
            # imagebot's policies move a marked tag with its digest; Flux's setters write
            # only what is marked.
            self.parts["digest"] = self.sibling_digest
        ref, text, problem = self.reference(hint, setter=setter)
        if problem and (self.parts or not errors):
            errors.append(problem)
        if (
            not setter
            and ref is not None
            and policy_image is not None
            and ImageReference.parse(policy_image).repository != ref.repository
        ):
            # imagebot's own policies never rename an image; a Flux policy does (below).
            errors.append(
                f"image policy {':'.join(self.marker or ())} is for {policy_image}, "
                f"but this image is {ref.familiar_name}"
            )
        parts = self.parts
        if setter:
            # Flux's setters write the marked values and nothing else.
            parts = {r: p for r, p in self.parts.items() if r in self.marked}
        ordered = [parts[r] for r in _ROLE_ORDER if r in parts]
        first = min(ordered, key=lambda p: p.start) if ordered else None
        site = ImageSite(
            file=self.file,
            line=first.line if first else self.doc.line,
            kind=self.kind if self.kind is not None else self.doc.kind,
            namespace=self.namespace if self.namespace is not None else self.doc.namespace,
            name=self.name if self.name is not None else self.doc.name,
            container=self.container,
            image=ref,
            reference_text=text,
            tag=ref.tag if ref else self.parts["tag"].value if "tag" in self.parts else None,
            digest=ref.digest if ref else None,
            parts=ordered,
            fixed_name=None
            if "image" in self.parts or "name" in self.parts
            else (self.fixed_name or hint),
            blob=self.blob,
            api_version=self.doc.api,
        )
        cp = self.annotation_policy or ContainerPolicy()
        site.policy, site.filter, site.extract = cp.policy, cp.filter, cp.extract
        site.same_family, site.automated, site.source = cp.same_family, cp.automated, cp.source
        site.locked, site.lock_message, site.lock_user = cp.locked, cp.lock_message, cp.lock_user
        site.ignored, site.approve = cp.ignored, cp.approve
        site.min_age, site.age_source = cp.min_age, cp.age_source
        site.platforms, site.verify = cp.platforms, cp.verify
        site.interval = cp.interval
        if self.marker is not None:
            # Flux v2 updates every marked value; only an explicit "automated: false"
            # annotation on the workload says otherwise.
            site.source = f"marker:{self.marker[0]}:{self.marker[1]}"
            site.automated = not (cp.automated_explicit and not cp.automated)
            if definition is not None and not definition.error:
                site.policy, site.filter = definition.policy, definition.filter
                site.extract = definition.extract
                # The workload's imagebot.io/same-family decides; else the policy's own
                # default (an imagebot file's sameFamily, none for a Flux ImagePolicy).
                site.same_family = cp.family if cp.family is not None else definition.same_family
                site.approve = site.approve or definition.approve
                # The workload's own gate annotations win over its policy file's.
                site.min_age = site.min_age or definition.min_age
                site.age_source = site.age_source or definition.age_source
                site.platforms = site.platforms or definition.platforms
                site.verify = site.verify or definition.verify
            if setter:
                site.policy_image = policy_image
                site.digest_reflection = definition.digest_reflection if definition else None
                site.exclude = definition.exclusions if definition else ()
            if warning is not None:
                site.policy = None
                site.warning = warning
        errors.extend(e for e in self.workload_errors if e not in errors)
        if errors:
            site.error = "; ".join(errors)
        return site


class _FileScanner:
    def __init__(
        self,
        file: str,
        source: ys.Source,
        index: PolicyIndex,
        *,
        chart_values: bool = False,
        blob: str | None = None,
    ) -> None:
        self.file = file
        self.blob = blob
        self.chart_values = chart_values
        self.source = source
        self.index = index
        self.issues: list[FileIssue] = []
        #: Things left unread on purpose (not errors): reported with the skipped files.
        self.notes: list[FileIssue] = []
        #: Per document index: messages about duplicate keys on the way to an image.
        self.duplicates: dict[int, dict[str, None]] = {}

    # --- helpers ---------------------------------------------------------------------------

    def part(
        self,
        role: Role,
        doc: _Doc,
        path: tuple[str | int, ...],
        node: ScalarNode,
        inner: tuple[int, int] | None = None,
    ) -> Part:
        start, end = ys.scalar_extent(self.source.text, node)
        return Part(
            inner=inner,
            role=role,
            doc=doc.index,
            path=doc.prefix + path,
            value=node.value,
            style=ys.style_of(node),
            start=self.source.byte_offset(start),
            end=self.source.byte_offset(end),
            line=node.start_mark.line + 1,
            tag=node.tag or "",
        )

    def draft(
        self, doc: _Doc, container: str, parts: dict[Role, Part], **options: Unpack[_DraftOptions]
    ) -> _Draft:
        return _Draft(self.file, doc, container, parts, blob=self.blob, **options)

    # --- documents ---------------------------------------------------------------------------

    def scan(self) -> list[_Draft]:
        drafts: list[_Draft] = []
        docs: list[_Doc] = []
        for i, node in enumerate(self.source.docs):
            if self.index.add_document(self.file, node):
                continue
            for doc in self._documents(i, node):
                docs.append(doc)
        by_doc: dict[int, list[_Draft]] = {}
        for doc in docs:
            found = self._sites(doc)
            by_doc.setdefault(id(doc), []).extend(found)
            drafts.extend(found)
        markers = self._markers(docs, drafts)
        for draft in markers:
            by_doc.setdefault(id(draft.doc), []).append(draft)
            drafts.append(draft)
        self._refuse_duplicates(drafts)
        for doc in docs:
            members = by_doc.get(id(doc), [])
            if not members:
                continue
            policies = AnnotationPolicies(
                doc.annotations, [d.container for d in members], labels=doc.labels
            )
            for draft in members:
                image = None if policies.silent else draft.reference()[0]
                draft.annotation_policy = policies.for_container(
                    draft.container, image, init=draft.init
                )
            for draft in members:
                draft.workload_errors = list(policies.errors)
        for draft in drafts:
            draft.doc.node = _RELEASED  # drafts outlive the file's node graph
        return drafts

    def _refuse_duplicates(self, drafts: list[_Draft]) -> None:
        """A key written twice on the way to any image makes every site of that document an
        error: tools disagree on which one counts, so neither is rewritten."""
        found = self.duplicates
        for draft in drafts:
            for part in draft.parts.values():
                dups = graph.duplicate_keys(self.source.docs[part.doc], part.path)
                if dups:
                    found.setdefault(part.doc, {})[_duplicates_message(dups)] = None
        for draft in drafts:
            for message in found.get(draft.doc.index, {}):
                if message not in draft.errors:
                    draft.errors.append(message)

    def _documents(self, index: int, node: Node) -> Iterator[_Doc]:
        doc = self._doc(index, node, ())
        yield doc
        if doc.kind == "List" or doc.kind.endswith("List"):
            for j, item in enumerate(ys.seq(ys.get(node, "items"))):
                yield self._doc(index, item, ("items", j))

    def _doc(self, index: int, node: Node, prefix: tuple[str | int, ...]) -> _Doc:
        metadata = ys.get(node, "metadata")
        return _Doc(
            index=index,
            node=node,
            kind=ys.get_str(node, "kind") or "",
            api=ys.get_str(node, "apiVersion") or "",
            namespace=ys.get_str(metadata, "namespace"),
            name=ys.get_str(metadata, "name") or ys.get_str(metadata, "generateName") or "",
            annotations=read_annotations(ys.get(metadata, "annotations")),
            prefix=prefix,
            line=node.start_mark.line + 1,
            labels=read_annotations(ys.get(metadata, "labels")),
        )

    def _sites(self, doc: _Doc) -> list[_Draft]:
        if doc.kind in ("HelmRelease", "FluxHelmRelease"):
            if doc.api.startswith(FLUX1_HELM_APIS):
                return self._helm_release(doc, flux_v1=True)
            if doc.api.startswith(FLUX2_HELM_API):
                return self._helm_release(doc, flux_v1=False)
            return []
        if doc.kind in ("Kustomization", "Component") and doc.api.startswith(FLUX_KUSTOMIZE_API):
            path = ys.get_str(ys.get(doc.node, "spec"), "path")
            if path is not None and not doc.prefix:
                self.index.flux_paths.append((self.file, path))
            return self._kustomize_images(doc, ("spec", "images"))
        basename = self.file.rsplit("/", 1)[-1]
        if self.chart_values and not doc.kind and not doc.prefix:
            return self._chart_values(doc)
        if not doc.kind and not doc.prefix and _COMPOSE_FILE.match(basename):
            return self._compose(doc)
        if (doc.kind in ("Kustomization", "Component") and doc.api.startswith(KUSTOMIZE_API)) or (
            not doc.kind and not doc.prefix and basename in KUSTOMIZATION_FILES
        ):
            return self._kustomize_images(doc, ("images",))
        return self._workload(doc)

    # --- workloads ---------------------------------------------------------------------------

    def _workload(self, doc: _Doc) -> list[_Draft]:
        """Containers and initContainers of every pod spec of the object (:mod:`.podspecs`).

        A container name found in two pod specs of one object (a leader and a worker
        template) is qualified by the pod spec's label (``workerTemplate.nginx``)."""
        specs = pod_specs(doc.node, doc.kind, doc.api)
        found: list[tuple[str, str, _Draft]] = []  # (plain name, label, draft)
        for spec in specs:
            for name, draft in self._pod_spec(doc, spec.path):
                found.append((name, spec.label, draft))
        labels: dict[str, set[str]] = {}
        for name, label, _ in found:
            labels.setdefault(name, set()).add(label)
        for name, label, draft in found:
            if len(labels[name]) > 1 and draft.container == name:
                draft.container = f"{label}.{name}"
        return [draft for _, _, draft in found]

    def _pod_spec(self, doc: _Doc, spec_path: ys.Path) -> Iterator[tuple[str, _Draft]]:
        pod = ys.get_path(doc.node, spec_path)
        for section in CONTAINER_SECTIONS:
            # Seen even when the first of two lists has no image (and so no site).
            dups = graph.duplicate_keys(doc.node, (*spec_path, section))
            if dups:
                message = _duplicates_message(dups)
                if message not in self.duplicates.get(doc.index, {}):
                    self.duplicates.setdefault(doc.index, {})[message] = None
                    yield dups[0][0], self.draft(doc, dups[0][0], {}, errors=[message])
                continue
            for i, container in enumerate(ys.seq(ys.get(pod, section))):
                image = ys.get(container, "image")
                if image is None:
                    continue  # patches often name a container without its image
                name = ys.get_str(container, "name") or f"{section}[{i}]"
                path: ys.Path = (*spec_path, section, i, "image")
                if not isinstance(image, ScalarNode):
                    yield name, self.draft(doc, name, {}, errors=["image is not a string"])
                    continue
                if ys.scalar_text(image) is None or image.value == "":
                    continue
                draft = self.draft(doc, name, {"image": self.part("image", doc, path, image)})
                draft.init = section == "initContainers"
                yield name, draft

    # --- HelmRelease values --------------------------------------------------------------------

    def _helm_release(self, doc: _Doc, *, flux_v1: bool) -> list[_Draft]:
        values_path = ("spec", "values")
        values = ys.get_path(doc.node, values_path)
        found: dict[str, _Draft] = {}
        if isinstance(values, MappingNode):
            if flux_v1:
                draft = self._values_container(doc, values, values_path, CHART_IMAGE, flux_v1=True)
                if draft:
                    found[CHART_IMAGE] = draft
                for key, _, value in ys.items(values):
                    draft = self._values_container(
                        doc, value, (*values_path, key), key, flux_v1=True
                    )
                    if draft:
                        found[key] = draft
            else:
                for draft in self._values_tree(doc, values, values_path):
                    found.setdefault(draft.container, draft)
        mapped, problems = self._path_annotations(doc, values, values_path)
        taken = {(p.doc, p.path) for d in mapped.values() for p in d.parts.values()}
        for name, draft in list(found.items()):
            if name in mapped or any((p.doc, p.path) in taken for p in draft.parts.values()):
                del found[name]
        found.update(mapped)
        drafts = list(found.values())
        if problems:
            for draft in drafts:
                draft.errors.extend(problems)
            if not drafts:
                drafts.append(self.draft(doc, "", {}, errors=problems))
        return drafts

    def _values_container(
        self, doc: _Doc, node: Node, path: tuple[str | int, ...], name: str, *, flux_v1: bool
    ) -> _Draft | None:
        """Flux v1's reading of a values mapping holding ``image`` (string or mapping).

        Beyond Flux v1 (Flux v2 values, chart values files) ``image: {repo: ..., tag: ...}``
        is read too; for Flux v1 releases only what Flux v1 read, so that its annotations
        govern the same containers."""
        image = ys.get(node, "image")
        if isinstance(image, ScalarNode):
            if ys.scalar_text(image) in (None, ""):
                return None
            parts: dict[Role, Part] = {}
            tag = _scalar(ys.get(node, "tag"))
            digest = _nonempty(ys.get(node, "digest"))
            registry = _scalar(ys.get(node, "registry"))
            role: Role = "name" if tag is not None or digest is not None else "image"
            parts[role] = self.part(role, doc, (*path, "image"), image)
            if tag is not None:
                parts["tag"] = self.part("tag", doc, (*path, "tag"), tag)
            if digest is not None:
                # ingress-nginx's {registry, image, tag, digest}: the chart renders
                # tag@digest, so a new tag beside the old digest would change nothing.
                parts["digest"] = self.part("digest", doc, (*path, "digest"), digest)
            if registry is not None:
                parts["registry"] = self.part("registry", doc, (*path, "registry"), registry)
            return self.draft(doc, name, parts)
        if isinstance(image, MappingNode):
            keys = ("repository",) if flux_v1 else ("repository", "repo")
            return self._image_mapping(doc, image, (*path, "image"), name, repo_keys=keys)
        return None

    def _image_mapping(
        self,
        doc: _Doc,
        node: MappingNode,
        path: tuple[str | int, ...],
        name: str,
        *,
        strict: bool = True,
        repo_keys: tuple[str, ...] = ("repository",),
    ) -> _Draft | None:
        """``{registry?, repository, tag?, digest?}`` as Helm charts write an image."""
        repo_key = next((k for k in repo_keys if ys.get(node, k) is not None), repo_keys[0])
        repository = _scalar(ys.get(node, repo_key))
        if repository is None or repository.value == "":
            return None
        tag = _scalar(ys.get(node, "tag"))
        digest = _scalar(ys.get(node, "digest"))
        registry = _scalar(ys.get(node, "registry"))
        if tag is not None and tag.value == "":
            tag = None
        if digest is not None and digest.value == "":
            digest = None
        if not strict:
            if tag is None and digest is None:
                return None
            try:
                ImageReference.parse(
                    (f"{registry.value}/" if registry is not None else "") + repository.value
                )
            except ImagebotError:
                return None
        parts: dict[Role, Part] = {}
        split = tag is not None or digest is not None
        role: Role = "name" if split else "image"
        parts[role] = self.part(role, doc, (*path, repo_key), repository)
        if tag is not None:
            parts["tag"] = self.part("tag", doc, (*path, "tag"), tag)
        if digest is not None:
            parts["digest"] = self.part("digest", doc, (*path, "digest"), digest)
        if registry is not None and registry.value != "":
            parts["registry"] = self.part("registry", doc, (*path, "registry"), registry)
        return self.draft(doc, name, parts)

    def _values_tree(
        self, doc: _Doc, node: Node, path: tuple[str | int, ...], *, base: int = 2
    ) -> Iterator[_Draft]:
        """Flux v2: images anywhere in the values (``image:`` or ``repository`` + ``tag``).

        *base* is how many leading path keys lead to the values (``spec.values``)."""
        if len(path) - base > 50:
            return
        if isinstance(node, MappingNode):
            rel = path[base:]
            name = CHART_IMAGE if not rel else ".".join(str(p) for p in rel)
            pairs = ys.items(node)
            skip: set[str] = set()
            draft = self._values_container(doc, node, path, name, flux_v1=False)
            if draft is not None:
                skip = {"image", "tag", "registry"}
                yield draft
            elif "image" not in (k for k, _, _ in pairs):
                draft = self._image_mapping(doc, node, path, name, strict=False)
                if draft is not None:
                    yield draft
                    return
            for key, _, value in pairs:
                if key not in skip:
                    yield from self._values_tree(doc, value, (*path, key), base=base)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                yield from self._values_tree(doc, item, (*path, i), base=base)

    def _path_annotations(
        self, doc: _Doc, values: Node | None, values_path: tuple[str, ...]
    ) -> tuple[dict[str, _Draft], list[str]]:
        """Flux v1's ``repository.fluxcd.io/<alias>`` (+ registry, tag) value paths."""
        maps: dict[str, dict[str, tuple[str, Annotation]]] = {}
        for key, ann in doc.annotations.items():
            for field_name, prefix in PATH_PREFIXES.items():
                if key.startswith(prefix):
                    maps.setdefault(key[len(prefix) :], {})[field_name] = (key, ann)
        drafts: dict[str, _Draft] = {}
        problems: list[str] = []
        for alias, fields in sorted(maps.items()):
            if "repository" not in fields:
                key = next(iter(fields.values()))[0]
                problems.append(f"annotation {key} needs {PATH_PREFIXES['repository']}{alias}")
                continue
            parts: dict[Role, Part] = {}
            for field_name in ("repository", "registry", "tag"):
                if field_name not in fields:
                    continue
                key, ann = fields[field_name]
                rel = tuple(int(p) if p.isdigit() else p for p in ann.value.split("."))
                node = ys.get_path(values, rel)
                if not isinstance(node, ScalarNode) or ys.scalar_text(node) is None:
                    problems.append(f"annotation {key}: no value at spec.values.{ann.value}")
                    continue
                role = _PATH_ROLES[field_name]
                if field_name == "repository" and "tag" not in fields:
                    role = "image"
                parts[role] = self.part(role, doc, (*values_path, *rel), node)
            if "image" in parts or "name" in parts:
                drafts[alias] = self.draft(doc, alias, parts)
        return drafts, problems

    def _chart_values(self, doc: _Doc) -> list[_Draft]:
        """A Helm chart's own values file: its default images, read like Flux v2 values."""
        chart = self.file.rsplit("/", 2)[-2] if self.file.count("/") >= 1 else "."
        drafts = list(self._values_tree(doc, doc.node, (), base=0))
        for draft in drafts:
            draft.kind, draft.name = "HelmValues", chart
        return drafts

    def _compose(self, doc: _Doc) -> list[_Draft]:
        """Docker Compose ``services.<name>.image``; ``${VAR:-repo:tag}`` is read (and
        written) through its default, a value set only from the environment is noted."""
        drafts = []
        for name, _, service in ys.items(ys.get(doc.node, "services")):
            image = _scalar(ys.get(service, "image"))
            if image is None or image.value == "":
                continue
            inner = None
            if "$" in image.value:
                found = _COMPOSE_DEFAULT.fullmatch(image.value)
                if found is None or not found["default"]:
                    self.notes.append(
                        FileIssue(
                            self.file,
                            image.start_mark.line + 1,
                            f"service {name}: image {image.value!r} comes from the environment "
                            "(only a whole ${VAR:-repo:tag} has a default here to update); "
                            "not read",
                        )
                    )
                    continue
                inner = (found.start("default"), found.end("default"))
            part = self.part("image", doc, ("services", name, "image"), image, inner)
            drafts.append(self.draft(doc, name, {"image": part}, kind="ComposeService", name=name))
        return drafts

    # --- kustomize images ------------------------------------------------------------------------

    def _kustomize_images(self, doc: _Doc, images_path: tuple[str, ...]) -> list[_Draft]:
        drafts = []
        if doc.name:
            owner = doc.name
        else:
            owner = self.file.rsplit("/", 1)[0] if "/" in self.file else "."
        namespace = doc.namespace
        if images_path == ("images",) and namespace is None:
            namespace = ys.get_str(doc.node, "namespace")
        for i, entry in enumerate(ys.seq(ys.get_path(doc.node, images_path))):
            name = ys.get_str(entry, "name")
            if name is None:
                continue
            parts: dict[Role, Part] = {}
            for key, role in _KUSTOMIZE_FIELDS:
                node = _scalar(ys.get(entry, key))
                if node is not None and node.value != "":
                    parts[role] = self.part(role, doc, (*images_path, i, key), node)
            if not parts:
                continue  # an entry that changes nothing
            drafts.append(
                self.draft(
                    doc,
                    name,
                    parts,
                    fixed_name=name,
                    kind=doc.kind or "Kustomization",
                    name=owner,
                    namespace=namespace,
                )
            )
        return drafts

    # --- markers ---------------------------------------------------------------------------------

    def _markers(self, docs: list[_Doc], drafts: list[_Draft]) -> list[_Draft]:
        text = self.source.text
        matches = list(_MARKER.finditer(text))
        if not matches:
            return []
        by_end: dict[int, list[tuple[_Doc, tuple[str | int, ...], ScalarNode]]] = {}
        scalar_spans: list[tuple[int, int]] = []
        for doc in self._marker_docs(docs):
            for path, node in ys.walk_scalars(doc.node):
                if node.start_mark.index == node.end_mark.index:
                    continue  # an empty value: nothing is written there to carry a marker
                by_end.setdefault(node.end_mark.index, []).append((doc, path, node))
                scalar_spans.append((node.start_mark.index, node.end_mark.index))
        owners: dict[tuple[int, tuple[str | int, ...]], tuple[_Draft, Role]] = {}
        for existing in drafts:
            for role, part in existing.parts.items():
                owners[(part.doc, part.path)] = (existing, role)
        groups: dict[tuple[int, tuple[str | int, ...], str, str], _Draft] = {}
        made: list[_Draft] = []
        for match in matches:
            hash_at = match.start()
            line = text.count("\n", 0, hash_at) + 1
            end = hash_at
            while end > 0 and text[end - 1] in " \t":
                end -= 1
            candidates = by_end.get(end, []) if end < hash_at else []
            if not candidates:
                if not any(s <= hash_at < e for s, e in scalar_spans) and not _commented_out(
                    text, hash_at, scalar_spans
                ):
                    self.issues.append(
                        FileIssue(
                            self.file, line, "image policy marker is not on a scalar value; ignored"
                        )
                    )
                continue
            doc, rel_path, node = candidates[-1]
            ref = match.group(1)
            pieces = ref.split(":")
            if (
                len(pieces) not in (2, 3)
                or not all(pieces)
                or (len(pieces) == 3 and pieces[2] not in ("tag", "name", "digest"))
            ):
                self.issues.append(
                    FileIssue(
                        self.file,
                        line,
                        f"image policy marker {ref!r}: "
                        "expected <namespace>:<name>[:tag|:name|:digest]",
                    )
                )
                continue
            ns, pname = pieces[0], pieces[1]
            role = _MARKER_FIELDS[pieces[2] if len(pieces) == 3 else None]
            path = doc.prefix + rel_path
            owner = owners.get((doc.index, path))
            split_from = None
            if owner is not None:
                owned, part_role = owner
                if owned.marker in (None, (ns, pname)) or role != part_role:
                    self._attach(owned, (ns, pname), role, part_role)
                    continue
                # Another policy's marker on a value of the same entry (a kustomize digest
                # marked on its own): as in Flux, each marker sets its own value.
                del owned.parts[part_role]
                split_from = owned
            parent = path[:-1]
            key = (doc.index, parent, ns, pname)
            draft = groups.get(key)
            if draft is None or role in draft.parts:
                container = ".".join(str(p) for p in parent) or str(path[-1])
                if split_from is not None:
                    container = split_from.container
                draft = self.draft(doc, container, {}, marker=(ns, pname))
                if split_from is not None:
                    draft.kind, draft.name = split_from.kind, split_from.name
                    draft.namespace = split_from.namespace
                parent_node = ys.get_path(doc.node, rel_path[:-1])
                for sibling in ("repository", "image", "name"):
                    value = _scalar(ys.get(parent_node, sibling))
                    if value is not None and sibling != path[-1] and value.value:
                        draft.sibling_name = value.value
                        break
                groups[key] = draft
                made.append(draft)
            draft.parts[role] = self.part(role, doc, rel_path, node)
            draft.marked.add(role)
        taken = set(owners) | {(p.doc, p.path) for d in made for p in d.parts.values()}
        for draft in made:
            self._sibling_digest(draft, taken)
        return made

    def _sibling_digest(self, draft: _Draft, taken: set[tuple[int, tuple[str | int, ...]]]) -> None:
        """A marked tag with an unmarked ``digest:`` beside it: the two move together."""
        tag = draft.parts.get("tag")
        if tag is None or "digest" in draft.parts or "image" in draft.parts:
            return
        parent = tag.path[:-1]
        node = _nonempty(ys.get(ys.get_path(self.source.docs[tag.doc], parent), "digest"))
        if node is None or (tag.doc, (*parent, "digest")) in taken:
            return
        top = _Doc(tag.doc, self.source.docs[tag.doc], "", "", None, "", {})
        draft.sibling_digest = self.part("digest", top, (*parent, "digest"), node)

    def _marker_docs(self, docs: list[_Doc]) -> list[_Doc]:
        """Top-level documents, including policy documents that were not kept as ``_Doc``."""
        have = {d.index for d in docs if not d.prefix}
        extra = []
        for i, node in enumerate(self.source.docs):
            if i not in have:
                extra.append(self._doc(i, node, ()))
        return [d for d in docs if not d.prefix] + extra

    def _attach(self, draft: _Draft, ref: tuple[str, str], role: Role, part_role: Role) -> None:
        if draft.marker is not None and draft.marker != ref:
            draft.errors.append(
                f"markers name two image policies: {':'.join(draft.marker)} and {':'.join(ref)}"
            )
            return
        draft.marker = ref
        draft.marked.add(part_role)
        if role != part_role:
            wanted = {
                "image": "a whole image reference",
                "tag": "a tag",
                "name": "an image name",
                "digest": "a digest",
                "registry": "a registry",
            }
            draft.errors.append(
                f"marker {':'.join(ref)}{'' if role == 'image' else ':' + role} is on "
                f"{wanted[part_role]}, but it expects {wanted[role]}"
            )


def read_annotations(block: Node | None) -> dict[str, Annotation]:
    """A ``metadata.annotations`` mapping as the policy readers take it, each with its key's
    line (``imagebot check`` points there); a value that is not a scalar reads as
    ``<not a string>``, which no policy accepts."""
    annotations: dict[str, Annotation] = {}
    for key, key_node, value in ys.items(block):
        line = key_node.start_mark.line + 1
        if isinstance(value, ScalarNode):
            annotations[key] = Annotation(value.value, ys.is_str(value), line)
        else:
            annotations[key] = Annotation("<not a string>", False, line)
    return annotations


def _commented_out(text: str, hash_at: int, spans: list[tuple[int, int]]) -> bool:
    """True when the marker sits inside an earlier comment on its line (an example)."""
    line_start = max(text.rfind("\n", 0, hash_at), text.rfind("\r", 0, hash_at)) + 1
    for pos in range(line_start, hash_at):
        starts_comment = text[pos] == "#" and (pos == line_start or text[pos - 1] in " \t")
        if starts_comment and not any(s <= pos < e for s, e in spans):
            return True
    return False


def _duplicates_message(dups: list[tuple[str, list[int]]]) -> str:
    return (
        f"{graph.describe_duplicates(dups)} on the path to an image in this document; "
        "imagebot will not guess which one counts"
    )


def _scalar(node: Node | None) -> ScalarNode | None:
    if isinstance(node, ScalarNode) and ys.scalar_text(node) is not None:
        return node
    return None


def _nonempty(node: Node | None) -> ScalarNode | None:
    found = _scalar(node)
    return found if found is not None and found.value != "" else None


__all__ = [
    "DEFAULT_INCLUDE",
    "DEFAULT_MAX_FILE_BYTES",
    "DiscoveryCache",
    "blob_id",
    "discover",
    "glob_regex",
    "may_hold_sites",
    "read_annotations",
    "scan_bytes",
    "sites_in",
]

# Keep the prefixes importable from here for callers that format annotation keys.
ANNOTATION_PREFIXES = (IMAGEBOT, FLUX, WEAVE, FILTER, ARGO)
