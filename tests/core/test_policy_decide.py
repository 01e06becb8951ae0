"""decide(): which tag a workload should run, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from imagebot.policy import Candidate, Decision, decide, parse_policy

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def pick(
    policy: str,
    tags: list[str] | list[Candidate],
    current: str | None = None,
    *,
    same_family: bool = True,
    **kw: object,
) -> Decision:
    parsed = parse_policy(policy, same_family=same_family)
    candidates = [t if isinstance(t, Candidate) else Candidate(t) for t in tags]
    return decide(parsed, candidates, current, **kw)  # type: ignore[arg-type]


def built(tag: str, hours: int) -> Candidate:
    return Candidate(tag, T0 + timedelta(hours=hours))


def verdict(decision: Decision, tag: str) -> tuple[bool, str]:
    found = next(v for v in decision.verdicts if v.tag == tag)
    return found.kept, found.category


# --- semver -----------------------------------------------------------------------------


def test_semver_picks_the_highest_qualifying_version() -> None:
    assert pick("semver:~1.2", ["1.2.3", "1.2.10", "1.2.9", "1.3.0"]).tag == "1.2.10"


def test_semver_ignores_tags_that_are_not_versions() -> None:
    decision = pick("semver:*", ["1.0.0", "1.0.0.1", "1.0.0p", "latest", "main"])
    assert decision.tag == "1.0.0"
    assert verdict(decision, "1.0.0.1") == (False, "policy")


def test_semver_rejects_prereleases_unless_the_constraint_names_one() -> None:
    decision = pick("semver:~1.2", ["1.2.3", "1.2.4-rc.1"])
    assert decision.tag == "1.2.3"
    assert verdict(decision, "1.2.4-rc.1") == (False, "prerelease")


def test_semver_admits_prereleases_when_the_constraint_names_one() -> None:
    assert pick("semver:>=1.0.0-0", ["1.0.0", "1.1.0-rc.1"]).tag == "1.1.0-rc.1"


def test_semver_prefers_more_parts_among_equal_versions() -> None:
    assert pick("semver:*", ["1.10", "1.10.0"], same_family=False).tag == "1.10.0"


def test_semver_prefers_no_v_among_equal_versions() -> None:
    assert pick("semver:*", ["v1.10.0", "1.10.0"]).tag == "1.10.0"


def test_semver_does_not_churn_between_spellings_of_the_current_version() -> None:
    decision = pick("semver:*", ["v1.10.0", "1.10.0"], "v1.10.0")
    assert (decision.tag, decision.changed) == ("v1.10.0", False)


def test_semver_with_empty_constraint_picks_the_highest_version() -> None:
    assert pick("semver:", ["0.9.0", "2.0.0", "1.5.0"]).tag == "2.0.0"


# --- families ---------------------------------------------------------------------------


def test_family_keeps_the_variant_suffix() -> None:
    tags = ["1.25.3-alpine", "1.25.4-alpine", "1.25.4", "1.25.5-bookworm"]
    assert pick("semver:~1.25", tags, "1.25.3-alpine").tag == "1.25.4-alpine"


def test_family_suffix_is_not_mistaken_for_a_prerelease() -> None:
    decision = pick("semver:~1.25", ["1.25.4-alpine"], "1.25.3-alpine")
    assert verdict(decision, "1.25.4-alpine") == (True, "selected")


def test_without_current_tag_a_variant_suffix_is_a_prerelease() -> None:
    decision = pick("semver:~1.25", ["1.25.4-alpine", "1.25.3"])
    assert decision.tag == "1.25.3"
    assert verdict(decision, "1.25.4-alpine") == (False, "prerelease")


def test_family_keeps_the_precision() -> None:
    assert pick("semver:*", ["3.10", "3.11", "3.11.2"], "3.10").tag == "3.11"


def test_family_ignores_a_leading_v() -> None:
    assert pick("semver:*", ["v1.2.4", "1.2.3"], "1.2.3").tag == "v1.2.4"


def test_family_lets_a_release_candidate_move_to_the_release() -> None:
    tags = ["1.0.0-rc.1", "1.0.0-rc.2", "1.0.0", "1.0.1"]
    assert pick("semver:>= 1.0.0-rc.0, <1.0.1", tags, "1.0.0-rc.1").tag == "1.0.0"


def test_family_variant_ranks_a_later_revision_above() -> None:
    tags = ["3.1.1-debian-9-r0", "3.1.1-debian-9-r3", "3.1.2-debian-10-r0"]
    assert pick("semver:~3.1", tags, "3.1.1-debian-9-r0").tag == "3.1.1-debian-9-r3"


def test_family_rejections_say_which_family() -> None:
    decision = pick("semver:~1.25", ["1.25.4"], "1.25.3-alpine")
    kept, category = verdict(decision, "1.25.4")
    assert (kept, category) == (False, "family")
    assert "1.25.3-alpine" in decision.verdicts[0].reason


def test_family_can_be_switched_off() -> None:
    tags = ["1.25.4-alpine", "1.25.4"]
    assert pick("semver:~1.25", tags, "1.25.3-alpine", same_family=False).tag == "1.25.4"


def test_family_does_not_bind_a_current_tag_without_a_version() -> None:
    assert pick("semver:*", ["1.2.3", "1.3.0"], "latest").tag == "1.3.0"


def test_family_binds_commit_id_tags_as_one_family() -> None:
    tags = [built("dev-9e3bdaf", 1), built("dev-1234567", 2), built("stg-0a1b2c3", 3)]
    assert pick("glob:*", tags, "dev-9e3bdaf").tag == "dev-1234567"


def test_a_policy_naming_one_tag_ignores_the_family() -> None:
    assert pick("glob:latest", ["latest", "1.2.3"], "1.2.3").tag == "latest"


# --- glob, regex, newest-build ----------------------------------------------------------


def test_glob_picks_the_newest_build_among_matches() -> None:
    tags = [built("dev-aaa", 3), built("dev-bbb", 5), built("stg-ccc", 9)]
    assert pick("glob:dev-*", tags).tag == "dev-bbb"


def test_glob_is_case_sensitive_and_anchored() -> None:
    decision = pick("glob:dev-*", ["DEV-1", "x-dev-2", "dev-3"])
    assert decision.tag == "dev-3"


def test_glob_star_may_match_nothing() -> None:
    assert pick("glob:dev*", ["dev"]).tag == "dev"


def test_glob_question_mark_and_brackets_match_one_character() -> None:
    decision = pick("glob:v1.[0-4].?", ["v1.2.3", "v1.5.0", "v1.2.10"])
    assert decision.tag == "v1.2.3"


def test_tags_without_build_time_rank_below_tags_with_one() -> None:
    tags = [Candidate("9.9.9"), built("1.0.0", 1)]
    assert pick("glob:*", tags, same_family=False).tag == "1.0.0"


def test_without_build_times_natural_version_order_decides() -> None:
    assert pick("glob:3.1.*", ["3.1.9", "3.1.10", "3.1.2"]).tag == "3.1.10"


def test_equal_build_times_fall_back_to_natural_order() -> None:
    tags = [built("1.2", 1), built("1.2.3", 1)]
    assert pick("glob:*", tags, same_family=False).tag == "1.2.3"


def test_build_times_in_other_time_zones_compare_as_instants() -> None:
    plus2 = timezone(timedelta(hours=2))
    early = Candidate("a-1", datetime(2024, 5, 1, 13, 0, tzinfo=plus2))  # 11:00 UTC
    late = Candidate("a-2", datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert pick("glob:a-*", [late, early]).tag == "a-2"


def test_regex_is_searched_not_anchored() -> None:
    tags = [built("build-stg-1", 1), built("stg-2", 2), built("prod-3", 3)]
    assert pick("regex:stg", tags).tag == "stg-2"


def test_regexp_is_the_same_as_regex() -> None:
    tags = ["stg-1", "stg-2"]
    assert pick("regexp:^stg", tags).tag == pick("regex:^stg", tags).tag


def test_newest_build_picks_the_newest_among_all_tags() -> None:
    tags = [built("a5fb3d3", 1), built("f7bb2e3", 4), built("master", 2)]
    assert pick("newest-build", tags).tag == "f7bb2e3"


# --- alphabetical, numerical ------------------------------------------------------------


def test_alphabetical_ascending_picks_the_last() -> None:
    tags = ["xenial", "yakkety", "zesty", "artful", "bionic"]
    assert pick("alphabetical:asc", tags).tag == "zesty"


def test_alphabetical_descending_picks_the_first() -> None:
    tags = ["xenial", "yakkety", "zesty", "artful", "bionic"]
    assert pick("alphabetical:desc", tags).tag == "artful"


def test_alphabetical_compares_bytes_not_versions() -> None:
    assert pick("alphabetical", ["16.04", "16.04.1", "9.10"]).tag == "9.10"


def signed(values: list[str]) -> list[Candidate]:
    """Tags cannot start with '-': carry signed numbers as t<number> and extract them."""
    return [Candidate(f"t{v}") for v in values]


SIGNED = {"filter": r"^t(?P<n>[+-]?[0-9.]+)$", "extract": "$n"}


def test_numerical_ascending_picks_the_biggest_number() -> None:
    tags = signed(["-62", "-88", "73", "72", "15", "16", "29", "-33", "-91"])
    policy = parse_policy("numerical:asc", **SIGNED)
    assert decide(policy, tags, None).tag == "t73"


def test_numerical_descending_picks_the_smallest_number() -> None:
    tags = signed(["5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"])
    policy = parse_policy("numerical:desc", **SIGNED)
    assert decide(policy, tags, None).tag == "t-78"


def test_numerical_reads_unix_timestamps() -> None:
    tags = ["1606234201", "1606364286", "1606334092", "1606334284", "1606334201"]
    assert pick("numerical:asc", tags).tag == "1606364286"
    assert pick("numerical:desc", tags).tag == "1606234201"


def test_numerical_compares_fractions() -> None:
    assert pick("numerical", ["47.40896403322944", "53.47333823144817", "3.2"]).tag == (
        "53.47333823144817"
    )


def test_numerical_skips_values_that_are_not_numbers() -> None:
    decision = pick("numerical", ["0", "1a", "b", "1e5", "Inf", "NaN", "1_000", "7"])
    assert decision.tag == "7"
    assert verdict(decision, "1e5") == (False, "policy")


def test_numerical_compares_long_numbers_exactly() -> None:
    assert pick("numerical", ["9007199254740993", "9007199254740992"]).tag == "9007199254740993"


# --- latest -----------------------------------------------------------------------------


def test_latest_is_never_chosen_by_a_wildcard() -> None:
    tags = [built("latest", 9), built("1.0.0", 1)]
    decision = pick("glob:*", tags)
    assert decision.tag == "1.0.0"
    assert verdict(decision, "latest") == (False, "latest")


def test_latest_is_never_chosen_by_newest_build() -> None:
    tags = [built("latest", 9), built("dev", 9), built("f33bacd", 9)]
    assert pick("newest-build", tags).tag == "f33bacd"


def test_latest_is_chosen_by_exactly_glob_latest() -> None:
    assert pick("glob:latest", ["latest", "1.0.0"]).tag == "latest"


def test_bare_latest_is_glob_latest() -> None:
    assert pick("latest", ["latest", "1.0.0"]).tag == "latest"


def test_latest_in_other_case_is_not_chosen_either() -> None:
    assert pick("alphabetical", ["LATEST", "1.0"]).tag == "1.0"


# --- no downgrades, current tag ----------------------------------------------------------


def test_up_to_date_current_tag_stays() -> None:
    decision = pick("semver:~1.2", ["1.2.3", "1.2.2"], "1.2.3")
    assert (decision.tag, decision.changed) == ("1.2.3", False)
    assert "up to date" in decision.reason


def test_a_newer_tag_replaces_the_current_one() -> None:
    decision = pick("semver:~1.2", ["1.2.3", "1.2.4"], "1.2.3")
    assert (decision.tag, decision.current, decision.changed) == ("1.2.4", "1.2.3", True)


def test_no_downgrade_when_the_current_tag_is_outside_the_policy() -> None:
    decision = pick("semver:~1.2", ["1.2.0", "1.2.5", "2.0.0"], "2.0.0")
    assert (decision.tag, decision.changed) == ("2.0.0", False)
    assert "no downgrades" in decision.reason
    assert verdict(decision, "1.2.5") == (True, "downgrade")
    assert verdict(decision, "2.0.0") == (True, "current")


def test_no_downgrade_to_an_older_build() -> None:
    tags = [built("dev-2", 1), built("dev-1", 5)]
    decision = pick("glob:dev-*", tags, "dev-1")
    assert (decision.tag, decision.changed) == ("dev-1", False)


def test_no_downgrade_when_the_current_tag_is_not_listed() -> None:
    decision = pick("semver:*", ["1.2.0", "1.1.0"], "1.3.0")
    assert (decision.tag, decision.changed) == ("1.3.0", False)


def test_numerical_descending_never_moves_to_a_bigger_number() -> None:
    decision = pick("numerical:desc", ["5", "9"], "3")
    assert (decision.tag, decision.changed) == ("3", False)


def test_a_current_tag_the_policy_cannot_rank_is_replaced() -> None:
    decision = pick("semver:*", ["1.2.3"], "main", same_family=False)
    assert (decision.tag, decision.changed) == ("1.2.3", True)
    assert "cannot be ranked" in decision.reason


# --- nothing qualifies -------------------------------------------------------------------


def test_nothing_qualifies_leaves_the_image_alone_and_says_why() -> None:
    decision = pick("semver:~1.2", ["2.0.0", "1.2.4-rc.1", "latest"], "1.1.0")
    assert (decision.tag, decision.changed) == (None, False)
    assert decision.reason.startswith("no tag qualifies under semver:~1.2:")
    assert "prerelease" in decision.reason
    assert "1.1.0 stays" in decision.reason


def test_no_tags_at_all_says_so() -> None:
    decision = pick("glob:*", [])
    assert decision.tag is None
    assert "no tags" in decision.reason


def test_invalid_tags_are_rejected_not_fatal() -> None:
    decision = pick("glob:*", ["ok", "not ok", "-bad"])
    assert decision.tag == "ok"
    assert verdict(decision, "not ok") == (False, "invalid")


# --- locked, automation off --------------------------------------------------------------


def test_locked_workload_never_changes() -> None:
    decision = pick("semver:*", ["1.0.0", "2.0.0"], "1.0.0", locked=True)
    assert (decision.tag, decision.changed) == ("1.0.0", False)
    assert decision.reason.startswith("locked")
    assert "2.0.0" in decision.reason


def test_workload_without_automation_never_changes() -> None:
    decision = pick("semver:*", ["1.0.0", "2.0.0"], "1.0.0", automated=False)
    assert (decision.tag, decision.changed) == ("1.0.0", False)
    assert decision.reason.startswith("automation is off")


# --- verdicts ----------------------------------------------------------------------------


def test_every_tag_gets_one_verdict() -> None:
    tags = ["1.2.3", "1.2.4", "1.3.0", "latest", "bad tag", "1.2.4"]
    decision = pick("semver:~1.2", tags, "1.2.3")
    assert sorted(v.tag for v in decision.verdicts) == sorted(set(tags))


def test_verdicts_list_qualifying_tags_best_first() -> None:
    decision = pick("semver:*", ["1.0.0", "3.0.0", "2.0.0", "x"])
    assert [v.tag for v in decision.verdicts] == ["3.0.0", "2.0.0", "1.0.0", "x"]
    assert [v.category for v in decision.verdicts] == ["selected", "older", "older", "policy"]


def test_a_tag_listed_twice_counts_once_with_its_newest_build_time() -> None:
    tags = [built("a-1", 1), built("a-2", 3), built("a-1", 5)]
    assert pick("glob:a-*", tags).tag == "a-1"


def test_naive_build_times_are_taken_as_utc() -> None:
    naive = Candidate("a-1", datetime(2024, 5, 1, 13, 0))
    aware = Candidate("a-2", datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert pick("glob:a-*", [naive, aware]).tag == "a-1"


def test_decision_serialises_to_a_dict() -> None:
    data = pick("semver:*", ["1.0.0"]).to_dict()
    assert data["tag"] == "1.0.0"
    assert data["verdicts"][0] == {
        "tag": "1.0.0",
        "kept": True,
        "reason": "the highest qualifying version",
        "category": "selected",
    }
