"""Named image policies that marker comments refer to.

Two kinds of documents define them, found in any file the scan reads:

* imagebot's own, normally kept under ``policies/``::

    apiVersion: imagebot.io/v1
    kind: ImagePolicy
    metadata:
      name: podinfo
      namespace: flux-system      # optional: without it the policy answers for any namespace
    spec:
      image: ghcr.io/stefanprodan/podinfo   # optional: the image the policy is for
      policy: semver:~6.0                   # required: any imagebot policy string
      filter: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$'   # optional regex, searched
      extract: '$ts'                        # optional, Flux's template syntax
      sameFamily: true                      # optional, default true
      approve: true                         # optional: updates wait for a person's approval
      minAge: 3d                            # optional gates (README: "Supply-chain gates")
      ageSource: seen                       #   seen (default) or created
      platforms: [linux/amd64, linux/arm64]
      verify: release-keys                  #   a verifier named in the config

* Flux v2's ``ImagePolicy`` and ``ImageRepository`` (``image.toolkit.fluxcd.io``), so the
  markers of a Flux v2 repository resolve as they do for Flux: with Flux's semantics, not
  imagebot's tag-family rule (Flux has no such rule and its schema no field to switch it on;
  the workload annotation ``imagebot.io/same-family: "true"`` does), and
  ``spec.digestReflectionPolicy`` (``IfNotPresent``, ``Always``) making marked values carry
  the digest.

Every problem is reported with file, line and key, and the policy is kept as broken so that a
marker naming it shows the error instead of "no such policy".
"""

from __future__ import annotations

import difflib
import posixpath
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagebot.errors import ImagebotError, PolicyError
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.fluxautomation import KIND as AUTOMATION_KIND
from imagebot.manifests.fluxautomation import Automation, read_automation
from imagebot.manifests.models import FileIssue
from imagebot.manifests.policycheck import check_policy
from imagebot.policy.filters import MAX_EXCLUSIONS
from imagebot.policy.goregex import compile_go
from imagebot.reference import ImageReference

IMAGEBOT_API = "imagebot.io/v1"
FLUX_IMAGE_GROUP = "image.toolkit.fluxcd.io/"

_SPEC_KEYS = (
    "image",
    "policy",
    "filter",
    "extract",
    "sameFamily",
    "approve",
    "minAge",
    "ageSource",
    "platforms",
    "verify",
)
_METADATA_KEYS = ("name", "namespace", "labels", "annotations")
#: Flux's ``ImagePolicy.spec.digestReflectionPolicy`` values.
DIGEST_REFLECTION = ("Never", "IfNotPresent", "Always")


#: What Flux's ``ImageRepository`` excludes when its ``exclusionList`` is not set: cosign
#: signature tags (``sha256-<digest>.sig``).
FLUX_DEFAULT_EXCLUSIONS = (r"^.*\.sig$",)


@dataclass
class PolicyDef:
    """One named policy. ``error`` set means it exists but cannot be used."""

    namespace: str | None
    name: str
    file: str
    line: int
    origin: str  # "imagebot" or "flux"
    policy: str | None = None
    filter: str | None = None
    extract: str | None = None
    same_family: bool = True
    approve: bool = False
    min_age: str | None = None
    age_source: str | None = None
    platforms: tuple[str, ...] | None = None
    verify: str | None = None
    image: str | None = None
    error: str | None = None
    repository_ref: tuple[str | None, str] | None = None
    #: Flux's ``spec.digestReflectionPolicy`` when it asks for digests (not ``Never``).
    digest_reflection: str | None = None
    #: Its ``ImageRepository``'s ``spec.exclusionList``: tags matching one are never chosen.
    exclusions: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}:{self.name}" if self.namespace else self.name

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class _Repository:
    namespace: str | None
    name: str
    image: str | None
    file: str
    line: int
    error: str | None = None
    exclusions: tuple[str, ...] = FLUX_DEFAULT_EXCLUSIONS


class _Invalid(Exception):
    def __init__(self, node: Node | None, key: str, message: str) -> None:
        super().__init__(message)
        self.node, self.key, self.message = node, key, message


@dataclass
class PolicyIndex:
    """All policies of a checkout, looked up by ``namespace:name``."""

    policies: dict[tuple[str | None, str], list[PolicyDef]] = field(default_factory=dict)
    repositories: dict[tuple[str | None, str], list[_Repository]] = field(default_factory=dict)
    errors: list[FileIssue] = field(default_factory=list)
    #: Flux ``Kustomization`` objects as (file, ``spec.path``): which cluster tree a file is in.
    flux_paths: list[tuple[str, str]] = field(default_factory=list)
    #: Flux ``ImageUpdateAutomation`` objects (where markers are written, how to commit).
    automations: list[Automation] = field(default_factory=list)
    #: {len(flux_paths): {file: trees}}: :meth:`_trees` answers, valid while no path is added.
    _tree_cache: dict[int, dict[str, set[int]]] = field(default_factory=dict, repr=False)

    # --- collecting ----------------------------------------------------------------------

    def add_document(self, file: str, doc: Node) -> bool:
        """Record *doc* if it defines a policy or image repository; True when it did."""
        api = ys.get_str(doc, "apiVersion") or ""
        kind = ys.get_str(doc, "kind") or ""
        if api.startswith("imagebot.io/") and kind == "ImagePolicy":
            self._add(self._imagebot_policy(file, doc, api))
            return True
        if api.startswith(FLUX_IMAGE_GROUP) and kind == "ImagePolicy":
            self._add(self._flux_policy(file, doc))
            return True
        if api.startswith(FLUX_IMAGE_GROUP) and kind == AUTOMATION_KIND:
            automation = read_automation(file, doc)
            if automation.error:
                self.errors.append(FileIssue(file, automation.error_line, automation.error))
            if automation.template_error:
                self.errors.append(
                    FileIssue(file, automation.template_line, automation.template_error)
                )
            if automation.refspec_error:
                self.errors.append(
                    FileIssue(file, automation.refspec_line, automation.refspec_error)
                )
            self.automations.append(automation)
            return True
        if api.startswith(FLUX_IMAGE_GROUP) and kind == "ImageRepository":
            repo = self._flux_repository(file, doc)
            if repo is not None:
                self.repositories.setdefault((repo.namespace, repo.name), []).append(repo)
            return True
        return False

    def absorb(self, other: PolicyIndex) -> None:
        """Add what *other* (one file's index, kept between scans) collected, as copies."""
        self.errors.extend(other.errors)
        self.flux_paths.extend(other.flux_paths)
        self.automations.extend(replace(a) for a in other.automations)
        for same in other.policies.values():
            for policy in same:
                self._add(replace(policy))
        for key, repos in other.repositories.items():
            self.repositories.setdefault(key, []).extend(replace(r) for r in repos)

    def _add(self, policy: PolicyDef | None) -> None:
        if policy is None:
            return
        same = self.policies.setdefault((policy.namespace, policy.name), [])
        same.append(policy)
        # The same name in several folders (one per cluster) is told apart by where a marker
        # is (lookup); twice in one folder, never.
        folder = posixpath.dirname(policy.file)
        twins = [p for p in same if posixpath.dirname(p.file) == folder]
        if len(twins) > 1:
            places = ", ".join(p.where for p in twins)
            message = f"image policy {policy.key} is defined more than once ({places})"
            self.errors.append(FileIssue(policy.file, policy.line, message))
            for p in twins:
                p.error = message

    def _issue(self, file: str, exc: _Invalid, fallback_line: int) -> str:
        line = exc.node.start_mark.line + 1 if exc.node is not None else fallback_line
        self.errors.append(FileIssue(file, line, f"{exc.key}: {exc.message}"))
        return f"{file}:{line}: {exc.key}: {exc.message}"

    # --- imagebot's own schema -------------------------------------------------------------

    def _imagebot_policy(self, file: str, doc: Node, api: str) -> PolicyDef | None:
        line = doc.start_mark.line + 1
        try:
            if api != IMAGEBOT_API:
                raise _Invalid(
                    ys.get(doc, "apiVersion"),
                    "apiVersion",
                    f"unsupported version {api!r} (expected {IMAGEBOT_API})",
                )
            namespace, name = _metadata(doc)
        except _Invalid as exc:
            self._issue(file, exc, line)
            return None
        policy = PolicyDef(namespace, name, file, line, "imagebot")
        try:
            spec = ys.get(doc, "spec")
            if not isinstance(spec, MappingNode):
                raise _Invalid(spec or doc, "spec", "expected a mapping with at least 'policy'")
            for key, key_node, _ in ys.items(spec):
                if key not in _SPEC_KEYS:
                    close = difflib.get_close_matches(key, _SPEC_KEYS, n=1, cutoff=0.6)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise _Invalid(key_node, f"spec.{key}", f"unknown key{hint}")
            policy_node = ys.get(spec, "policy")
            if policy_node is None:
                raise _Invalid(spec, "spec.policy", "missing: the policy string, e.g. semver:~1.0")
            policy.policy = _string(policy_node, "spec.policy")
            policy.filter = _optional_string(spec, "filter")
            policy.extract = _optional_string(spec, "extract")
            family = ys.get(spec, "sameFamily")
            if family is not None:
                if not isinstance(family, ScalarNode) or family.tag != "tag:yaml.org,2002:bool":
                    raise _Invalid(family, "spec.sameFamily", "expected true or false")
                policy.same_family = family.value.lower() == "true"
            approve = ys.get(spec, "approve")
            if approve is not None:
                if not isinstance(approve, ScalarNode) or approve.tag != "tag:yaml.org,2002:bool":
                    raise _Invalid(approve, "spec.approve", "expected true or false")
                policy.approve = approve.value.lower() == "true"
            image_node = ys.get(spec, "image")
            if image_node is not None:
                policy.image = _image_name(image_node, "spec.image")
            _read_gates(spec, policy)
            self._check(policy, policy_node, "spec.policy")
        except _Invalid as exc:
            policy.error = self._issue(file, exc, line)
        return policy

    def _check(self, policy: PolicyDef, node: Node, key: str) -> None:
        assert policy.policy is not None
        policy.policy, problem = check_policy(
            policy.policy,
            filter=policy.filter,
            extract=policy.extract,
            same_family=policy.same_family,
        )
        if problem:
            raise _Invalid(node, key, problem)

    # --- Flux v2 ---------------------------------------------------------------------------

    def _flux_policy(self, file: str, doc: Node) -> PolicyDef | None:
        line = doc.start_mark.line + 1
        try:
            namespace, name = _metadata(doc)
        except _Invalid as exc:
            self._issue(file, exc, line)
            return None
        policy = PolicyDef(namespace, name, file, line, "flux", same_family=False)
        try:
            spec = ys.get(doc, "spec")
            ref = ys.get(spec, "imageRepositoryRef")
            ref_name = ys.get_str(ref, "name")
            if ref_name is None:
                raise _Invalid(ref or spec or doc, "spec.imageRepositoryRef.name", "missing")
            policy.repository_ref = (ys.get_str(ref, "namespace") or namespace, ref_name)
            choice = ys.get(spec, "policy")
            chosen = ys.items(choice)
            if len(chosen) != 1:
                raise _Invalid(
                    choice or spec,
                    "spec.policy",
                    "expected exactly one of semver, alphabetical, numerical",
                )
            kind, kind_node, body = chosen[0]
            if kind == "semver":
                range_node = ys.get(body, "range")
                if range_node is None:
                    raise _Invalid(body, "spec.policy.semver.range", "missing")
                policy.policy = "semver:" + _string(range_node, "spec.policy.semver.range")
                anchor = range_node
            elif kind in ("alphabetical", "numerical"):
                order_node = ys.get(body, "order")
                order = (
                    "asc"
                    if order_node is None
                    else _string(order_node, f"spec.policy.{kind}.order")
                )
                if order not in ("asc", "desc"):
                    raise _Invalid(order_node, f"spec.policy.{kind}.order", "expected asc or desc")
                policy.policy = f"{kind}:{order}"
                anchor = order_node or kind_node
            else:
                raise _Invalid(kind_node, f"spec.policy.{kind}", "unknown policy kind")
            tags = ys.get(spec, "filterTags")
            if tags is not None:
                policy.filter = _optional_string(tags, "pattern", "spec.filterTags.pattern")
                policy.extract = _optional_string(tags, "extract", "spec.filterTags.extract")
                if policy.extract is not None and policy.filter is None:
                    raise _Invalid(tags, "spec.filterTags.extract", "needs a pattern")
            reflection = ys.get(spec, "digestReflectionPolicy")
            if reflection is not None:
                value = _string(reflection, "spec.digestReflectionPolicy")
                if value not in DIGEST_REFLECTION:
                    raise _Invalid(
                        reflection,
                        "spec.digestReflectionPolicy",
                        f"expected one of {', '.join(DIGEST_REFLECTION)}",
                    )
                policy.digest_reflection = None if value == "Never" else value
            self._check(policy, anchor, f"spec.policy.{kind}")
        except _Invalid as exc:
            policy.error = self._issue(file, exc, line)
        return policy

    def _flux_repository(self, file: str, doc: Node) -> _Repository | None:
        line = doc.start_mark.line + 1
        try:
            namespace, name = _metadata(doc)
        except _Invalid as exc:
            self._issue(file, exc, line)
            return None
        repo = _Repository(namespace, name, None, file, line)
        try:
            spec = ys.get(doc, "spec")
            image = ys.get(spec, "image")
            if image is None:
                raise _Invalid(spec or doc, "spec.image", "missing")
            repo.image = _image_name(image, "spec.image")
            listed = ys.get(spec, "exclusionList")
            if listed is not None:
                repo.exclusions = _exclusions(listed)
        except _Invalid as exc:
            repo.error = self._issue(file, exc, line)
        return repo

    # --- looking up ------------------------------------------------------------------------

    def finish(self) -> None:
        """Resolve Flux policies' image repositories (call once every file is read)."""
        for same in self.policies.values():
            for policy in same:
                if policy.repository_ref is None or policy.error:
                    continue
                repos = _find(self.repositories, *policy.repository_ref)
                if len(repos) > 1:
                    # one per cluster's folder: the one in the policy's own cluster tree
                    repos = [r] if (r := self.nearest(repos, policy.file)) else repos
                if len(repos) == 1:
                    if repos[0].error:
                        policy.error = f"its ImageRepository is invalid: {repos[0].error}"
                    else:
                        policy.image = repos[0].image
                        policy.exclusions = repos[0].exclusions
                elif len(repos) > 1:
                    places = ", ".join(f"{r.file}:{r.line}" for r in repos)
                    policy.error = f"its ImageRepository is defined more than once ({places})"

    def lookup(self, namespace: str, name: str, file: str | None = None) -> PolicyDef | None:
        """The policy a marker in *file* names: of several of that name (one per cluster's
        folder), the one in the marker's cluster tree (:meth:`nearest`); a copy carrying an
        error naming them all when that is still ambiguous."""
        found = _find(self.policies, namespace, name)
        if len(found) <= 1:
            return found[0] if found else None
        chosen = self.nearest(found, file)
        if chosen is not None:
            return chosen
        places = ", ".join(p.where for p in found)
        where = f" and none is nearer to {file} than the others" if file else ""
        return replace(
            found[0],
            error=(
                f"defined more than once ({places}){where} (nearest folder, or the Flux "
                "Kustomization whose path includes it)"
            ),
        )

    def nearest(self, found: list[_Placed], file: str | None) -> _Placed | None:
        """Of same-named policies, the one in *file*'s cluster tree: those sharing a Flux
        ``Kustomization`` with it (its ``spec.path`` includes both, directly or through the
        Kustomizations that include its file), then the one whose folder shares the most
        leading folders with *file*'s; None when that leaves a tie."""
        if file is None:
            return None
        trees = self._trees(file)
        if trees:
            sharing = [p for p in found if self._trees(p.file) & trees]
            if len(sharing) == 1:
                return sharing[0]
            if sharing:
                found = sharing
        depths = [(_common_folders(p.file, file), p) for p in found]
        best = max(d for d, _ in depths)
        winners = [p for d, p in depths if d == best]
        return winners[0] if len(winners) == 1 else None

    def _trees(self, file: str) -> set[int]:
        """Indices of the Flux Kustomizations that include *file*, transitively."""
        cache = self._tree_cache
        if len(cache) != 1 or len(self.flux_paths) not in cache:
            cache.clear()
            cache[len(self.flux_paths)] = {}
        known = cache[len(self.flux_paths)]
        if file not in known:
            known[file] = self._find_trees(file)
        return known[file]

    def _find_trees(self, file: str) -> set[int]:
        paths = [_flux_path(path) for _, path in self.flux_paths]
        covering = {i for i, p in enumerate(paths) if _under(file, p)}
        frontier = set(covering)
        while frontier:
            files = {self.flux_paths[i][0] for i in frontier}
            more = {i for i, p in enumerate(paths) for f in files if _under(f, p)} - covering
            covering |= more
            frontier = more
        return covering


class _HasFile(Protocol):
    file: str


_Placed = TypeVar("_Placed", bound=_HasFile)


def _exclusions(node: Node) -> tuple[str, ...]:
    """``spec.exclusionList``: at most 25 regexes, each one Go can read."""
    if not isinstance(node, SequenceNode):
        raise _Invalid(node, "spec.exclusionList", "expected a list of regexes")
    items = []
    for i, item in enumerate(node.value):
        key = f"spec.exclusionList[{i}]"
        text = _string(item, key)
        try:
            compile_go(text, "exclusion regex")
        except PolicyError as exc:
            raise _Invalid(item, key, str(exc)) from None
        items.append(text)
    if len(items) > MAX_EXCLUSIONS:
        raise _Invalid(node, "spec.exclusionList", f"at most {MAX_EXCLUSIONS} entries")
    return tuple(items)


def _flux_path(path: str) -> str:
    """A Kustomization's ``spec.path`` relative to the repository root ("" for all of it)."""
    norm = posixpath.normpath("/" + path.strip()).lstrip("/")
    return "" if norm in (".", "") else norm


def _under(file: str, folder: str) -> bool:
    return folder == "" or file.startswith(folder + "/")


def _common_folders(a: str, b: str) -> int:
    left, right = posixpath.dirname(a).split("/"), posixpath.dirname(b).split("/")
    count = 0
    for x, y in zip(left, right, strict=False):
        if x != y or not x:
            break
        count += 1
    return count


def _find(table: dict, namespace: str | None, name: str) -> list:
    exact = table.get((namespace, name))
    if exact:
        return exact
    return table.get((None, name), [])


def _metadata(doc: Node) -> tuple[str | None, str]:
    metadata = ys.get(doc, "metadata")
    if not isinstance(metadata, MappingNode):
        raise _Invalid(metadata or doc, "metadata", "expected a mapping with a name")
    name_node = ys.get(metadata, "name")
    if name_node is None:
        raise _Invalid(metadata, "metadata.name", "missing")
    name = _string(name_node, "metadata.name")
    ns_node = ys.get(metadata, "namespace")
    namespace = _string(ns_node, "metadata.namespace") if ns_node is not None else None
    return namespace, name


def _read_gates(spec: Node, policy: PolicyDef) -> None:
    """``minAge``, ``ageSource``, ``platforms`` and ``verify`` of an imagebot policy."""
    from imagebot.errors import PolicyError
    from imagebot.policy.gates import AGE_SOURCES, parse_age, parse_platforms

    min_age = _optional_string(spec, "minAge")
    if min_age is not None:
        try:
            parse_age(min_age)
        except PolicyError as exc:
            raise _Invalid(ys.get(spec, "minAge"), "spec.minAge", str(exc)) from None
        policy.min_age = min_age.strip()
    source = _optional_string(spec, "ageSource")
    if source is not None:
        if source not in AGE_SOURCES:
            raise _Invalid(ys.get(spec, "ageSource"), "spec.ageSource", "expected seen or created")
        policy.age_source = source
    node = ys.get(spec, "platforms")
    if node is not None:
        if isinstance(node, SequenceNode):
            items = [_string(item, "spec.platforms") for item in node.value]
        else:
            items = [_string(node, "spec.platforms")]
        try:
            policy.platforms = parse_platforms(items if len(items) != 1 else items[0])
        except PolicyError as exc:
            raise _Invalid(node, "spec.platforms", str(exc)) from None
    verify = _optional_string(spec, "verify")
    if verify is not None:
        if not verify.strip():
            raise _Invalid(ys.get(spec, "verify"), "spec.verify", "name a verifier")
        policy.verify = verify.strip()


def _string(node: Node | None, key: str) -> str:
    if not isinstance(node, ScalarNode) or ys.scalar_text(node) is None:
        raise _Invalid(node, key, "expected a string")
    return node.value


def _optional_string(parent: Node | None, name: str, key: str | None = None) -> str | None:
    node = ys.get(parent, name)
    if node is None or (isinstance(node, ScalarNode) and ys.scalar_text(node) is None):
        return None
    return _string(node, key or f"spec.{name}")


def _image_name(node: Node, key: str) -> str:
    text = _string(node, key)
    try:
        ref = ImageReference.parse(text)
    except ImagebotError as exc:
        raise _Invalid(node, key, str(exc)) from None
    if ref.tag or ref.digest:
        raise _Invalid(node, key, f"{text!r}: give the image name without a tag or digest")
    return text
