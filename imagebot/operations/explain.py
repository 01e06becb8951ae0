"""Explain which tag each container of a workload gets, and why: reasons as data.

For every container: its policy and where it came from, the status (would update to X, up
to date, locked and what the policy would pick, not automated, no match, error), and every
tag the registry offers with the verdict of the policy engine (selected, current, older,
downgrade; rejected by policy, prerelease, family, filter, latest, invalid) plus what the
registry says about it: when it was built and for which platforms.

Registries are asked as an update cycle asks them, plus the build time and platforms of the
current and the chosen tag and of the tags the supply-chain gates checked (one cached lookup
each; each gate's verdict per checked tag is in ``resolution.gate_reports``); what the
state store already knows about other tags is shown for free. ``everything=True`` reads
every tag's (a request or more per tag: Docker Hub counts manifest reads as pulls). Nothing
is written. ``imagebot explain`` prints the :class:`Explanation` list; the web's workload
page shows it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imagebot.config import Config
from imagebot.errors import NotFound, RegistryError
from imagebot.humanize import ago
from imagebot.manifests import ImageSite
from imagebot.policy import Verdict
from imagebot.policy.gates import GateReport, show_time
from imagebot.reference import ImageReference
from imagebot.registry import ImageInfo, RegistryClient
from imagebot.store import optional_store
from imagebot.update import Resolution, Resolved, Runner, resolve
from imagebot.update.resolve import Progress

log = logging.getLogger(__name__)


@dataclass
class TagInfo:
    """What the registry says about one tag (None fields: not asked, or unknown)."""

    tag: str
    digest: str | None = None
    media_type: str | None = None
    platforms: list[str] = field(default_factory=list)
    created: datetime | None = None
    error: str | None = None
    #: True when it came from the state store without asking the registry.
    cached: bool = False

    @classmethod
    def of(cls, tag: str, info: ImageInfo, *, cached: bool = False) -> TagInfo:
        return cls(
            tag, info.digest, info.media_type, list(info.platforms), info.created, None, cached
        )

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "digest": self.digest,
            "media_type": self.media_type,
            "platforms": list(self.platforms),
            "created": self.created.isoformat() if self.created else None,
            "age": ago(self.created, now) if self.created else None,
            "age_seconds": int((now - self.created).total_seconds()) if self.created else None,
            "error": self.error,
        }


@dataclass
class Explanation:
    """One container's resolution plus the registry details behind it."""

    resolution: Resolution
    status_text: str
    chosen: str | None = None
    infos: dict[str, TagInfo] = field(default_factory=dict)
    current_info: TagInfo | None = None
    dropped: list[str] = field(default_factory=list)
    tag_count: int | None = None
    listed_at: datetime | None = None
    from_cache: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def site(self) -> ImageSite:
        return self.resolution.site

    @property
    def verdicts(self) -> list[Verdict]:
        decision = self.resolution.decision
        shown = list(decision.verdicts) if decision is not None else []
        shown += [Verdict(tag, False, "not a valid OCI tag", "invalid") for tag in self.dropped]
        return shown

    def to_dict(self, now: datetime) -> dict[str, Any]:
        res, site = self.resolution, self.site
        decision = res.decision
        data = res.to_dict()
        data.update(
            {
                "status_text": self.status_text,
                "chosen": self.chosen,
                "digest": site.digest,
                "source": site.source,
                "automated": site.automated,
                "locked": site.locked,
                "lock_message": site.lock_message,
                "lock_user": site.lock_user,
                "ignored": site.ignored,
                "filter": site.filter,
                "extract": site.extract,
                "same_family": site.same_family,
                "decision": None
                if decision is None
                else {
                    "tag": decision.tag,
                    "current": decision.current,
                    "changed": decision.changed,
                    "reason": decision.reason,
                },
                "current_image": self.current_info.to_dict(now) if self.current_info else None,
                "chosen_image": self._info_dict(self.chosen, now),
                "registry": None
                if self.tag_count is None
                else {
                    "repository": site.repository,
                    "tags": self.tag_count,
                    "dropped": list(self.dropped),
                    "listed_at": self.listed_at.isoformat() if self.listed_at else None,
                    "from_cache": self.from_cache,
                },
                "candidates": [self._candidate(v, now) for v in self.verdicts],
                "notes": list(self.notes),
            }
        )
        return data

    def _info_dict(self, tag: str | None, now: datetime) -> dict[str, Any] | None:
        if tag is None:
            return None
        if tag == self.site.tag and self.current_info is not None:
            return self.current_info.to_dict(now)
        info = self.infos.get(tag)
        return info.to_dict(now) if info else None

    def _candidate(self, verdict: Verdict, now: datetime) -> dict[str, Any]:
        info = self.infos.get(verdict.tag)
        details = info.to_dict(now) if info else TagInfo(verdict.tag).to_dict(now)
        details.pop("tag")
        return {
            "tag": verdict.tag,
            "kept": verdict.kept,
            "category": verdict.category,
            "reason": verdict.reason,
            **details,
        }


# --- gathering -------------------------------------------------------------------------------


def explain(
    config: Config,
    sites: list[ImageSite],
    *,
    everything: bool = False,
    fresh: bool = False,
    progress: Progress | None = None,
    runner: Runner | None = None,
) -> list[Explanation]:
    """One :class:`Explanation` per site (the sites of one workload, usually), asking the
    registries through *runner* (the service's shared one) or a runner of its own."""
    if runner is not None:
        resolved = runner.run(
            resolve(
                sites, runner.scanner, manual=True, fresh=fresh, progress=progress, explain=True
            )
        )
        return runner.run(_details(runner.client, resolved, everything=everything))
    with optional_store(config) as store, Runner(config, store) as own:
        return explain(
            config, sites, everything=everything, fresh=fresh, progress=progress, runner=own
        )


async def _details(
    client: RegistryClient, resolved: Resolved, *, everything: bool
) -> list[Explanation]:
    explained = []
    for res in resolved.resolutions:
        item = Explanation(res, status_text(res), chosen=_chosen(res))
        image = res.site.scan_image  # a Flux marker's: its policy's image
        listing = resolved.tag_lists.get(image.repository) if image is not None else None
        if image is not None and listing is not None:
            item.tag_count = len(listing.tags)
            item.dropped = list(listing.dropped)
            item.listed_at = listing.fetched_at
            item.from_cache = listing.from_cache
            await _fill(client, item, image, set(listing.tags), everything=everything)
        explained.append(item)
    return explained


async def _fill(
    client: RegistryClient,
    item: Explanation,
    image: ImageReference,
    listed: set[str],
    *,
    everything: bool,
) -> None:
    """Registry details for the current and chosen tags (and every tag with --all)."""
    site = item.site
    checked = list(item.resolution.gate_reports)  # the gates read them already: cached
    wanted = [t for t in (site.tag, item.chosen, *checked) if t is not None and t in listed]
    if everything:
        wanted += sorted(listed)
    wanted = list(dict.fromkeys(wanted))
    others = [v.tag for v in item.verdicts if v.tag in listed and v.tag not in wanted]

    async def look(tag: str) -> TagInfo:
        try:
            return TagInfo.of(tag, await client.image_info(image, tag, fresh=False))
        except NotFound:
            return TagInfo(tag, error="no longer in the registry")
        except RegistryError as exc:
            return TagInfo(tag, error=exc.reason)

    for info in await asyncio.gather(*(look(tag) for tag in wanted)):
        item.infos[info.tag] = info
    for tag in others:
        cached = _cached(client, image, tag)
        if cached is not None:
            item.infos[tag] = TagInfo.of(tag, cached, cached=True)

    if site.digest is not None:
        # What runs is the pinned digest, whatever the tag points at now.
        try:
            pinned = await client.image_info_by_digest(image, site.digest)
            item.current_info = TagInfo.of(site.tag or site.digest, pinned)
        except RegistryError as exc:
            item.current_info = TagInfo(site.tag or site.digest, site.digest, error=exc.reason)
    elif site.tag is not None:
        item.current_info = item.infos.get(site.tag)
    _notes(item, listed)


def _cached(client: RegistryClient, image: ImageReference, tag: str) -> ImageInfo | None:
    """A tag's details if the state store already has them: no request at all."""
    store = client.store
    if store is None:
        return None
    ttl = float(client.config.digest_cache_ttl)
    digest = store.get_tag_digest(image.repository, tag, max_age=ttl) if ttl > 0 else None
    record = store.get_image(digest) if digest else None
    if record is None:
        return None
    return ImageInfo(record.digest, record.media_type, record.platforms, record.created)


def _chosen(res: Resolution) -> str | None:
    """The tag the policy picks: the new tag, or what a locked/manual workload would get."""
    if res.status == "update":
        return res.new_tag
    if res.decision is None or res.decision.tag is None:
        return None
    return res.available


def _notes(item: Explanation, listed: set[str]) -> None:
    site, chosen = item.site, item.chosen
    if site.tag is not None and item.tag_count is not None and site.tag not in listed:
        item.notes.append(f"the current tag {site.tag} is not in the registry's tag list")
    current = item.current_info
    picked = item.infos.get(chosen) if chosen is not None and chosen != site.tag else None
    if current is None or picked is None:
        return
    missing = [p for p in current.platforms if p not in picked.platforms]
    if missing and picked.platforms:
        item.notes.append(
            f"{chosen} offers fewer platforms than {site.tag}: no {', '.join(missing)}"
        )
    if current.created and picked.created and picked.created < current.created:
        item.notes.append(
            f"{chosen} was built before {site.tag} ({ago(picked.created)} vs "
            f"{ago(current.created)})"
        )
    for info in (current, picked):
        if info.error:
            item.notes.append(f"{info.tag}: {info.error}")


def held_text(report: GateReport) -> str:
    """``1.0.2 held, waits until 2026-12-06 14:00 UTC`` or ``1.0.2 held by the gates``."""
    if report.until is not None:
        return f"{report.tag} held, waits until {show_time(report.until)}"
    return f"{report.tag} held by the gates"


def gate_lines(res: Resolution) -> list[tuple[str, str]]:
    """(tag, one line per gate) for every tag the gates checked, in the order checked."""
    lines = []
    for tag, report in res.gate_reports.items():
        verdicts = [
            f"{check.gate} {'ok' if check.passed else 'no'}: {check.detail}"
            for check in report.checks
        ]
        lines.append((tag, "; ".join(verdicts) or "no gate"))
    return lines


def status_text(res: Resolution) -> str:
    """One line: would update to X / up to date / locked (would pick X) / not automated /
    ignored / no match / error."""
    site = res.site
    would = res.available
    if res.status == "update":
        text = f"would update to {res.new_tag}"
        if res.new_digest:
            text += f" @{res.new_digest[:19]}…"
        return text
    if res.status == "up-to-date":
        held = res.held
        return f"up to date; {held_text(held)}" if held is not None else "up to date"
    if res.status == "locked":
        lock = "locked"
        if site.lock_message:
            lock += f" ({site.lock_message})"
        if would is not None and would != site.tag:
            return f"{lock}: the policy would pick {would}"
        return f"{lock}: up to date anyway" if would is not None else lock
    if res.status == "not-automated":
        if res.decision is None:
            return "not automated (no tag policy)"
        if would is not None and would != site.tag:
            return f"not automated: the policy would pick {would}"
        return "not automated: up to date anyway"
    if res.status == "ignored":
        return "ignored"
    if res.status == "no-match":
        return "no match: no tag qualifies"
    return f"error: {res.reason}"
