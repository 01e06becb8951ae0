"""Masterminds-style semver constraints (the semantics Flux and Argo CD Image Updater use)."""

from __future__ import annotations

import pytest

from imagebot.errors import PolicyError
from imagebot.policy.constraints import Constraint
from imagebot.policy.versions import Version


def satisfies(constraint: str, version: str) -> bool:
    parsed = Version.parse(version)
    assert parsed is not None, version
    return Constraint.parse(constraint).check(parsed).ok


# (constraint, version, expected): Masterminds/semver v3's documented semantics.
MASTERMINDS = [
    # tilde: patch-level ranges, or major-level when the minor is missing
    ("~1.2.3", "1.2.4", True),
    ("~1.2.3", "1.2.2", False),
    ("~1.2.3", "1.3.0", False),
    ("~1.2", "1.2.9", True),
    ("~1.2", "1.3.0", False),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~1.x", "1.3.5", True),
    ("~>1.2", "1.2.7", True),
    ("~0.0.0", "1.2.3", True),
    ("~*", "2.1.1", True),
    # caret: major-level ranges, narrower below 1.0.0
    ("^1.2.3", "1.8.9", True),
    ("^1.2.3", "2.0.0", False),
    ("^1.2.3", "1.2.1", False),
    ("^1.2", "1.8.9", True),
    ("^1.x", "1.1.1", True),
    ("^0.2.3", "0.2.5", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^0", "0.9.0", True),
    ("^0", "1.0.0", False),
    ("^*", "3.0.0", True),
    # wildcards and bare partial versions
    ("1.2.x", "1.2.12", True),
    ("1.2.x", "1.3.0", False),
    ("1.x", "1.15.2", True),
    ("1.x", "2.0.0", False),
    ("4.1", "4.1.7", True),
    ("4.1", "4.2.0", False),
    ("2", "2.9.9", True),
    ("*", "4.5.6", True),
    ("=2.0", "2.0.1", True),
    ("=2.0.0", "2.0.1", False),
    ("1.2.3", "1.2.3", True),
    # comparisons with partial versions
    (">1.1", "1.1.9", False),
    (">1.1", "1.2.0", True),
    (">11", "11.1.0", False),
    (">=1.1", "1.1.0", True),
    (">=1.1", "1.0.9", False),
    ("<1.1", "1.0.9", True),
    ("<1.1", "1.1.0", False),
    ("<1.x", "0.9.9", True),
    ("<1.x", "1.1.1", False),
    ("<=1.1", "1.1.9", True),
    ("<=1.1", "1.2.0", False),
    ("<=2.x", "2.9.0", True),
    ("<=2.x", "3.0.0", False),
    ("=<1.1", "1.1.1", True),
    ("=>1.1", "1.1.0", True),
    # not equal
    ("!=4.1.0", "4.1.0", False),
    ("!=4.1.0", "4.1.1", True),
    ("!=4.1", "4.1.5", False),
    ("!=4.1", "5.1.0", True),
    ("!=4.x", "4.1.0", False),
    # AND groups with commas or spaces, OR alternatives
    (">= 1.2, < 3.0.0 || >= 4.2.3", "2.9.9", True),
    (">= 1.2, < 3.0.0 || >= 4.2.3", "3.5.0", False),
    (">= 1.2, < 3.0.0 || >= 4.2.3", "4.2.3", True),
    (">=1.0.0 <2.0.0", "1.9.0", True),
    (">=1.0.0 <2.0.0", "2.0.0", False),
    (">=1.0, <2.0", "1.5.0", True),
    (">=1.1, <2, !=1.2.3", "1.2.3", False),
    (">=1.1    <2    !=1.2.3", "1.2.4", True),
    # hyphen ranges
    ("1.2 - 1.4.5", "1.2.0", True),
    ("1.2 - 1.4.5", "1.4.5", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("2.3.4 - 4.5", "4.5.9", True),
    ("2.3.4 - 4.5", "4.6.0", False),
    ("1.1-3", "4.3.2", False),
    # v prefixes on either side
    ("v1.x", "1.0.0", True),
    ("1.x", "v1.0", True),
    ("~v1.2", "v1.2.7", True),
]


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    MASTERMINDS,
    ids=[f"{c} {'admits' if e else 'rejects'} {v}" for c, v, e in MASTERMINDS],
)
def test_masterminds_semantics(constraint: str, version: str, expected: bool) -> None:
    assert satisfies(constraint, version) is expected


PRERELEASES = [
    ("*", "1.2.3-alpha.1", False),
    ("*-0", "1.2.3-alpha.1", True),
    ("~1.1", "1.1.1-alpha", False),
    ("~1.1-alpha", "1.1.1-beta", True),
    ("~1.2.3-beta.2", "1.2.4-beta.2", True),
    ("^1.2.0", "1.2.1-alpha.1", False),
    ("^1.2.0-alpha.0", "1.2.1-alpha.1", True),
    ("^1.2.0-alpha.2", "1.2.0-alpha.1", False),
    (">=0.0.0-0", "3.4.5-beta.1", True),
    (">=1.1", "4.1.0-beta", False),
    (">1.2.3-alpha.1", "1.3.3-alpha.2", True),
    ("^1.x-0", "1.5.0-rc.1", True),
    ("2.x-0", "2.0.0-rc1", True),
    (">=1.0.0-0 <2.0.0", "1.5.0-rc1", True),
    (">=1.0.0-0 <2.0.0", "2.0.0-rc1", True),  # plain precedence: 2.0.0-rc1 < 2.0.0
    (">=1.0.0-0 <2.0.0", "2.0.1-rc1", False),
    (">=1.0.0 <2.0.0 || >=3.0.0-0", "1.5.0-rc1", False),
    (">=1.0.0 <2.0.0 || >=3.0.0-0", "3.1.0-rc1", True),
    ("!=4.1-alpha", "4.1.0", True),
]


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    PRERELEASES,
    ids=[f"{c} {'admits' if e else 'rejects'} {v}" for c, v, e in PRERELEASES],
)
def test_prereleases_qualify_only_when_their_and_group_names_one(
    constraint: str, version: str, expected: bool
) -> None:
    assert satisfies(constraint, version) is expected


def test_check_reports_a_version_kept_out_only_by_the_prerelease_rule() -> None:
    check = Constraint.parse("~1.2").check(Version.parse("1.2.4-rc.1"))  # type: ignore[arg-type]
    assert not check.ok
    assert check.blocked_prerelease


def test_check_does_not_blame_the_prerelease_rule_for_a_version_out_of_range() -> None:
    check = Constraint.parse("~1.2").check(Version.parse("1.3.0-rc.1"))  # type: ignore[arg-type]
    assert not check.blocked_prerelease


def test_empty_constraint_means_any_version() -> None:
    assert Constraint.parse("").text == "*"
    assert satisfies("", "7.0.0")


def test_constraint_text_is_normalised_whitespace() -> None:
    assert Constraint.parse("  >= 1.0.0-rc.0,   <1.0.1 ").text == ">= 1.0.0-rc.0, <1.0.1"


@pytest.mark.parametrize(
    "text",
    [
        "12.3.4.1234",
        "12.3.34~ 1.2.3",
        "1x",
        "x1",
        "-1",
        "a",
        "1.0.0p",
        ">= bar",
        "BAR >= 1.2.3",
        ">=1.0,",
        ", >=1.0",
        ">=1.0,, <2",
        "1 ||",
        "|| 1",
        "1.0.0-01",
    ],
)
def test_invalid_constraint_is_a_policy_error(text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Constraint.parse(text)
    assert caught.value.exit_code == 2
    assert repr(" ".join(text.split())) in str(caught.value)


def test_version_parse_accepts_partial_and_v_prefixed_versions() -> None:
    version = Version.parse("v1.2")
    assert version is not None
    assert (version.major, version.minor, version.patch, version.parts) == (1, 2, 0, 2)
    assert version.v_prefix


@pytest.mark.parametrize("text", ["1.0.0.1", "1.0.0p", "b1.2.3", "V1.2.3", "1.0.0-01", ""])
def test_version_parse_rejects_what_is_not_a_version(text: str) -> None:
    assert Version.parse(text) is None


def test_version_with_leading_zeros_in_numbers_is_a_version() -> None:
    version = Version.parse("2024.01.05")
    assert version is not None
    assert version.precedence[:3] == (2024, 1, 5)
