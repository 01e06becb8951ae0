"""Policy strings to :class:`Policy`, and :func:`decide`: which tag a workload should run.

The pipeline for each candidate tag, each step able to reject it with a reason:

1. it must be a valid OCI tag (``invalid``);
2. ``latest`` (any case) is never chosen unless the policy is exactly ``glob:latest``
   (``latest``), as in Flux v1: it is a moving tag, not a version;
3. the Flux v2 filter regex must match; its extract template gives the value the policy
   compares (``filter``);
4. the value must be of the current tag's family (``family``, see
   :mod:`imagebot.policy.families`);
5. the policy itself must accept the value (``policy``, or ``prerelease`` for semver);
6. a tag the supply-chain gates held (``gate``: too young, unsigned, missing a platform;
   :mod:`imagebot.policy.gates`) is out, with the gates' reason; the facts behind that
   verdict are gathered by the registry stage, never here.

Among what is left the best-ranked tag is chosen (:mod:`imagebot.policy.sorting`). It
replaces the current tag only when it ranks above it; otherwise the current tag stays, even
when the current tag itself is outside the policy: a policy never downgrades. When nothing
qualifies, nothing changes and the decision says why. A locked or non-automated workload
never changes, whatever the policy says (the decision still tells what it would pick).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from imagebot.errors import PolicyError
from imagebot.policy.constraints import Constraint
from imagebot.policy.families import FamilyContext
from imagebot.policy.filters import TagFilter, make_filter
from imagebot.policy.globs import is_literal
from imagebot.policy.rules import (
    AlphabeticalRule,
    GlobRule,
    NewestBuildRule,
    NumericalRule,
    RegexRule,
    Rejection,
    Rule,
    SemverRule,
    Subject,
)
from imagebot.policy.sorting import Rank, order_key
from imagebot.reference import is_valid_tag
from imagebot.tag import natural_key

KINDS = ("semver", "glob", "regex", "regexp", "alphabetical", "numerical", "newest-build")
CATEGORIES = (
    "selected",
    "current",
    "older",
    "downgrade",
    "policy",
    "prerelease",
    "family",
    "filter",
    "latest",
    "invalid",
    "gate",
)


@dataclass(frozen=True)
class Candidate:
    """A tag the registry offers, with its image's build time when known."""

    tag: str
    created: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """What happened to one tag; ``kept`` means it qualifies under the policy.

    Categories: ``selected`` (the decision's tag), ``current`` (the current tag, replaced,
    or staying although outside the policy), ``older`` (qualifies, ranks below the
    selected tag), ``downgrade`` (qualifies, ranks below or level with the current tag);
    rejected: ``policy``, ``prerelease``, ``family``, ``filter``, ``latest``, ``invalid``,
    ``gate`` (held by a supply-chain gate).
    """

    tag: str
    kept: bool
    reason: str
    category: str


@dataclass(frozen=True)
class Decision:
    """The tag the workload should run, and why.

    ``tag`` equals ``current`` when the workload is up to date or must stay; it is None when
    no tag qualifies (and then nothing is to change).
    """

    tag: str | None
    current: str | None
    changed: bool
    reason: str
    verdicts: list[Verdict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Screened:
    subject: Subject
    rejection: Rejection | None


@dataclass(frozen=True)
class Policy:
    """A parsed policy. Build it with :func:`parse_policy`."""

    text: str
    rule: Rule = field(repr=False, compare=False)
    filter: TagFilter | None = None
    same_family: bool = True

    @property
    def kind(self) -> str:
        return self.rule.kind

    @property
    def needs_build_times(self) -> bool:
        """glob, regex and newest-build rank by build time: the registry must fetch them."""
        return self.rule.needs_build_times

    @property
    def allows_latest(self) -> bool:
        return self.text == "glob:latest"

    def describe(self) -> str:
        """The policy with its filter, as a human reads it in a reason."""
        if self.filter is None:
            return self.text
        return f"{self.text} ({self.filter.describe()})"

    def candidates(self, tags: Iterable[str], current: str | None) -> list[str]:
        """The tags worth fetching build times for: those that pass filter, family and
        pattern, plus the current tag when listed (so no-downgrade can compare against it).
        Input order is kept; duplicates are dropped."""
        family = self._family(current)
        chosen: list[str] = []
        seen: set[str] = set()
        for tag in tags:
            if tag in seen:
                continue
            seen.add(tag)
            if tag == current or self._screen(Candidate(tag), family).rejection is None:
                chosen.append(tag)
        return chosen

    def current_value(self, current: str | None) -> str | None:
        """What the policy compares for the current tag; None when it cannot say (the
        filter extracts values and the current tag does not match it)."""
        if current is None:
            return None
        if self.filter is None:
            return current
        value = self.filter.value(current)
        if value is None:
            return None if self.filter.extract else current
        return value

    def _family(self, current: str | None) -> FamilyContext:
        pinned = self.kind == "glob" and is_literal(self.text[len("glob:") :])
        enabled = self.same_family and not pinned
        return FamilyContext.build(self.current_value(current), enabled=enabled)

    def _screen(self, candidate: Candidate, family: FamilyContext) -> _Screened:
        tag = candidate.tag
        subject = Subject(tag, tag, candidate.created)
        if not is_valid_tag(tag):
            return _Screened(subject, Rejection("invalid", f"{tag!r} is not a valid OCI tag"))
        if tag.lower() == "latest" and not self.allows_latest:
            return _Screened(
                subject,
                Rejection("latest", "'latest' is chosen only by the policy glob:latest"),
            )
        if self.filter is not None:
            value = self.filter.value(tag)
            if value is None:
                dropped = self.filter.excluded_by(tag)
                reason = (
                    f"excluded by the image repository's exclusion list ('{dropped}')"
                    if dropped is not None
                    else f"does not match the filter '{self.filter.pattern}'"
                )
                return _Screened(subject, Rejection("filter", reason))
            if value == "":
                reason = f"extract '{self.filter.extract}' gives an empty value"
                return _Screened(subject, Rejection("filter", reason))
            subject = Subject(tag, value, candidate.created)
        outside = family.rejects(subject.value)
        if outside is not None:
            return _Screened(subject, Rejection("family", outside))
        return _Screened(subject, self.rule.admit(subject, family))


def parse_policy(
    text: str,
    *,
    filter: str | None = None,
    extract: str | None = None,
    same_family: bool = True,
    exclude: Sequence[str] = (),
) -> Policy:
    """Parse a policy string (Flux v1 ``fluxcd.io/tag.*`` syntax plus Flux v2 sort policies).

    ``semver:<constraint>``, ``glob:<pattern>`` (or a bare pattern), ``regex:<re>`` /
    ``regexp:<re>``, ``alphabetical[:asc|:desc]``, ``numerical[:asc|:desc]``,
    ``newest-build``. *exclude*: regexes whose matching tags are dropped first (a Flux
    ``ImageRepository``'s ``exclusionList``). Raises :class:`PolicyError` (exit status 2)
    naming what is wrong.
    """
    if not isinstance(text, str):
        raise PolicyError(f"a policy must be a string, not {type(text).__name__}")
    key = (text, filter, extract, same_family, tuple(exclude))
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse_policy(text, filter, extract, same_family, exclude)
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = parsed
    return parsed


#: Policies already parsed, by their arguments: a cycle asks once per site, and a fleet's
#: sites share a handful of policies. A Policy is immutable, so one serves every site.
_PARSED: dict[tuple[object, ...], Policy] = {}
_PARSED_LIMIT = 4096


def _parse_policy(
    text: str,
    filter: str | None,
    extract: str | None,
    same_family: bool,
    exclude: Sequence[str],
) -> Policy:
    stripped = text.strip()
    if not stripped:
        raise PolicyError("empty policy: write e.g. 'semver:~1.2', 'glob:*' or 'newest-build'")
    kind, colon, arg = stripped.partition(":")
    if not colon and kind not in ("alphabetical", "numerical", "newest-build"):
        kind, arg = "glob", stripped
    elif kind not in KINDS:
        raise PolicyError(
            f"unknown policy kind {kind!r} in {stripped!r}: expected one of "
            + ", ".join(KINDS)
            + " (a tag cannot contain ':', so this is no glob either)"
        )
    arg = arg.strip()
    rule = _rule(kind, arg, stripped)
    tag_filter = make_filter(filter or None, extract or None, exclude)
    return Policy(rule.text, rule, tag_filter, same_family)


def _rule(kind: str, arg: str, whole: str) -> Rule:
    if kind == "semver":
        return SemverRule(Constraint.parse(arg))
    if kind == "glob":
        return GlobRule(arg)
    if kind in ("regex", "regexp"):
        if not arg:
            raise PolicyError(f"empty regex in policy {whole!r}: write e.g. 'regex:^main-'")
        return RegexRule(arg)
    if kind == "newest-build":
        if arg:
            raise PolicyError(f"newest-build takes no argument, got {whole!r}")
        return NewestBuildRule()
    order = arg or "asc"
    if order not in ("asc", "desc"):
        raise PolicyError(f"unknown order {order!r} in {whole!r}: expected asc or desc")
    return AlphabeticalRule(order) if kind == "alphabetical" else NumericalRule(order)


def decide(
    policy: Policy,
    candidates: Sequence[Candidate],
    current: str | None,
    *,
    automated: bool = True,
    locked: bool = False,
    explain: bool = True,
    held: Mapping[str, str] | None = None,
) -> Decision:
    """Choose the tag a workload on *current* should run, from the registry's *candidates*.

    Pure and deterministic: the order of *candidates* never changes the answer. A tag listed
    twice counts once, with its newest known build time.

    With *explain* every tag gets a :class:`Verdict` (``imagebot explain``, ``policy test
    --explain``). Without it only the tags the answer is about get one (the selected tag,
    the current one, and the best candidate when the current tag stays): the tag, reason and
    those verdicts are exactly what *explain* gives, at the cost of one pass over the tags
    (see :func:`_top`) instead of screening, ranking and sorting all of them. When nothing
    qualifies the full path runs, since the reason counts every rejection.

    *held* maps tags the supply-chain gates rejected to the reason (step 6): they never
    qualify, and their verdict says why. The current tag is never held (it already runs).
    """
    if held:
        candidates = [c for c in candidates if c.tag not in held or c.tag == current]
    decision = None if explain else _top(policy, candidates, current)
    if decision is None:
        decision = _decide(policy, _unique(candidates), current)
    if held:
        decision = _with_held(decision, held, current)
    if locked or not automated:
        why = "locked" if locked else "automation is off"
        would = f"; the policy would choose {decision.tag}" if decision.changed else ""
        return Decision(current, current, False, f"{why}: no change{would}", decision.verdicts)
    return decision


def _with_held(decision: Decision, held: Mapping[str, str], current: str | None) -> Decision:
    gated = [Verdict(tag, False, why, "gate") for tag, why in held.items() if tag != current]
    names = {v.tag for v in gated}
    verdicts = [v for v in decision.verdicts if v.tag not in names] + sorted(
        gated, key=lambda v: natural_key(v.tag), reverse=True
    )
    return Decision(decision.tag, decision.current, decision.changed, decision.reason, verdicts)


def _unique(candidates: Sequence[Candidate]) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for candidate in candidates:
        created = _utc(candidate.created)
        seen = best.get(candidate.tag)
        newer = created is not None and (
            seen is None or seen.created is None or created > seen.created
        )
        if seen is None or newer:
            best[candidate.tag] = Candidate(candidate.tag, created)
    return [best[tag] for tag in sorted(best)]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class _Ranked:
    subject: Subject
    rank: Rank

    @property
    def key(self) -> tuple[Any, ...]:
        return order_key(self.rank, self.subject.tag)


def _decide(policy: Policy, candidates: list[Candidate], current: str | None) -> Decision:
    family = policy._family(current)
    qualifying: list[_Ranked] = []
    rejected: dict[str, Rejection] = {}
    for item in (policy._screen(c, family) for c in candidates):
        rank = policy.rule.rank(item.subject, family) if item.rejection is None else None
        if rank is None:
            rejected[item.subject.tag] = item.rejection or Rejection("policy", "cannot be ranked")
        else:
            qualifying.append(_Ranked(item.subject, rank))
    qualifying.sort(key=lambda r: r.key, reverse=True)
    if not qualifying:
        verdicts = {t: Verdict(t, False, why.reason, why.category) for t, why in rejected.items()}
        reason = _nothing_qualifies(policy, rejected, current)
        return Decision(None, current, False, reason, _ordered(verdicts, []))
    current_rank = _current_rank(policy, family, candidates, current)
    return _conclude(policy, qualifying, rejected, current, current_rank)


def _top(policy: Policy, candidates: Sequence[Candidate], current: str | None) -> Decision | None:
    """:func:`_decide` for the top candidate only; None when nothing qualifies.

    One cheap pass gives every tag the rule's :meth:`~Rule.fast_keys` (the primary rank of a
    tag that may qualify); only the tags sharing the greatest key are screened in full and
    ranked, and the next key's tags only when none of those qualifies. The current tag is
    screened too, since the answer and its reason depend on it.
    """
    family = policy._family(current)
    tags = [c.tag for c in candidates]
    if policy.filter is None:
        chosen, values = candidates, tags
    else:
        extract = policy.filter.value
        pairs = [(c, extract(c.tag)) for c in candidates]
        chosen = [c for c, value in pairs if value]
        values = [value for _, value in pairs if value]
    if policy.needs_build_times:
        created = [
            None if (when := c.created) is None else when if when.tzinfo is UTC else _utc(when)
            for c in chosen
        ]
    else:
        created = [None] * len(values)
    keys = policy.rule.fast_keys(values, created, family)
    best = _best(policy, family, chosen, keys)
    if best is None:
        return None
    qualifying = [best]
    rejected: dict[str, Rejection] = {}
    mine = _unique([candidates[i] for i in _positions(tags, current)])
    if mine and mine[0].tag != best.subject.tag:
        item = policy._screen(mine[0], family)
        rank = policy.rule.rank(item.subject, family) if item.rejection is None else None
        if rank is None:
            rejected[mine[0].tag] = item.rejection or Rejection("policy", "cannot be ranked")
        else:
            qualifying.append(_Ranked(item.subject, rank))
            qualifying.sort(key=lambda r: r.key, reverse=True)
    current_rank = _current_rank(policy, family, mine, current)
    return _conclude(policy, qualifying, rejected, current, current_rank)


def _positions(items: list[Any], wanted: object) -> list[int]:
    """Where *wanted* is in *items* (``list.index`` runs in C: most lists hold it once)."""
    found: list[int] = []
    if wanted is None:
        return found
    start = 0
    while True:
        try:
            start = items.index(wanted, start) + 1
        except ValueError:
            return found
        found.append(start - 1)


def _best(
    policy: Policy,
    family: FamilyContext,
    candidates: Sequence[Candidate],
    keys: list[Any],
) -> _Ranked | None:
    """The best qualifying candidate, given each one's fast key (None: cannot qualify)."""
    levels: Iterator[list[int]] | None = None
    while True:
        if levels is None:
            top = max((k for k in keys if k is not None), default=None)
            if top is None:
                return None
            level = _positions(keys, top)
        else:
            level = next(levels, [])
            if not level:
                return None
        found: list[_Ranked] = []
        for candidate in _unique([candidates[i] for i in level]):
            item = policy._screen(candidate, family)
            if item.rejection is None:
                rank = policy.rule.rank(item.subject, family)
                if rank is not None:
                    found.append(_Ranked(item.subject, rank))
        if found:
            return max(found, key=lambda r: r.key)
        if levels is None:  # the greatest key did not qualify: walk the others in order
            rest = sorted(
                ((k, i) for i, k in enumerate(keys) if k is not None and k != top),
                key=lambda pair: pair[0],
                reverse=True,
            )
            levels = ([i for _, i in group] for _, group in groupby(rest, key=lambda p: p[0]))


def _conclude(
    policy: Policy,
    qualifying: list[_Ranked],
    rejected: dict[str, Rejection],
    current: str | None,
    current_rank: Rank | None,
) -> Decision:
    """The decision once *qualifying* (best first, never empty) and *rejected* are known."""
    verdicts = {tag: Verdict(tag, False, why.reason, why.category) for tag, why in rejected.items()}
    best = qualifying[0]
    stays = current is not None and current_rank is not None and not best.rank.above(current_rank)
    chosen = current if stays and current is not None else best.subject.tag
    verdicts.update(_rank_verdicts(policy, qualifying, chosen, current, current_rank))
    if stays and current_rank is not None:
        reason = _stay_reason(policy, best, current_rank, chosen)
        if current in verdicts and not verdicts[chosen].kept:
            outside = verdicts[chosen]
            verdicts[chosen] = Verdict(
                chosen,
                True,
                f"stays: no qualifying tag ranks above it (although {outside.reason})",
                "current",
            )
        return Decision(chosen, current, False, reason, _ordered(verdicts, qualifying))

    reason = f"{chosen} is {policy.rule.superlative(best.subject)} under {policy.describe()}"
    if current is not None and current_rank is None:
        reason += f"; the current tag {current} cannot be ranked under this policy"
    elif current is not None:
        reason += f"; it ranks above the current tag {current}"
    return Decision(chosen, current, chosen != current, reason, _ordered(verdicts, qualifying))


def _rank_verdicts(
    policy: Policy,
    qualifying: list[_Ranked],
    chosen: str,
    current: str | None,
    current_rank: Rank | None,
) -> dict[str, Verdict]:
    best = qualifying[0]
    verdicts: dict[str, Verdict] = {}
    for item in qualifying:
        tag = item.subject.tag
        if tag == chosen and item is best:
            why = policy.rule.superlative(best.subject)
            verdicts[tag] = Verdict(tag, True, why, "selected")
        elif tag == chosen:
            why = f"the current tag stays: {best.subject.tag} does not rank above it"
            verdicts[tag] = Verdict(tag, True, why, "selected")
        elif tag == current:
            why = f"the current tag; {chosen} ranks above it"
            verdicts[tag] = Verdict(tag, True, why, "current")
        elif current_rank is not None and not item.rank.above(current_rank):
            why = f"ranks below or level with the current tag {current}"
            verdicts[tag] = Verdict(tag, True, why, "downgrade")
        else:
            verdicts[tag] = Verdict(tag, True, f"ranks below {best.subject.tag}", "older")
    return verdicts


def _stay_reason(policy: Policy, best: _Ranked, current_rank: Rank, current: str) -> str:
    if best.subject.tag == current:
        superlative = policy.rule.superlative(best.subject)
        return f"{current} is up to date: it is {superlative} under {policy.describe()}"
    level = "level with" if best.rank.primary == current_rank.primary else "below"
    return (
        f"{current} stays: the best qualifying tag, {best.subject.tag}, ranks {level} it "
        f"under {policy.describe()} (no downgrades)"
    )


def _current_rank(
    policy: Policy, family: FamilyContext, candidates: list[Candidate], current: str | None
) -> Rank | None:
    value = policy.current_value(current)
    if current is None or value is None:
        return None
    created = next((c.created for c in candidates if c.tag == current), None)
    return policy.rule.rank(Subject(current, value, created), family)


def _ordered(verdicts: dict[str, Verdict], qualifying: list[_Ranked]) -> list[Verdict]:
    """Qualifying tags best first, then the rejected ones in descending natural order."""
    first = [verdicts[r.subject.tag] for r in qualifying]
    order = {tag: i for i, tag in enumerate(r.subject.tag for r in qualifying)}
    rest = sorted(
        (v for tag, v in verdicts.items() if tag not in order),
        key=lambda v: natural_key(v.tag),
        reverse=True,
    )
    current = [v for v in rest if v.category == "current"]
    return current + first + [v for v in rest if v.category != "current"]


_SUMMARY = {
    "policy": "outside the policy",
    "prerelease": "prerelease(s) the constraint does not admit",
    "family": "of another family than the current tag",
    "filter": "rejected by the filter",
    "latest": "'latest' (never chosen unless the policy is glob:latest)",
    "invalid": "not valid tag(s)",
    "gate": "held by the supply-chain gates",
}


def _nothing_qualifies(policy: Policy, rejected: dict[str, Rejection], current: str | None) -> str:
    if not rejected:
        return f"no tags to choose from under {policy.describe()}"
    counts = Counter(r.category for r in rejected.values())
    parts = [f"{n} {_SUMMARY.get(cat, cat)}" for cat, n in counts.most_common()]
    where = f"; {current} stays" if current is not None else ""
    return f"no tag qualifies under {policy.describe()}: {', '.join(parts)}{where}"
