"""Properties of decide(): the answer satisfies the policy, nothing qualifying ranks above
it, it never downgrades, stays in the family, and does not depend on input order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import semver as python_semver
from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.policy import Candidate, decide, parse_policy
from imagebot.policy.constraints import Constraint
from imagebot.policy.versions import Version
from imagebot.tag import Tag, natural_key

CONSTRAINTS = [
    "*",
    "~1.2",
    "^1.2.3",
    "^0.2",
    "1.x",
    ">=1.0.0 <2.0.0",
    ">= 1.2, < 3.0.0 || >= 4.2.3",
    "1.2 - 2.1.5",
    ">=1.0.0-0",
    "!=1.2.3",
    "^1.x-0",
    "<=2.1",
]
SUFFIXES = ["", "", "", "-alpine", "-bookworm", "-rc.1", "-rc.2", "-beta.1", "-0"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def version_tags(draw: st.DrawFn) -> str:
    numbers = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
    v = draw(st.sampled_from(["", "", "v"]))
    suffix = draw(st.sampled_from(SUFFIXES))
    return v + ".".join(map(str, numbers)) + suffix


other_tags = st.sampled_from(["latest", "main", "dev-9e3bdaf", "1.0.0.1", "stable", "1.2.3p"])
tag_lists = st.lists(st.one_of(version_tags(), other_tags), min_size=0, max_size=12)
build_times = st.one_of(st.none(), st.integers(0, 20).map(lambda h: T0 + timedelta(hours=h)))


def candidates_of(tags: list[str]) -> list[Candidate]:
    return [Candidate(t) for t in tags]


def semver_of(tag: str) -> Version:
    version = Version.parse(tag)
    assert version is not None
    return version


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CONSTRAINTS), tag_lists)
def test_semver_choice_satisfies_the_constraint_and_nothing_qualifying_ranks_above(
    constraint: str, tags: list[str]
) -> None:
    decision = decide(parse_policy(f"semver:{constraint}"), candidates_of(tags), None)
    parsed = Constraint.parse(constraint)
    qualifying = [semver_of(t) for t in tags if (v := Version.parse(t)) is not None and v in parsed]
    if decision.tag is None:
        assert qualifying == []
        return
    chosen = semver_of(decision.tag)
    assert chosen in parsed
    assert all(chosen.precedence >= other.precedence for other in qualifying)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CONSTRAINTS), tag_lists, st.one_of(st.none(), version_tags()), st.randoms())
def test_shuffling_the_tags_never_changes_the_decision(
    constraint: str, tags: list[str], current: str | None, rnd: object
) -> None:
    policy = parse_policy(f"semver:{constraint}")
    shuffled = tags[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = decide(policy, candidates_of(tags), current)
    second = decide(policy, candidates_of(shuffled), current)
    assert first == second


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CONSTRAINTS), tag_lists, version_tags())
def test_semver_never_downgrades_and_stays_in_the_family(
    constraint: str, tags: list[str], current: str
) -> None:
    decision = decide(parse_policy(f"semver:{constraint}"), candidates_of(tags), current)
    if decision.tag is None or decision.tag == current:
        return
    assert Tag.parse(decision.tag).same_family(Tag.parse(current))
    mine, theirs = Version.parse(decision.tag), Version.parse(current)
    if mine is not None and theirs is not None and not Tag.parse(current).variant:
        assert mine.precedence > theirs.precedence


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["dev-", "stg-", ""]), st.integers(0, 30), build_times),
        max_size=10,
    ),
    st.randoms(),
)
def test_glob_picks_the_newest_build_in_any_order(
    specs: list[tuple[str, int, datetime | None]], rnd: object
) -> None:
    candidates = [Candidate(f"{prefix}{n}", when) for prefix, n, when in specs]
    policy = parse_policy("glob:dev-*")
    decision = decide(policy, candidates, None)
    shuffled = candidates[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert decide(policy, shuffled, None) == decision
    matching = [c for c in candidates if c.tag.startswith("dev-")]
    if not matching:
        assert decision.tag is None
        return
    assert decision.tag is not None
    assert decision.tag.startswith("dev-")
    newest: dict[str, datetime | None] = {}
    for c in matching:  # a tag listed twice counts with its newest build time
        known = [t for t in (newest.get(c.tag), c.created) if t is not None]
        newest[c.tag] = max(known) if known else None
    times = [t for t in newest.values() if t is not None]
    if times:
        assert newest[decision.tag] == max(times)
    else:
        assert decision.tag == max(newest, key=natural_key)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["main", "dev"]), st.integers(-50, 50), st.sampled_from(["", ".5"])
        ),
        max_size=10,
    ),
    st.sampled_from(["asc", "desc"]),
    st.randoms(),
)
def test_numerical_with_filter_and_extract_picks_the_extreme_value_in_any_order(
    specs: list[tuple[str, int, str]], order: str, rnd: object
) -> None:
    tags = [f"{branch}-x{n}{frac}" for branch, n, frac in specs]
    policy = parse_policy(f"numerical:{order}", filter=r"^main-x(?P<n>-?[0-9.]+)$", extract="$n")
    decision = decide(policy, candidates_of(tags), None)
    shuffled = tags[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert decide(policy, candidates_of(shuffled), None) == decision
    values = [Decimal(t[len("main-x") :]) for t in tags if t.startswith("main-")]
    if not values:
        assert decision.tag is None
        return
    assert decision.tag is not None
    chosen = Decimal(decision.tag[len("main-x") :])
    assert chosen == (max(values) if order == "asc" else min(values))


@settings(max_examples=100, deadline=None)
@given(tag_lists, version_tags(), st.randoms())
def test_family_choice_is_of_the_current_family_in_any_order(
    tags: list[str], current: str, rnd: object
) -> None:
    policy = parse_policy("glob:*")
    decision = decide(policy, candidates_of(tags), current)
    shuffled = tags[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert decide(policy, candidates_of(shuffled), current) == decision
    if decision.tag is not None and decision.tag != current:
        assert Tag.parse(decision.tag).same_family(Tag.parse(current))


strict_versions = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, 5),
    st.sampled_from(["", "rc.1", "rc.10", "rc.2", "alpha", "alpha.beta", "0", "1", "beta-2"]),
)


@given(strict_versions, strict_versions)
def test_version_precedence_agrees_with_python_semver(a: str, b: str) -> None:
    ours = (semver_of(a).precedence > semver_of(b).precedence) - (
        semver_of(a).precedence < semver_of(b).precedence
    )
    assert ours == python_semver.Version.parse(a).compare(b)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["rel-", "dev-"]), version_tags()), max_size=10),
    st.sampled_from(CONSTRAINTS),
    st.one_of(st.none(), version_tags().map(lambda v: f"rel-{v}")),
    st.randoms(),
)
def test_semver_on_extracted_values_is_order_independent_and_in_the_family(
    specs: list[tuple[str, str]], constraint: str, current: str | None, rnd: object
) -> None:
    tags = [prefix + version for prefix, version in specs]
    policy = parse_policy(f"semver:{constraint}", filter=r"^rel-(?P<v>.+)$", extract="$v")
    decision = decide(policy, candidates_of(tags), current)
    shuffled = tags[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert decide(policy, candidates_of(shuffled), current) == decision
    if decision.tag is None or decision.tag == current:
        return
    value = decision.tag[len("rel-") :]
    assert decision.tag.startswith("rel-")
    if current is None:
        assert semver_of(value) in Constraint.parse(constraint)
    else:
        assert Tag.parse(value).same_family(Tag.parse(current[len("rel-") :]))


POLICIES = [
    *(f"semver:{c}" for c in CONSTRAINTS),
    "glob:*",
    "glob:1.*",
    "regex:^v?[0-9]+\\.",
    "newest-build",
    "alphabetical:asc",
    "alphabetical:desc",
    "numerical:asc",
    "numerical:desc",
]
dated_candidates = st.lists(
    st.tuples(st.one_of(version_tags(), other_tags, st.integers(0, 99).map(str)), build_times),
    max_size=14,
).map(lambda specs: [Candidate(tag, when) for tag, when in specs])


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(POLICIES),
    dated_candidates,
    st.one_of(st.none(), version_tags(), other_tags),
    st.booleans(),
    st.booleans(),
)
def test_the_top_candidate_path_picks_exactly_what_the_full_verdict_path_picks(
    policy_text: str,
    candidates: list[Candidate],
    current: str | None,
    same_family: bool,
    locked: bool,
) -> None:
    policy = parse_policy(policy_text, same_family=same_family)
    full = decide(policy, candidates, current, locked=locked, explain=True)
    fast = decide(policy, candidates, current, locked=locked, explain=False)
    assert (fast.tag, fast.current, fast.changed, fast.reason) == (
        full.tag,
        full.current,
        full.changed,
        full.reason,
    )
    told = {v.tag for v in fast.verdicts}
    assert fast.verdicts == [v for v in full.verdicts if v.tag in told]
    assert [v for v in fast.verdicts if v.category == "selected"] == [
        v for v in full.verdicts if v.category == "selected"
    ]


comparators = st.builds(
    lambda op, parts, pre: op + ".".join(parts) + pre,
    st.sampled_from(["", "=", "!=", ">", "<", ">=", "<=", "~", "^", "~>", "=>", "=<"]),
    st.lists(st.sampled_from(["0", "1", "2", "3", "x", "*"]), min_size=1, max_size=3),
    st.sampled_from(["", "", "-0", "-rc.1"]),
)
any_constraints = st.one_of(
    st.sampled_from(CONSTRAINTS),
    st.lists(
        st.lists(comparators, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=2
    ).map(" || ".join),
)


@settings(max_examples=300, deadline=None)
@given(any_constraints, dated_candidates, st.one_of(st.none(), version_tags()))
def test_the_top_candidate_path_agrees_on_any_semver_constraint(
    constraint: str, candidates: list[Candidate], current: str | None
) -> None:
    policy = parse_policy(f"semver:{constraint}")
    full = decide(policy, candidates, current, explain=True)
    fast = decide(policy, candidates, current, explain=False)
    assert (fast.tag, fast.changed, fast.reason) == (full.tag, full.changed, full.reason)


@settings(max_examples=500, deadline=None)
@given(any_constraints, version_tags())
def test_a_version_outside_a_constraints_envelope_never_satisfies_it(
    constraint: str, tag: str
) -> None:
    parsed = Constraint.parse(constraint)
    version = Version.parse(tag)
    if version is not None and parsed.check(version).ok:
        assert parsed.may_accept((version.major, version.minor, version.patch))
