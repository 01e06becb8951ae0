"""Policy strings: Flux v1 annotations plus Flux v2 sort policies."""

from __future__ import annotations

import pytest

from imagebot.errors import PolicyError
from imagebot.policy import parse_policy


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("semver:~1.2", "semver:~1.2"),
        ("semver: >= 1.0.0-rc.0,  <1.0.1", "semver:>= 1.0.0-rc.0, <1.0.1"),
        ("semver:", "semver:*"),
        ("glob:dev-*", "glob:dev-*"),
        ("dev-*", "glob:dev-*"),
        ("*", "glob:*"),
        ("latest", "glob:latest"),
        ("regex:^stg.*", "regex:^stg.*"),
        ("regexp:^stg.*", "regex:^stg.*"),
        ("alphabetical", "alphabetical:asc"),
        ("alphabetical:desc", "alphabetical:desc"),
        ("numerical", "numerical:asc"),
        ("numerical:desc", "numerical:desc"),
        ("newest-build", "newest-build"),
        ("  semver:~1.2  ", "semver:~1.2"),
    ],
)
def test_policy_text_is_normalised(text: str, normalised: str) -> None:
    assert parse_policy(text).text == normalised


@pytest.mark.parametrize(
    ("text", "needs"),
    [
        ("semver:*", False),
        ("glob:*", True),
        ("regex:.", True),
        ("newest-build", True),
        ("alphabetical", False),
        ("numerical", False),
    ],
)
def test_only_build_time_policies_need_build_times(text: str, needs: bool) -> None:
    assert parse_policy(text).needs_build_times is needs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty policy"),
        ("semvr:~1.2", "unknown policy kind 'semvr'"),
        ("semver:~1.2x", "invalid semver constraint"),
        ("regex:(", "invalid policy regex"),
        ("regex:", "empty regex"),
        ("glob:", "empty glob"),
        ("glob:[abc", "without its closing"),
        ("alphabetical:up", "unknown order 'up'"),
        ("numerical:descending", "unknown order"),
        ("newest-build:x", "takes no argument"),
    ],
)
def test_invalid_policy_is_a_policy_error_with_exit_status_2(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        parse_policy(text)
    assert caught.value.exit_code == 2


def test_invalid_filter_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="invalid filter regex"):
        parse_policy("glob:*", filter="[")


def test_empty_filter_means_no_filter() -> None:
    assert parse_policy("glob:*", filter="").filter is None


def test_policy_describes_itself_with_its_filter() -> None:
    policy = parse_policy("numerical", filter=r"-(?P<ts>\d+)$", extract="$ts")
    assert policy.describe() == r"numerical:asc (filter '-(?P<ts>\d+)$' extract '$ts')"


def test_candidates_are_the_tags_worth_fetching_build_times_for() -> None:
    policy = parse_policy("glob:dev-*")
    tags = ["dev-2", "stg-1", "dev-1", "latest", "dev-2", "bad tag"]
    assert policy.candidates(tags, None) == ["dev-2", "dev-1"]


def test_candidates_include_the_current_tag_even_outside_the_policy() -> None:
    policy = parse_policy("glob:dev-*")
    assert policy.candidates(["dev-2", "stable"], "stable") == ["dev-2", "stable"]


def test_candidates_respect_the_family_of_the_current_tag() -> None:
    policy = parse_policy("glob:*")
    tags = ["1.2.3-alpine", "1.2.4-alpine", "1.2.4"]
    assert policy.candidates(tags, "1.2.3-alpine") == ["1.2.3-alpine", "1.2.4-alpine"]


def test_current_value_is_what_the_policy_compares_for_the_current_tag() -> None:
    policy = parse_policy("numerical", filter=r"^build-(\d+)$", extract="$1")
    assert policy.current_value("build-42") == "42"
    assert policy.current_value("other") is None
    assert parse_policy("glob:*", filter="^x").current_value("other") == "other"


def test_the_same_policy_text_and_options_parse_once_for_every_site():
    first = parse_policy("semver:~1.0", filter="^v", same_family=True)

    assert parse_policy("semver:~1.0", filter="^v", same_family=True) is first
    assert parse_policy("semver:~1.0", filter="^w", same_family=True) is not first
    assert parse_policy("semver:~1.0", filter="^v", same_family=False) is not first


def test_a_bad_policy_is_refused_every_time_it_is_asked_for():
    for _ in range(2):
        with pytest.raises(PolicyError):
            parse_policy("semver:not-a-range")
