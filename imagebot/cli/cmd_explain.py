"""``imagebot explain WORKLOAD``: why each container of a workload runs (or would get) a tag.

For every container: its policy and where it came from, the status (would update to X, up
to date, locked and what the policy would pick, not automated, no match, error), and every
tag the registry offers with the verdict of the policy engine (selected, current, older,
downgrade; rejected by policy, prerelease, family, filter, latest, invalid) plus what the
registry says about it: when it was built and for which platforms.

Registries are asked as an update cycle asks them, plus the build time and platforms of the
current and the chosen tag (one cached lookup each); what the state store already knows
about other tags is shown for free. ``--all`` reads every tag's (a request or more per tag:
Docker Hub counts manifest reads as pulls). Nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imagebot.cli.common import (
    ago,
    complete_container,
    complete_workload,
    config_option,
    local_checkout,
    optional_store,
    output_option,
    plain_table,
    print_json,
    print_table,
    read_checkout,
    registry_progress,
    select_workload,
    stdout_console,
)
from imagebot.config import Config, RepositoryConfig, load_config
from imagebot.errors import InvalidInput, NotFound, RegistryError
from imagebot.manifests import ImageSite
from imagebot.policy import Verdict
from imagebot.reference import ImageReference
from imagebot.registry import ImageInfo, RegistryClient
from imagebot.update import Resolution, Resolved, Runner, resolve

if TYPE_CHECKING:
    from rich.text import Text

#: Text output without --all: this many qualifying tags besides the selected and current
#: ones, and this many rejected tags per category (JSON always lists every tag).
SHOWN_KEPT = 10
SHOWN_REJECTED = 5

_STATUS_STYLE = {
    "update": "bold yellow",
    "up-to-date": "bold green",
    "locked": "bold magenta",
    "not-automated": "bold",
    "ignored": "dim",
    "no-match": "bold yellow",
    "error": "bold red",
}
_VERDICT_STYLE = {
    "selected": "bold green",
    "current": "cyan",
    "older": "",
    "downgrade": "",
}


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


@click.command("explain")
@click.argument("workload", shell_complete=complete_workload)
@click.option(
    "--container",
    "-c",
    metavar="NAME",
    shell_complete=complete_container,
    help="Only this container (default: every container of the workload).",
)
@click.option(
    "--repo",
    "repo",
    metavar="PATH|URL",
    help="A checkout (read in place) or a Git URL (cloned into the state directory). "
    "Default: the one repository with a `path` in the config, else the current directory.",
)
@config_option
@output_option
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="List every tag in the text output, and read every tag's build time and platforms "
    "(a registry request or more per tag).",
)
@click.option("--fresh", is_flag=True, help="Ignore cached tag lists and ask the registries.")
def command(
    workload: str,
    container: str | None,
    repo: str | None,
    config_path: str | None,
    output: str,
    everything: bool,
    fresh: bool,
) -> None:
    """Explain which tag each container of WORKLOAD gets, and why.

    WORKLOAD is namespace:kind/name as fluxctl writes it (default:deployment/podinfo), or
    kind/name or name when only one workload has it.

    Exit status: 0 when every container was resolved, 1 when a registry, policy or manifest
    failed for one, 2 for usage errors (no such workload or container).
    """
    config = load_config(config_path)
    with _checkout(config, repo) as (root, settings):
        found = read_checkout(root, settings)
    sites = select_workload(found.sites, workload)
    if container is not None:
        names = sorted({s.container for s in sites})
        sites = [s for s in sites if s.container == container]
        if not sites:
            raise InvalidInput(
                f"{workload} has no container {container!r}",
                hint=f"its containers: {', '.join(names)}",
            )
    explained = _explain(config, sites, everything=everything, fresh=fresh, output=output)
    now = datetime.now(UTC)
    if output == "json":
        print_json(
            {
                "workload": sites[0].workload,
                "containers": [e.to_dict(now) for e in explained],
            }
        )
    else:
        _print_text(explained, now, everything=everything)
    if any(e.resolution.status == "error" for e in explained):
        raise SystemExit(1)


# --- gathering -------------------------------------------------------------------------------


@contextlib.contextmanager
def _checkout(config: Config, target: str | None) -> Iterator[tuple[Path, RepositoryConfig | None]]:
    """The directory to read: a local checkout as it is, or the bot's synced clone of a URL."""
    from imagebot.gitops import Workspace, is_remote_url
    from imagebot.update import repository_for_target

    if target is None or not is_remote_url(target):
        yield local_checkout(config, Path(target) if target else None)
        return
    repo = repository_for_target(config, target)[0]
    with Workspace.open(repo, config.resolved_state_dir()) as ws:
        ws.sync()
        yield ws.root, repo


def _explain(
    config: Config, sites: list[ImageSite], *, everything: bool, fresh: bool, output: str
) -> list[Explanation]:
    with (
        optional_store(config) as store,
        Runner(config, store) as runner,
        registry_progress(output != "json") as progress,
    ):
        resolved = runner.run(
            resolve(
                sites, runner.scanner, manual=True, fresh=fresh, progress=progress, explain=True
            )
        )
        return runner.run(_details(runner.client, resolved, everything=everything))


async def _details(
    client: RegistryClient, resolved: Resolved, *, everything: bool
) -> list[Explanation]:
    explained = []
    for res in resolved.resolutions:
        item = Explanation(res, status_text(res), chosen=_chosen(res))
        image = res.site.image
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
    wanted = [t for t in (site.tag, item.chosen) if t is not None and t in listed]
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
        return "up to date"
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


# --- text output ---------------------------------------------------------------------------


def _print_text(explained: list[Explanation], now: datetime, *, everything: bool) -> None:
    console = stdout_console()
    first = True
    for item in explained:
        if not first:
            console.print()
        first = False
        _print_one(console, item, now, everything=everything)


def _print_one(console: Any, item: Explanation, now: datetime, *, everything: bool) -> None:
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    site, res = item.site, item.resolution
    header = Text()
    header.append(site.workload, style="bold")
    header.append("  container ")
    header.append(site.container, style="bold")
    header.append(f"  {site.file}:{site.line}", style="dim")
    console.print(header)

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", min_width=8)
    facts.add_column(overflow="fold")
    facts.add_row("image", Text(site.reference_text))
    facts.add_row("policy", _policy_text(item))
    facts.add_row("status", Text(item.status_text, style=_STATUS_STYLE.get(res.status, "")))
    if res.reason and res.status != "error":
        facts.add_row("reason", Text(res.reason))
    if item.current_info is not None or site.tag:
        facts.add_row("current", _tag_line(site.tag or "-", item.current_info, now))
    if item.chosen is not None and item.chosen != site.tag:
        facts.add_row("chosen", _tag_line(item.chosen, item.infos.get(item.chosen), now))
    if item.tag_count is not None:
        listed = f"{site.repository}: {item.tag_count} tag{'s' if item.tag_count != 1 else ''}"
        if item.listed_at is not None:
            listed += f" (listed {ago(item.listed_at, now)}"
            listed += ", from cache)" if item.from_cache else ")"
        facts.add_row("registry", Text(listed))
    for note in item.notes:
        facts.add_row("note", Text(note, style="yellow"))
    print_table(console, Padding(facts, (0, 0, 0, 2)))

    verdicts = item.verdicts
    if not verdicts:
        return
    shown, hidden = _shown_verdicts(verdicts, everything)
    table = plain_table("TAG", "VERDICT", "BUILT", "PLATFORMS", "WHY")
    for verdict in shown:
        info = item.infos.get(verdict.tag)
        style = _VERDICT_STYLE.get(verdict.category, "red" if not verdict.kept else "")
        built = ago(info.created, now) if info and info.created else "-"
        platforms = ", ".join(info.platforms) if info and info.platforms else "-"
        if info and info.error:
            platforms = info.error
        table.add_row(
            Text(verdict.tag, style=style),
            Text(verdict.category, style=style),
            Text(built),
            Text(platforms),
            Text(verdict.reason),
        )
    console.print()
    print_table(console, table)
    if hidden:
        counts = Counter(v.category for v in hidden)
        summary = ", ".join(f"{cat}: {n}" for cat, n in counts.most_common())
        console.print(
            Text(
                f"… and {len(hidden)} more tag{'s' if len(hidden) != 1 else ''} ({summary}); "
                "--all lists every tag",
                style="dim",
            )
        )


def _policy_text(item: Explanation) -> Text:
    from rich.text import Text

    site, res = item.site, item.resolution
    text = Text(res.policy or site.policy or "none")
    extras = []
    if site.filter:
        extras.append(f"filter {site.filter}")
    if site.extract:
        extras.append(f"extract {site.extract}")
    if not site.same_family:
        extras.append("any family")
    extras.append(f"from {site.source}")
    flags = [
        "automated" if site.automated else "not automated",
        *(["locked"] if site.locked else []),
        *(["ignored"] if site.ignored else []),
    ]
    text.append(f"  ({'; '.join(extras)}; {', '.join(flags)})", style="dim")
    return text


def _tag_line(tag: str, info: TagInfo | None, now: datetime) -> Text:
    from rich.text import Text

    text = Text(tag, style="bold")
    if info is None:
        return text
    if info.error:
        text.append(f"  {info.error}", style="yellow")
        return text
    text.append(f"  built {ago(info.created, now)}" if info.created else "  build time unknown")
    if info.platforms:
        text.append(f"  {', '.join(info.platforms)}")
    if info.digest:
        text.append(f"  {info.digest[:19]}…", style="dim")
    return text


def _shown_verdicts(
    verdicts: list[Verdict], everything: bool
) -> tuple[list[Verdict], list[Verdict]]:
    """Without --all: selected and current, the best few others, a few of each rejection."""
    if everything:
        return verdicts, []
    shown: list[Verdict] = []
    hidden: list[Verdict] = []
    kept = 0
    rejected: Counter[str] = Counter()
    for verdict in verdicts:
        if verdict.category in ("selected", "current"):
            shown.append(verdict)
        elif verdict.kept:
            kept += 1
            (shown if kept <= SHOWN_KEPT else hidden).append(verdict)
        else:
            rejected[verdict.category] += 1
            (shown if rejected[verdict.category] <= SHOWN_REJECTED else hidden).append(verdict)
    return shown, hidden
