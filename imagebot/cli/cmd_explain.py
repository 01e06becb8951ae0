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

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from imagebot.cli.common import (
    ago,
    complete_container,
    complete_workload,
    config_option,
    output_option,
    plain_table,
    print_json,
    print_table,
    read_checkout,
    registry_progress,
    select_workload,
    stdout_console,
)
from imagebot.config import load_config
from imagebot.errors import InvalidInput
from imagebot.operations.explain import Explanation, TagInfo, explain, gate_lines
from imagebot.operations.workloads import checkout
from imagebot.policy import Verdict

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
    with checkout(config, repo) as (root, settings):
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
    with registry_progress(output != "json") as progress:
        explained = explain(config, sites, everything=everything, fresh=fresh, progress=progress)
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
    if res.gates is not None:
        facts.add_row("gates", Text(res.gates.describe()))
    for tag, line in gate_lines(res):
        passed = res.gate_reports[tag].passed
        facts.add_row(f"gate {tag}", Text(line, style="green" if passed else "yellow"))
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
