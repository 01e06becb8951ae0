"""Policies written as workload annotations.

imagebot's own keys (``imagebot.io/...``) come first. Flux v1's keys (``fluxcd.io/...``, the
older ``flux.weave.works/...`` and ``filter.fluxcd.io/<container>``) are read exactly as Flux v1
read them, so a Flux v1 repository works unchanged; Argo CD Image Updater's keys are mapped
where their meaning carries over cleanly and reported otherwise.

A boolean annotation counts only when its value is exactly ``"true"``. Any problem with a
workload's annotations is an error for the whole workload: none of its images is updated,
because a misspelt container name or policy would otherwise quietly fall back to ``glob:*``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from imagebot.errors import ImagebotError, PolicyError
from imagebot.manifests.keel import KEEL, KeelPolicy, has_keel, keel_policy
from imagebot.manifests.policycheck import check_policy
from imagebot.policy.globs import compile_glob
from imagebot.reference import ImageReference

IMAGEBOT = "imagebot.io/"
FLUX = "fluxcd.io/"
WEAVE = "flux.weave.works/"
FILTER = "filter.fluxcd.io/"
ARGO = "argocd-image-updater.argoproj.io/"

#: Flux v1's default for an automated container without a tag policy.
DEFAULT_POLICY = "glob:*"

_IMAGEBOT_KEYS = (
    "automated",
    "locked",
    "locked_msg",
    "locked_user",
    "ignore",
    "approve.<container>",
    "min-age.<container>",
    "age-source.<container>",
    "platforms.<container>",
    "verify.<container>",
    "same-family",
    "tag.<container>",
)
#: imagebot.io keys that end in a container name.
_PER_CONTAINER = ("tag.", "approve.", "min-age.", "age-source.", "platforms.", "verify.")
_LEGACY_PREFIXES = (FLUX, WEAVE)
_ARGO_IGNORED = ("write-back-method", "write-back-target", "git-branch", "git-repository")
_ARGO_ALIAS_KEYS = ("update-strategy", "allow-tags", "ignore-tags")


@dataclass(frozen=True)
class Annotation:
    """An annotation value as written: ``is_string`` is False for an unquoted ``true``/``1``."""

    value: str
    is_string: bool = True
    line: int | None = None


@dataclass
class ContainerPolicy:
    """What the annotations say about one container."""

    policy: str | None = None
    filter: str | None = None
    extract: str | None = None
    same_family: bool = True
    #: ``imagebot.io/same-family`` as written (None: not set). It also decides for markers
    #: naming a Flux ``ImagePolicy``, whose own default is Flux's: no family rule.
    family: bool | None = None
    automated: bool = False
    automated_explicit: bool = False
    locked: bool = False
    lock_message: str | None = None
    lock_user: str | None = None
    #: Updates wait for a person's approval (``imagebot.io/approve.<container>: "true"``).
    approve: bool = False
    #: Supply-chain gates (``imagebot.io/min-age.<c>``, ``age-source.<c>``, ``platforms.<c>``,
    #: ``verify.<c>``); None where the annotation is absent.
    min_age: str | None = None
    age_source: str | None = None
    platforms: tuple[str, ...] | None = None
    verify: str | None = None
    ignored: bool = False
    source: str = "none"
    #: Seconds between polls the workload asks for (Keel's ``keel.sh/pollSchedule``).
    interval: float | None = None


@dataclass(frozen=True)
class _ArgoImage:
    alias: str | None
    name: str
    repository: str
    constraint: str | None


#: Where Keel's keys start, in annotations and in labels.
_KEEL_PREFIXES = (KEEL, "keel.observer/")


class AnnotationPolicies:
    """Reads one workload's annotations; ``errors`` apply to every container of it."""

    def __init__(
        self,
        annotations: Mapping[str, Annotation],
        containers: Sequence[str],
        labels: Mapping[str, Annotation] | None = None,
    ) -> None:
        self.annotations = dict(annotations)
        #: Labels are read for Keel only, which takes its keys from either.
        self.labels = dict(labels or {})
        self.containers = list(containers)
        self.errors: list[str] = []
        self._argo: list[_ArgoImage] = []
        self._argo_options: dict[str, dict[str, str]] = {}
        #: Nothing written about any container (most workloads): every one gets the defaults,
        #: whatever its image.
        self.silent = not self.annotations and not any(
            key.startswith(_KEEL_PREFIXES) for key in self.labels
        )
        self._check_keys()
        self._read_argo()

    # --- reading keys ------------------------------------------------------------------

    def _text(self, key: str) -> str | None:
        ann = self.annotations.get(key)
        if ann is None:
            return None
        if not ann.is_string:
            self._error(
                f"annotation {key}: {ann.value} is not a string (Kubernetes rejects it); "
                f'write "{ann.value}"'
            )
        return ann.value

    def _error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def _check_keys(self) -> None:
        known = set(self.containers)
        for key in self.annotations:
            rest = None
            if key.startswith(IMAGEBOT):
                rest = key[len(IMAGEBOT) :]
                if rest not in _IMAGEBOT_KEYS and not rest.startswith(_PER_CONTAINER):
                    close = difflib.get_close_matches(rest, _IMAGEBOT_KEYS, n=1, cutoff=0.6)
                    hint = f" (did you mean {IMAGEBOT}{close[0]}?)" if close else ""
                    self._error(f"unknown annotation {key}{hint}")
                    continue
            elif key.startswith(_LEGACY_PREFIXES):
                prefix = FLUX if key.startswith(FLUX) else WEAVE
                rest = key[len(prefix) :]
            elif key.startswith(FILTER):
                rest = "tag." + key[len(FILTER) :]
            if (
                rest is not None
                and rest.startswith(_PER_CONTAINER)
                and (rest.startswith(("tag.", "approve.")) or key.startswith(IMAGEBOT))
                and key.startswith((IMAGEBOT, FLUX, WEAVE, FILTER))
            ):
                container = rest.partition(".")[2]
                if container not in known:
                    names = ", ".join(self.containers) or "none"
                    self._error(
                        f"annotation {key} names no container of this workload "
                        f"(containers: {names})"
                    )

    def _flag(self, name: str) -> tuple[bool, bool, str | None]:
        """(value, explicitly set, source prefix) of a boolean policy."""
        value = self._text(IMAGEBOT + name)
        if value is not None:
            return value == "true", True, IMAGEBOT
        found = self._legacy(name)
        if found is not None:
            prefix, text = found
            return text == "true", True, prefix
        return False, False, None

    def _string(self, name: str) -> str | None:
        value = self._text(IMAGEBOT + name)
        if value is not None:
            return value
        found = self._legacy(name)
        return found[1] if found else None

    def _legacy(self, name: str, *, with_filter: str | None = None) -> tuple[str, str] | None:
        """Flux v1's value for *name*; two prefixes saying different things is an error."""
        keys = [prefix + name for prefix in _LEGACY_PREFIXES]
        if with_filter is not None:
            keys.append(FILTER + with_filter)
        found = [(k, v) for k in keys if (v := self._text(k)) is not None]
        if not found:
            return None
        if len({v for _, v in found}) > 1:
            listed = ", ".join(f"{k}={v!r}" for k, v in found)
            self._error(f"conflicting annotations {listed}")
        key = found[0][0]
        return key[: key.index("/") + 1], found[0][1]

    # --- Argo CD Image Updater -----------------------------------------------------------

    def _read_argo(self) -> None:
        keys = [k for k in self.annotations if k.startswith(ARGO)]
        if not keys:
            return
        listing = self._text(ARGO + "image-list")
        if listing is not None:
            self._argo = self._parse_image_list(listing)
        aliases = {image.alias for image in self._argo if image.alias}
        for key in keys:
            rest = key[len(ARGO) :]
            if rest == "image-list" or rest in _ARGO_IGNORED:
                continue  # how Argo CD writes back does not change which tag is chosen
            alias, dot, option = rest.partition(".")
            if not dot or alias not in aliases:
                self._error(
                    f"annotation {key} is not supported by imagebot"
                    if not dot
                    else f"annotation {key}: no image with alias {alias!r} in {ARGO}image-list"
                )
                continue
            if option not in _ARGO_ALIAS_KEYS:
                self._error(
                    f"annotation {key} is not supported by imagebot "
                    f"(supported: {', '.join(_ARGO_ALIAS_KEYS)})"
                )
                continue
            text = self._text(key)
            if text is not None:
                self._argo_options.setdefault(alias, {})[option] = text

    def _parse_image_list(self, listing: str) -> list[_ArgoImage]:
        images = []
        for raw in listing.split(","):
            spec = raw.strip()
            if not spec:
                continue
            alias, name, constraint = split_image_spec(spec)
            try:
                ref = ImageReference.parse(name)
                if ref.tag or ref.digest:
                    raise ValueError
            except (ImagebotError, ValueError):
                self._error(f"annotation {ARGO}image-list: cannot read image {spec!r}")
                continue
            images.append(_ArgoImage(alias, name, ref.repository, constraint))
        return images

    def _argo_policy(self, image: ImageReference | None, result: ContainerPolicy) -> bool:
        if image is None or not self._argo:
            return False
        matches = [a for a in self._argo if a.repository == image.repository]
        if not matches:
            return False
        if len(matches) > 1:
            self._error(f"{ARGO}image-list names {image.repository} more than once")
            return False
        entry = matches[0]
        options = self._argo_options.get(entry.alias or "", {})
        strategy = options.get("update-strategy", "semver").strip()
        where = f"{ARGO}{entry.alias}.update-strategy" if entry.alias else f"{ARGO}image-list"
        if strategy == "semver":
            result.policy = f"semver:{entry.constraint or '*'}"
        elif strategy in ("latest", "newest-build", "name", "alphabetical"):
            if entry.constraint:
                self._error(
                    f"{ARGO}image-list: the version constraint {entry.constraint!r} of "
                    f"{entry.name} only applies to the semver strategy, not {strategy!r}"
                )
            result.policy = (
                "newest-build" if strategy in ("latest", "newest-build") else ("alphabetical:asc")
            )
        else:
            self._error(f"{where}: update strategy {strategy!r} is not supported by imagebot")
            return False
        allow = options.get("allow-tags")
        allow_re: str | None = None
        if allow is not None:
            allow = allow.strip()
            if allow.startswith("regexp:"):
                allow_re = allow[len("regexp:") :]
            elif allow != "any":
                self._error(
                    f"{ARGO}{entry.alias}.allow-tags: {allow!r} is not supported "
                    "(use regexp:<expression> or any)"
                )
        ignore = options.get("ignore-tags")
        globs = [g.strip() for g in ignore.split(",") if g.strip()] if ignore else []
        try:
            result.filter = combine_filter(allow_re, globs)
        except PolicyError as exc:
            self._error(f"{ARGO}{entry.alias}.ignore-tags: {exc}")
            return False
        result.automated = True
        result.automated_explicit = True
        result.source = "annotation:" + ARGO.rstrip("/")
        return True

    # --- per container -------------------------------------------------------------------

    def _keel_values(self, block: Mapping[str, Annotation], what: str) -> dict[str, str]:
        values = {}
        for key, ann in block.items():
            if key.startswith(_KEEL_PREFIXES):
                if not ann.is_string:
                    self._error(
                        f"{what} {key}: {ann.value} is not a string (Kubernetes rejects it); "
                        f'write "{ann.value}"'
                    )
                values[key] = ann.value
        return values

    def _keel(self, container: str, image: ImageReference | None, init: bool) -> KeelPolicy | None:
        """What Keel's keys say about *container*, None when the workload has none."""
        annotations = self._keel_values(self.annotations, "annotation")
        labels = self._keel_values(self.labels, "label")
        if not annotations and not labels:
            return None
        tag = image.tag if image is not None else None
        keel = keel_policy(annotations, labels, container, tag, init=init)
        for message in keel.errors:
            self._error(message)
        return keel if has_keel(annotations, labels) or keel.approve or keel.interval else None

    def for_container(
        self, container: str, image: ImageReference | None, *, init: bool = False
    ) -> ContainerPolicy:
        """The policy for *container* (*init*: an init container). Read ``errors`` once every
        container has been asked: problems found on the way are the whole workload's."""
        if self.silent:
            return ContainerPolicy()
        result = ContainerPolicy()
        policy_source = None
        text = self._text(f"{IMAGEBOT}tag.{container}")
        if text is not None:
            result.policy, policy_source = text, IMAGEBOT
        else:
            found = self._legacy(f"tag.{container}", with_filter=container)
            if found is None:
                found = self._legacy("tag_all")
            if found is not None:
                policy_source, result.policy = found
        if policy_source is None and self._argo_policy(image, result):
            policy_source = ARGO
        keel = self._keel(container, image, init)
        if keel is not None:
            result.interval = keel.interval
            result.approve = keel.approve
            if policy_source is None and keel.named and not self._flag("automated")[1]:
                # imagebot's and Flux v1's keys win over Keel's, as they do over Argo's.
                result.policy = keel.policy
                result.automated = result.automated_explicit = keel.automated
                result.same_family = keel.same_family
                policy_source = KEEL
        if policy_source not in (ARGO, KEEL):
            automated, explicit, automated_source = self._flag("automated")
            result.automated, result.automated_explicit = automated, explicit
            if policy_source is None and automated_source is not None:
                policy_source = automated_source
        result.locked, _, _ = self._flag("locked")
        result.lock_message = self._string("locked_msg")
        result.lock_user = self._string("locked_user")
        result.approve = result.approve or self._text(f"{IMAGEBOT}approve.{container}") == "true"
        self._gates(container, result)
        ignore = self._text(IMAGEBOT + "ignore")
        if ignore is None:
            legacy_ignore = self._legacy("ignore")
            ignore = legacy_ignore[1] if legacy_ignore else None
        result.ignored = ignore == "true"
        family = self._text(IMAGEBOT + "same-family")
        if family is not None:
            if family not in ("true", "false"):
                self._error(f'annotation {IMAGEBOT}same-family: expected "true" or "false"')
            else:
                result.family = family == "true"
                result.same_family = result.family
        if result.policy is None and result.automated:
            result.policy = DEFAULT_POLICY
        if policy_source is not None:
            result.source = "annotation:" + policy_source.rstrip("/")
        if result.policy is not None:
            result.policy, problem = check_policy(
                result.policy,
                filter=result.filter,
                extract=result.extract,
                same_family=result.same_family,
            )
            if problem:
                self._error(f"container {container}: policy {result.policy!r}: {problem}")
        return result

    def _gates(self, container: str, result: ContainerPolicy) -> None:
        """The supply-chain gate annotations of *container*, checked as they are read."""
        from imagebot.policy.gates import AGE_SOURCES, parse_age, parse_platforms

        min_age = self._text(f"{IMAGEBOT}min-age.{container}")
        if min_age is not None:
            try:
                parse_age(min_age)
                result.min_age = min_age.strip()
            except PolicyError as exc:
                self._error(f"annotation {IMAGEBOT}min-age.{container}: {exc}")
        source = self._text(f"{IMAGEBOT}age-source.{container}")
        if source is not None:
            if source not in AGE_SOURCES:
                self._error(
                    f'annotation {IMAGEBOT}age-source.{container}: expected "seen" or '
                    f'"created", got {source!r}'
                )
            else:
                result.age_source = source
        platforms = self._text(f"{IMAGEBOT}platforms.{container}")
        if platforms is not None:
            try:
                result.platforms = parse_platforms(platforms)
            except PolicyError as exc:
                self._error(f"annotation {IMAGEBOT}platforms.{container}: {exc}")
        verify = self._text(f"{IMAGEBOT}verify.{container}")
        if verify is not None:
            if not verify.strip():
                self._error(f"annotation {IMAGEBOT}verify.{container}: name a verifier")
            else:
                result.verify = verify.strip()


def split_image_spec(spec: str) -> tuple[str | None, str, str | None]:
    """An ``image-list`` entry ``[alias=]image[:constraint]`` into (alias, image, constraint)."""
    alias, eq, rest = spec.partition("=")
    if not eq:
        alias, rest = "", spec
    name, constraint = rest.strip(), None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, constraint = name[:colon], name[colon + 1 :].strip() or None
    return alias.strip() or None, name, constraint


def combine_filter(allow: str | None, ignore: Sequence[str]) -> str | None:
    """One searched regex: tags matching *allow* and none of the *ignore* wildcards."""
    if not ignore:
        return allow
    negative = "|".join(compile_glob(g).pattern for g in ignore)
    combined = rf"^(?!(?:{negative})$)"
    if allow:
        combined += rf".*?(?:{allow})"
    return combined
