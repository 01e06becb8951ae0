"""After the bot ran: what each demo workload runs now, whether that is what the demo expects,
and why, in the words of imagebot's own policy engine.

The reasons come from :func:`imagebot.policy.decide` over the tags the demo pushed, the
same decision the bot made, so the explanation cannot claim something the bot did not do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from imagebot.demo.scenario import RELEASES, WORKLOADS, Release, Workload
from imagebot.manifests import ImageSite
from imagebot.policy import Candidate, decide, parse_policy


@dataclass
class Outcome:
    """One workload after the bot's commit."""

    workload: Workload
    now: str | None  # the tag in Git after the commit (None: the image was not found)
    released: list[str]  # the newer tags the demo pushed for its image
    would: str | None = None  # the tag the policy picks (whether or not it was written)
    passed_over: list[str] = field(default_factory=list)  # "TAG: reason"

    @property
    def expected(self) -> str:
        return self.workload.expected or self.workload.tag

    @property
    def ok(self) -> bool:
        return self.now == self.expected

    @property
    def moved(self) -> bool:
        return self.now is not None and self.now != self.workload.tag


def outcomes(
    sites: Sequence[ImageSite],
    build_times: dict[tuple[str, str], datetime],
    workloads: Sequence[Workload] = WORKLOADS,
) -> list[Outcome]:
    """Match every scenario workload with its site in the repository after the bot's commit."""
    found = {(site.file, site.container): site for site in sites}
    result = []
    for workload in workloads:
        site = found.get((workload.file, workload.container))
        release = _release(workload.repository)
        outcome = Outcome(workload, site.tag if site else None, list(release.newer))
        if workload.policy is not None:
            _explain(outcome, release, build_times)
        result.append(outcome)
    return result


def _release(repository: str) -> Release:
    for release in RELEASES:
        if release.repository == repository:
            return release
    raise KeyError(f"the demo pushes no tags for {repository}")


def _explain(
    outcome: Outcome, release: Release, build_times: dict[tuple[str, str], datetime]
) -> None:
    workload = outcome.workload
    assert workload.policy is not None
    candidates = [
        Candidate(tag, build_times.get((release.repository, tag)))
        for tag in (*release.existing, *release.newer)
    ]
    decision = decide(parse_policy(workload.policy), candidates, workload.tag)
    outcome.would = decision.tag if decision.changed else None
    for verdict in decision.verdicts:
        if verdict.tag in release.newer and verdict.category not in ("selected", "current"):
            reason = verdict.reason
            if reason.startswith(verdict.tag + " "):
                reason = reason[len(verdict.tag) + 1 :]
            outcome.passed_over.append(f"{verdict.tag}: {reason}")


def foreign_changes(diff: str, results: Sequence[Outcome]) -> list[str]:
    """Lines of the bot's commit (``git diff -U0``) that are not one tag replaced by its new tag.

    Removed and added lines are paired in order within each file; a pair is expected when it
    is a line of a workload that moved, with the old tag swapped for the new one.
    """
    moves: dict[str, list[tuple[str, str]]] = {}
    for outcome in results:
        if outcome.moved and outcome.now is not None:
            moves.setdefault(outcome.workload.file, []).append((outcome.workload.tag, outcome.now))
    problems: list[str] = []
    file = ""
    removed: list[str] = []
    added: list[str] = []

    def settle() -> None:
        for index in range(max(len(removed), len(added))):
            old = removed[index] if index < len(removed) else None
            new = added[index] if index < len(added) else None
            swaps = moves.get(file, [])
            if (
                old is None
                or new is None
                or not any(old.replace(before, after, 1) == new for before, after in swaps)
            ):
                problems.extend(
                    f"{file}: {sign}{line}" for sign, line in (("-", old), ("+", new)) if line
                )
        removed.clear()
        added.clear()

    for line in diff.splitlines():
        if line.startswith("+++ "):
            settle()
            file = line[6:] if line.startswith("+++ b/") else line[4:]
        elif line.startswith(("--- ", "diff --git", "index ", "new file", "deleted file")):
            continue
        elif line.startswith("@@"):
            settle()
        elif line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
    settle()
    return problems
