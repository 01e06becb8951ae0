"""Resolve discovered image sites against the registries: which tag should each one run?

This is where the scanner's data meets the policy engine. The registry is asked as little as
possible: each repository is listed once however many sites use it, build times are fetched
only for policies that rank by build time and only for the tags those policies admit, and
digests only for references pinned by digest. Whatever fails (a registry, a policy, a
manifest) fails for the sites concerned and is reported; every other site is still resolved.

Time is bounded too: registries are asked in parallel at every stage (tag lists, build
times, digests), and a registry that failed as a whole (unreachable, past its deadline, rate
limited, after its retries) is not asked again in the same resolution: its other images fail
with the same error at once. A stuck registry therefore costs about one request deadline
times its attempts per resolution, and never delays the images of the registries that answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from imagebot.config import Config
from imagebot.errors import ConfigError, ImagebotError, PolicyError, RegistryError
from imagebot.manifests import ImageSite
from imagebot.policy import Candidate, Decision, Policy, decide, parse_policy
from imagebot.policy.gates import GateReport, Gates, evaluate
from imagebot.reference import ImageReference
from imagebot.registry import RegistryClient, Scanner, TagList
from imagebot.registry.scanner import is_host_failure, skipped
from imagebot.update.gating import FactFinder, gate, gates_for

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``, called from the registry loop's thread while resolving:
#: ``stage`` is ``"tags"`` (repositories listed), ``"build-times"`` (tags whose build time
#: was read) or ``"digests"`` (digest-pinned references checked). Each stage is announced
#: with ``done=0`` and ends with ``done == total``. For progress bars; it must not block.
Progress = Callable[[str, int, int], None]

DEFAULT_POLICY = "glob:*"  # Flux v1's default for an automated container without a tag policy

Status = Literal[
    "update",  # a newer tag (or a moved digest) is to be written
    "up-to-date",
    "locked",
    "not-automated",
    "ignored",
    "no-match",  # no tag qualifies under the policy
    "awaiting-approval",  # an update that waits for a person (approve.<container>)
    "error",
]


@dataclass(frozen=True)
class Problem:
    """Something that failed for a subject (an image repository, a file, a workload).

    ``kind`` is short and stable (``registry``, ``policy``, ``manifest``, ``rewrite``, ``git``,
    ``forge``); ``subject`` is stable from run to run so repeated failures can be recognised.
    """

    kind: str
    subject: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message}

    def __str__(self) -> str:
        return self.message


@dataclass
class Resolution:
    """What should happen to one site, and why."""

    site: ImageSite
    status: Status
    reason: str
    policy: str | None = None
    decision: Decision | None = None
    new_tag: str | None = None
    new_digest: str | None = None
    #: The new image name when a Flux marker's policy is for another repository (a rename).
    new_name: str | None = None
    problem: Problem | None = None
    #: The supply-chain gates that apply (None: none), and each checked tag's report.
    gates: Gates | None = None
    gate_reports: dict[str, GateReport] = field(default_factory=dict)

    @property
    def held(self) -> GateReport | None:
        """The best tag the gates held back, when the policy would otherwise write it."""
        return next((r for r in self.gate_reports.values() if not r.passed), None)

    @property
    def eligible_at(self) -> datetime | None:
        """When the held tag's minimum age is reached (None: not held by age alone)."""
        held = self.held
        return held.until if held is not None else None

    @property
    def changed(self) -> bool:
        return self.status == "update"

    @property
    def old_tag(self) -> str | None:
        return self.site.tag

    @property
    def registry(self) -> str | None:
        return self.site.image.domain if self.site.image is not None else None

    @property
    def available(self) -> str | None:
        """The tag the policy picks (even when locked or manual), if any."""
        if self.decision is None:
            return None
        if self.decision.changed:
            return self.decision.tag
        return _would_pick(self.decision)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.site.file,
            "line": self.site.line,
            "workload": self.site.workload,
            "kind": self.site.kind,
            "namespace": self.site.namespace,
            "name": self.site.name,
            "container": self.site.container,
            "image": self.site.reference_text,
            "repository": self.site.repository,
            "status": self.status,
            "reason": self.reason,
            "policy": self.policy,
            "current": self.site.tag,
            "latest": self.available,
            "new_tag": self.new_tag,
            "new_digest": self.new_digest,
            "new_name": self.new_name,
            "error": self.problem.message if self.problem else None,
            "gates": self.gates.to_dict() if self.gates is not None else None,
            "held": self.held.tag if self.held is not None else None,
            "eligible_at": self.eligible_at.isoformat() if self.eligible_at else None,
            "gate_reports": [report.to_dict() for report in self.gate_reports.values()],
        }


def _would_pick(decision: Decision) -> str | None:
    for verdict in decision.verdicts:
        if verdict.category == "selected":
            return verdict.tag
    return decision.tag


@dataclass
class Resolved:
    """Every site's resolution plus the registry failures behind them."""

    resolutions: list[Resolution] = field(default_factory=list)
    registry_errors: dict[str, RegistryError] = field(default_factory=dict)
    tag_lists: dict[str, TagList] = field(default_factory=dict)
    #: Wall-clock seconds spent waiting for registries (tag lists, build times, digests).
    registry_seconds: float = 0.0

    @property
    def updates(self) -> list[Resolution]:
        return [r for r in self.resolutions if r.changed]

    @property
    def problems(self) -> list[Problem]:
        seen: dict[tuple[str, str], Problem] = {}
        for res in self.resolutions:
            if res.problem is not None:
                seen.setdefault((res.problem.kind, res.problem.subject), res.problem)
        return list(seen.values())


async def resolve(
    sites: Sequence[ImageSite],
    scanner: Scanner,
    *,
    manual: bool = False,
    fresh: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
    explain: bool = False,
) -> Resolved:
    """Decide every site's tag.

    Only automated, unlocked sites are looked up unless *manual* is set (``list-images
    --latest``, ``explain``): then every site with a usable image is, and locked or manual
    ones report what their policy would pick without changing. *fresh* bypasses the tag cache.
    *progress* hears how far the registry work has got (see :data:`Progress`). Decisions
    carry a verdict for every tag only with *explain* (``imagebot explain``); otherwise only
    for the tags the answer is about (see :func:`~imagebot.policy.decide`).
    """
    out = Resolved()
    work: list[tuple[Resolution, ImageReference, Policy]] = []
    for site in sites:
        res, policy = _screen(site, manual)
        out.resolutions.append(res)
        if policy is not None:
            work.append((res, _scan_image(site), policy))
    if not work:
        return out

    images: dict[str, ImageReference] = {}
    for _, image, _ in work:
        images.setdefault(image.repository, image)
    meter = _Meter(progress)
    if progress is not None:
        scanner = Scanner(cast(RegistryClient, _Reporting(scanner.client, meter.tick)))
    meter.start("tags", len(images))
    started = time.perf_counter()
    scanned = await scanner.scan(images.values(), fresh=fresh)
    out.registry_seconds += time.perf_counter() - started
    meter.finish()
    for repo, result in scanned.items():
        if isinstance(result, RegistryError):
            out.registry_errors[repo] = result
        else:
            out.tag_lists[repo] = result

    down = _Down(out.registry_errors.values())
    wanted: dict[str, set[str]] = defaultdict(set)
    asked: set[tuple[str, Policy, str | None]] = set()
    for res, image, policy in work:
        repo = image.repository
        question = (repo, policy, res.site.tag)
        if repo in out.tag_lists and policy.needs_build_times and question not in asked:
            asked.add(question)
            wanted[repo].update(policy.candidates(out.tag_lists[repo].tags, res.site.tag))
    times: dict[str, dict[str, datetime | None]] = {}

    async def build_times(repo: str, wanted_tags: set[str]) -> None:
        image = images[repo]
        try:
            down.check(image)
            times[repo] = await scanner.build_times(image, sorted(wanted_tags), fresh=fresh)
        except RegistryError as exc:
            out.registry_errors[repo] = down.record(exc)

    meter.start("build-times", sum(len(tags) for tags in wanted.values()))
    started = time.perf_counter()
    await asyncio.gather(*(build_times(repo, tags) for repo, tags in wanted.items()))
    out.registry_seconds += time.perf_counter() - started
    meter.finish()

    # One decision per (image, policy, current tag, automated, locked): every line that
    # shares them shares it (a fleet runs one image under one policy in many places).
    config = getattr(scanner.client, "config", None) or Config()
    finder = FactFinder(scanner.client, config, now or datetime.now(UTC))
    candidates: dict[str, list[Candidate]] = {}
    decisions: dict[tuple[str, Policy, str | None, bool, bool], Decision] = {}
    gated: dict[_GateKey, list[Resolution]] = defaultdict(list)

    def decide_for(
        key: tuple[str, Policy, str | None, bool, bool], held: Mapping[str, str] | None = None
    ) -> Decision:
        repo, policy, current, automated, locked = key
        return decide(
            policy,
            candidates[repo],
            current,
            automated=automated,
            locked=locked,
            explain=explain,
            held=held,
        )

    for res, image, policy in work:
        site = res.site
        repo = image.repository
        if repo in out.registry_errors:
            _fail(res, "registry", repo, out.registry_errors[repo])
            continue
        try:
            gates = gates_for(site, config)
        except ConfigError as exc:
            _fail(res, "policy", site.id, exc)
            continue
        res.gates = gates if gates.active else None
        if repo not in candidates:
            built = times.get(repo, {})
            candidates[repo] = [Candidate(tag, built.get(tag)) for tag in out.tag_lists[repo].tags]
        current = _current_tag(site)
        automated, locked = site.automated or manual, site.locked and not manual
        key = (repo, policy, current, automated, locked)
        decision = decisions.get(key)
        if decision is None:
            decision = decisions[key] = decide_for(key)
        if res.gates is not None and decision.changed:
            gated[(*key, gates, site.digest, image)].append(res)
            res.decision = decision
            continue
        _settle(res, decision, manual)
        if res.status == "update" and res.new_tag == site.tag:
            res.status, res.new_tag = "up-to-date", None  # the same tag (its digest is next)
        if site.policy_image is not None:
            _settle_setter(res)

    async def run_gates(key: _GateKey, group: list[Resolution]) -> None:
        repo, gates, image = key[0], key[5], key[7]
        first = group[0]
        assert first.decision is not None

        def redecide(held: Mapping[str, str]) -> Decision:
            return decide_for(key[:5], held)

        try:
            down.check(image)
            outcome = await gate(
                first.site, image, gates, first.decision, redecide, finder, picks=_picked
            )
        except RegistryError as exc:
            error = down.record(exc)
            for res in group:
                _fail(res, "registry", repo, error)
            return
        for res in group:
            res.gate_reports = dict(outcome.reports)
            _settle(res, outcome.decision, manual)
            if res.site.policy_image is not None:
                _settle_setter(res)
            held = res.held
            if held is not None and res.status != "update":
                res.reason = f"{held.tag} held: {held.reason}; {res.reason}"

    started = time.perf_counter()
    await asyncio.gather(*(run_gates(key, group) for key, group in gated.items()))
    await _pin_digests(
        [r for r, _, _ in work if r.status in ("update", "up-to-date")],
        scanner,
        meter,
        down,
        finder,
    )
    out.registry_seconds += time.perf_counter() - started
    if not manual:
        for res in out.resolutions:
            if res.status == "update" and res.site.approve:
                res.status = "awaiting-approval"
                res.reason = f"awaiting approval: {res.reason}"
    return out


_GateKey = tuple[str, Policy, str | None, bool, bool, Gates, str | None, ImageReference]


def _picked(decision: Decision) -> str | None:
    """The tag a decision would write (None: it keeps the current one)."""
    return decision.tag if decision.changed else None


class _Down:
    """Registries that failed as a whole during one resolution, and their first error."""

    def __init__(self, errors: Iterable[RegistryError] = ()) -> None:
        self.failed: dict[str, RegistryError] = {}
        for error in errors:
            self.record(error)

    def check(self, image: ImageReference) -> None:
        """Raise the registry's earlier failure instead of asking it again."""
        first = self.failed.get(image.domain)
        if first is not None:
            raise skipped(first, image)

    def record(self, error: RegistryError) -> RegistryError:
        if is_host_failure(error):
            self.failed.setdefault(error.registry, error)
        return error


class _Meter:
    """Counts one stage's finished registry calls for a :data:`Progress` callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.stage = ""
        self.done = 0
        self.total = 0

    def start(self, stage: str, total: int) -> None:
        self.stage, self.done, self.total = stage, 0, total
        self._report()

    def tick(self) -> None:
        if self.done < self.total:
            self.done += 1
            self._report()

    def finish(self) -> None:
        if self.done < self.total:  # skipped after a host failure, or served from cache
            self.done = self.total
            self._report()

    def _report(self) -> None:
        if self.progress is None or not self.stage:
            return
        try:
            self.progress(self.stage, self.done, self.total)
        except Exception:  # a display problem must never fail a resolution
            log.debug("progress callback failed", exc_info=True)
            self.progress = None


class _Reporting:
    """The registry client, telling a meter each time a tag list or image lookup ends.

    Wrapping the client rather than the scanner keeps the scanner's concurrency and its
    per-host failure handling exactly as they are.
    """

    def __init__(self, client: RegistryClient, tick: Callable[[], None]) -> None:
        self._client = client
        self._tick = tick

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def list_tags(self, image: ImageReference, *, fresh: bool = False) -> TagList:
        try:
            return await self._client.list_tags(image, fresh=fresh)
        finally:
            self._tick()

    async def image_info(self, image: ImageReference, tag: str, *, fresh: bool = True) -> Any:
        try:
            return await self._client.image_info(image, tag, fresh=fresh)
        finally:
            self._tick()


def _screen(site: ImageSite, manual: bool) -> tuple[Resolution, Policy | None]:
    """Sort out the sites that need no registry at all; parse the others' policies."""
    if site.error:
        return Resolution(site, "error", site.error, site.policy, problem=_site_problem(site)), None
    if site.image is None:
        reason = f"{site.file}:{site.line}: no usable image reference"
        return Resolution(site, "error", reason, problem=Problem("manifest", site.id, reason)), None
    if site.warning:
        return Resolution(site, "ignored", site.warning), None
    if site.ignored:
        return Resolution(site, "ignored", "ignored by annotation", site.policy), None
    if not manual and not site.automated:
        return Resolution(site, "not-automated", "automation is off", site.policy), None
    if not manual and site.locked:
        return Resolution(site, "locked", _lock_reason(site), site.policy), None
    if manual and not site.automated and site.policy is None:
        return Resolution(site, "not-automated", "automation is off; no tag policy"), None
    text = site.policy or DEFAULT_POLICY
    try:
        policy = parse_policy(
            text,
            filter=site.filter,
            extract=site.extract,
            same_family=site.same_family,
            exclude=site.exclude,
        )
    except PolicyError as exc:
        reason = f"{site.file}:{site.line}: {site.workload} {site.container}: {exc}"
        return Resolution(
            site, "error", reason, text, problem=Problem("policy", site.id, reason)
        ), None
    return Resolution(site, "up-to-date", "", policy.text), policy


def _site_problem(site: ImageSite) -> Problem:
    kind = "policy" if "polic" in (site.error or "") else "manifest"
    return Problem(kind, site.id, f"{site.file}:{site.line}: {site.error}")


def _lock_reason(site: ImageSite) -> str:
    reason = "locked"
    if site.lock_message:
        reason += f": {site.lock_message}"
    if site.lock_user:
        reason += f" ({site.lock_user})"
    return reason


def _fail(res: Resolution, kind: str, subject: str, exc: ImagebotError) -> None:
    res.status = "error"
    res.reason = str(exc)
    res.problem = Problem(kind, subject, str(exc))


def _settle(res: Resolution, decision: Decision, manual: bool) -> None:
    site = res.site
    res.decision = decision
    res.reason = decision.reason
    if decision.tag is None:
        res.status = "no-match"
    elif manual and site.locked:
        res.status = "locked"
        res.reason = f"{_lock_reason(site)}; {decision.reason}"
    elif manual and not site.automated:
        res.status = "not-automated"
        res.reason = f"automation is off; {decision.reason}"
    elif decision.changed:
        res.status = "update"
        res.new_tag = decision.tag
    else:
        res.status = "up-to-date"


def _scan_image(site: ImageSite) -> ImageReference:
    """The image whose tags decide *site*: a Flux marker's policy image, else its own."""
    image = site.scan_image
    assert image is not None  # _screen gives a policy only with a usable image
    return image


def _same_repository(site: ImageSite) -> bool:
    return site.image is not None and site.repository == site.image.repository


def _current_tag(site: ImageSite) -> str | None:
    """The tag the policy compares against (no downgrades, families): none when a Flux
    marker's policy is for another repository, whose tags say nothing about this one's, nor
    for Argo CD Image Updater's digest strategy, which follows its one tag whatever runs now."""
    if site.writeback is not None and site.digest_reflection == "Always":
        return None
    return site.tag if _same_repository(site) else None


def _roles(site: ImageSite) -> set[str]:
    return {part.role for part in site.parts}


def _settle_setter(res: Resolution) -> None:
    """A Flux marker: the policy's image decides every marked value, as Flux's setters do.

    A marked name or whole reference takes the policy's image name when it is another
    repository; a marked tag (or whole reference) the chosen tag; digests come later."""
    site, decision = res.site, res.decision
    if res.status not in ("update", "up-to-date") or decision is None or decision.tag is None:
        return
    roles = _roles(site)
    chosen = decision.tag
    renamed = not _same_repository(site) and bool(roles & {"image", "name"})
    tag_moves = bool(roles & {"image", "tag"}) and chosen != site.tag
    if renamed or tag_moves:
        res.status = "update"
        res.new_tag = chosen
        res.new_name = site.policy_image if renamed else None
        if renamed:
            res.reason = (
                f"{decision.reason}; the policy is for {site.policy_image}, so the value "
                f"becomes {site.policy_image}:{chosen} (a Flux marker decides the whole value)"
            )
    else:
        res.status = "up-to-date"
        res.new_tag = None


def _wants_digest(site: ImageSite) -> bool:
    """A digest is written: a digest value, a pinned reference, or Flux's digest reflection
    on a marked whole reference."""
    roles = _roles(site)
    if site.policy_image is None:
        # Argo CD Image Updater's digest strategy always writes the tag's digest.
        return site.digest is not None or site.digest_reflection == "Always"
    return "digest" in roles or (
        "image" in roles and (site.digest is not None or site.digest_reflection is not None)
    )


async def _pin_digests(
    resolutions: Iterable[Resolution],
    scanner: Scanner,
    meter: _Meter | None = None,
    down: _Down | None = None,
    finder: FactFinder | None = None,
) -> None:
    """References pinned by digest get the chosen tag's digest; a moved digest is an update.

    The digest written for a tag the gates passed is the one they checked (the index's, for
    a multi-platform image), however the tag moved since; a moved digest of the current tag
    passes the gates before it is written (with *finder*)."""
    client = scanner.client
    down = down or _Down()
    pinned: list[tuple[Resolution, ImageReference, str, str | None]] = []
    for res in resolutions:
        site, tag = res.site, res.new_tag or res.site.tag
        if site.policy_image is not None and res.decision is not None:
            tag = res.decision.tag  # the chosen tag, even where no tag value is written
        if not _wants_digest(site) or site.image is None or tag is None:
            continue
        if (
            site.digest_reflection == "IfNotPresent"
            and site.digest is not None
            and tag == site.tag
            and res.new_name is None
        ):
            continue  # Flux reads a tag's digest once and keeps it
        pinned.append((res, _scan_image(site), tag, site.digest))
    if meter is not None:
        meter.start("digests", len(pinned))

    async def pin(
        res: Resolution, image: ImageReference, tag: str, pinned_digest: str | None
    ) -> None:
        checked = res.gate_reports.get(tag)
        try:
            down.check(image)
            if checked is not None and checked.passed and checked.digest is not None:
                digest = checked.digest
            else:
                digest = await client.get_digest(image, tag)
        except RegistryError as exc:
            _fail(res, "registry", image.repository, down.record(exc))
            return
        finally:
            if meter is not None:
                meter.tick()
        if res.status == "update":
            res.new_digest = digest
        elif digest != pinned_digest:
            if res.gates is not None and finder is not None and pinned_digest is not None:
                report = await _gate_moved(res, image, tag, digest, finder, down)
                if report is None or not report.passed:
                    return
            res.status = "update"
            res.new_tag = tag
            res.new_digest = digest
            res.reason = (
                f"{tag} now points at {digest[:19]}... (was {pinned_digest[:19]}...)"
                if pinned_digest
                else f"{tag} is {digest[:19]}... (the value carries the digest)"
            )

    await asyncio.gather(*(pin(*entry) for entry in pinned))


async def _gate_moved(
    res: Resolution,
    image: ImageReference,
    tag: str,
    digest: str,
    finder: FactFinder,
    down: _Down,
) -> GateReport | None:
    """The gates' verdict on the current tag's new digest; a held move keeps the pinned
    digest, with the reason (None: the registry failed, and the resolution says so)."""
    assert res.gates is not None
    try:
        facts = await finder.facts_of_digest(image, tag, digest, res.gates)
        platforms = await finder.current_platforms(res.site)
    except RegistryError as exc:
        _fail(res, "registry", image.repository, down.record(exc))
        return None
    report = evaluate(
        res.gates, facts, now=finder.now, current_platforms=platforms, current=res.site.tag
    )
    res.gate_reports[tag] = report
    if not report.passed:
        res.reason = f"{tag} now points at {digest[:19]}...; the move is held: {report.reason}"
    return report
