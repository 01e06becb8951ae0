"""Flux v2 tag filters: Go regexes searched over tags, and Regexp.Expand templates."""

from __future__ import annotations

import pytest

from imagebot.errors import PolicyError
from imagebot.policy import Candidate, decide, parse_policy
from imagebot.policy.filters import TagFilter, make_filter
from imagebot.policy.goregex import Template, compile_go, translate


def extract(pattern: str, template: str, tag: str) -> str | None:
    return TagFilter.create(pattern, template).value(tag)


def test_filter_is_searched_not_anchored() -> None:
    assert TagFilter.create("rc").value("1.0.0-rc.1") == "1.0.0-rc.1"


def test_filter_without_extract_hands_over_the_tag() -> None:
    assert TagFilter.create("^ver").value("ver1") == "ver1"


def test_filter_rejects_a_tag_it_does_not_match() -> None:
    assert TagFilter.create("^ver").value("rel1") is None


def test_extract_by_number() -> None:
    assert extract(r"ver(\d+)", "$1", "ver12") == "12"


def test_extract_by_name() -> None:
    assert extract(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", "$ts", "main-3f2a9c1-1700000000") == (
        "1700000000"
    )


def test_extract_by_braced_name_followed_by_text() -> None:
    assert extract(r"^v(?P<v>[0-9.]+)$", "${v}-x", "v1.2") == "1.2-x"


def test_extract_keeps_literal_text_and_double_dollar() -> None:
    assert extract(r"(\d+)", "n$$=$1!", "a7") == "n$=7!"


def test_extract_treats_a_malformed_reference_as_text() -> None:
    assert extract(r"(\d+)", "$-${1", "7") == "$-${1"


def test_extract_of_a_group_that_did_not_take_part_is_empty() -> None:
    assert extract(r"^(a)?(\d+)$", "[$1]$2", "42") == "[]42"


def test_go_named_group_syntax_is_accepted() -> None:
    assert extract(r"^rel-(?<n>\d+)$", "$n", "rel-5") == "5"


def test_go_end_of_text_anchor_is_accepted() -> None:
    assert compile_go(r"^\d+\z").search("123")
    assert not compile_go(r"^\d+\z").search("123a")


def test_posix_character_classes_are_translated() -> None:
    assert translate("[[:digit:]]+") == "[0-9]+"
    assert compile_go("^[[:alpha:]_]+$").search("main_x")


def test_escaped_backslash_before_z_is_not_an_anchor() -> None:
    assert translate(r"a\\z") == r"a\\z"


def test_go_reads_dollar_1x_as_one_name_and_the_error_says_how_to_write_it() -> None:
    with pytest.raises(PolicyError, match=r"\$\{1\}x"):
        Template.compile("$1x", compile_go(r"(\d+)"))


def test_extract_naming_a_missing_group_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="ts"):
        TagFilter.create(r"^main-(\d+)$", "$ts")


def test_extract_numbering_a_missing_group_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match=r"\$2"):
        TagFilter.create(r"^main-(\d+)$", "$2")


def test_invalid_filter_regex_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as caught:
        TagFilter.create("main-(")
    assert caught.value.exit_code == 2
    assert "main-(" in str(caught.value)


def test_unsupported_go_syntax_is_refused_clearly() -> None:
    with pytest.raises(PolicyError, match="Unicode classes"):
        compile_go(r"\pL+")


def test_extract_without_filter_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="needs a filter"):
        make_filter(None, "$1")


def test_policy_compares_extracted_values_and_reports_the_original_tag() -> None:
    policy = parse_policy("numerical:asc", filter=r"^build-(\d+)$", extract="$1")
    decision = decide(policy, [Candidate("build-9"), Candidate("build-10")], None)
    assert decision.tag == "build-10"


def test_tags_the_filter_rejects_say_so() -> None:
    policy = parse_policy("glob:*", filter="^main-")
    decision = decide(policy, [Candidate("main-1"), Candidate("dev-2")], None)
    verdict = next(v for v in decision.verdicts if v.tag == "dev-2")
    assert (verdict.kept, verdict.category) == (False, "filter")


def test_empty_extracted_value_does_not_qualify() -> None:
    policy = parse_policy("alphabetical", filter=r"^x(\d*)$", extract="$1")
    decision = decide(policy, [Candidate("x")], None)
    assert decision.tag is None
    assert decision.verdicts[0].category == "filter"


def test_equal_extracted_values_pick_the_same_tag_in_any_order() -> None:
    policy = parse_policy("numerical", filter=r"-(\d+)$", extract="$1")
    tags = ["a-5", "b-5", "c-05"]
    picks = {
        decide(policy, [Candidate(t) for t in order], None).tag
        for order in (tags, tags[::-1], [tags[1], tags[2], tags[0]])
    }
    assert len(picks) == 1


def test_an_excluded_tag_is_rejected_before_the_filter_and_says_by_what() -> None:
    policy = parse_policy(
        "numerical:asc", filter=r"^(\d+)", extract="$1", exclude=[r"\.sig$", "-rc"]
    )
    decision = decide(policy, [Candidate(t) for t in ["5", "9.sig", "8-rc", "7"]], "5")
    assert decision.tag == "7"
    reasons = {v.tag: v.reason for v in decision.verdicts}
    assert reasons["9.sig"] == r"excluded by the image repository's exclusion list ('\.sig$')"
    assert reasons["8-rc"] == "excluded by the image repository's exclusion list ('-rc')"
    assert (
        policy.describe()
        == r"numerical:asc (filter '^(\d+)' extract '$1' excluding '\.sig$', '-rc')"
    )


def test_an_exclusion_list_alone_makes_a_filter_and_keeps_the_tag_as_the_value() -> None:
    only = make_filter(None, None, [r"\.sig$"])
    assert only is not None
    assert (only.value("1.2"), only.value("sha256-1.sig")) == ("1.2", None)
    with pytest.raises(PolicyError, match="exclusion regex"):
        make_filter(None, None, ["(unclosed"])
