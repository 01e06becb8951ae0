"""Choosing a tag among 100,000: ``decide()`` against "parse to integer tuples, take the max".

Every case hands both sides the same tag list in the same run. The floor is the least any
tool must do to answer: match the policy's pattern where it has one, turn each tag into a
comparable value (integer tuple, build time, number, bytes) and take the greatest. It checks
no tag grammar, no family, no prereleases and explains nothing, so imagebot's ratio is what
all of that costs. Both sides must pick the same tag, or the case fails.

``decide()`` is measured as a cycle calls it (the top candidate only, no verdict per tag);
the ``explain`` row measures every tag's verdict, as ``imagebot explain`` asks for it.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.common import Row, median_of, peak_rss_mb
from imagebot.policy import Candidate, decide, parse_policy

TARGET = 3.0
T0 = datetime(2024, 1, 1, tzinfo=UTC)
_VERSION = re.compile(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)(-[0-9A-Za-z.-]+)?")


def version_tags(count: int) -> list[str]:
    """*count* distinct tags as a busy repository has them, oldest first: mostly ``X.Y.Z``,
    some with ``v``, prereleases, a variant suffix, and a few that are no version at all."""
    tags: list[str] = []
    for i in range(count):
        major, minor, patch = i // 2000, (i // 20) % 100, i % 20
        tag = f"{major}.{minor}.{patch}"
        roll = i % 50
        if roll == 7:
            tag += "-rc.1"
        elif roll == 13:
            tag += "-alpine"
        elif roll == 29:
            tag = "v" + tag
        elif roll == 41:
            tag = f"build-{i}"
        tags.append(tag)
    tags.append("latest")
    return tags


def _version_floor(pattern: re.Pattern[str] | None) -> Callable[[list[Candidate]], str]:
    def floor(candidates: list[Candidate]) -> str:
        best: tuple[tuple[int, int, int], str] | None = None
        for c in candidates:
            m = _VERSION.fullmatch(c.tag)
            if m is None or m.group(4) or (pattern is not None and not pattern.match(c.tag)):
                continue
            key = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            if best is None or key > best[0]:
                best = (key, c.tag)
        assert best is not None
        return best[1]

    return floor


def _build_time_floor(pattern: re.Pattern[str]) -> Callable[[list[Candidate]], str]:
    def floor(candidates: list[Candidate]) -> str:
        best: tuple[datetime, str] | None = None
        for c in candidates:
            if c.created is None or not pattern.search(c.tag) or c.tag == "latest":
                continue
            if best is None or c.created > best[0]:
                best = (c.created, c.tag)
        assert best is not None
        return best[1]

    return floor


def _number_floor(candidates: list[Candidate]) -> str:
    return max((c.tag for c in candidates if c.tag.isdigit()), key=int)


def _bytes_floor(candidates: list[Candidate]) -> str:
    return max((c.tag for c in candidates if c.tag != "latest"), key=str.encode)


@dataclass(frozen=True)
class Case:
    name: str
    policy: str
    current: str | None
    candidates: list[Candidate]
    floor: Callable[[list[Candidate]], str]
    explain: bool = False


def cases(count: int) -> list[Case]:
    tags = version_tags(count)
    plain = _shuffled([Candidate(t) for t in tags])
    dated = _shuffled([Candidate(t, T0 + timedelta(seconds=i)) for i, t in enumerate(tags)])
    numbers = _shuffled([Candidate(str(1_700_000_000 + i * 7)) for i in range(count)])
    wide = _version_floor(None)
    mid = count // 2000 // 2  # a major version in the middle of the list
    tilde = _version_floor(re.compile(rf"v?{mid}\.3\."))
    return [
        Case("semver range (>=1.0.0)", "semver:>=1.0.0", "1.0.0", plain, wide),
        Case(f"semver range (~{mid}.3)", f"semver:~{mid}.3", f"{mid}.3.1", plain, tilde),
        Case("glob (build times)", "glob:*.*.*", "1.0.0", dated, _build_time_floor(_GLOB)),
        Case("regex (build times)", r"regex:^[0-9]+\.", "1.0.0", dated, _build_time_floor(_RE)),
        Case("numerical", "numerical:asc", "1700000000", numbers, _number_floor),
        Case("alphabetical", "alphabetical:asc", None, plain, _bytes_floor),
        Case("semver, every verdict", "semver:>=1.0.0", "1.0.0", plain, wide, explain=True),
    ]


def _shuffled(candidates: list[Candidate]) -> list[Candidate]:
    """A registry's order is no order: both sides get the same shuffled list."""
    random.Random(11).shuffle(candidates)
    return candidates


_GLOB = re.compile(r".*\..*\..*", re.DOTALL)
_RE = re.compile(r"^[0-9]+\.")


def measure(case: Case, rounds: int) -> Row:
    policy = parse_policy(case.policy)
    decision = decide(policy, case.candidates, case.current, explain=case.explain)
    expected = case.floor(case.candidates)
    if decision.tag != expected:
        raise RuntimeError(f"{case.name}: imagebot chose {decision.tag}, the floor {expected}")
    ours = median_of(
        rounds,
        lambda: decide(policy, case.candidates, case.current, explain=case.explain),
        cpu=True,
    )
    floor = median_of(rounds, lambda: case.floor(case.candidates), cpu=True)
    return Row(
        f"policy: {case.name}",
        f"{len(case.candidates):,} tags",
        ours,
        floor,
        None if case.explain else TARGET,
        peak_rss_mb(),
        unit="CPU s",
        note="all verdicts, as `explain` asks" if case.explain else "",
    )


def rows(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench policy")
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10,000 tags, 1 round")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.tags, args.rounds = 10_000, 1
    return [measure(case, args.rounds) for case in cases(args.tags)]


def main(argv: list[str]) -> int:
    from bench.common import table

    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
