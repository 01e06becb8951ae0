"""The Tag value type: where the version sits in a tag and which tags form a family."""

from __future__ import annotations

import random

import pytest

from imagebot.errors import InvalidTag
from imagebot.tag import Tag, natural_key


@pytest.mark.parametrize(
    ("text", "prefix", "numbers", "suffix", "precision", "fmt"),
    [
        ("v1.2", "v", (1, 2), "", 2, "version"),
        ("1.25.3-alpine", "", (1, 25, 3), "-alpine", 3, "version"),
        ("3.10", "", (3, 10), "", 2, "version"),
        ("2024.01.05", "", (2024, 1, 5), "", 3, "date"),
        ("3.1.1-debian-9-r0", "", (3, 1, 1), "-debian-9-r0", 3, "version"),
        ("main-3f2a9c1-1700000000", "main-3f2a9c1-", (1700000000,), "", 1, "id"),
        ("release-v1.2", "release-v", (1, 2), "", 2, "version"),
        ("jammy-20240111", "jammy-", (20240111,), "", 1, "date"),
        ("1.0.0-rc.1", "", (1, 0, 0), "-rc.1", 3, "version"),
        ("dev-9e3bdaf", "dev-", (), "", 0, "id"),
    ],
)
def test_parse_splits_prefix_numbers_suffix_precision_and_format(
    text: str, prefix: str, numbers: tuple[int, ...], suffix: str, precision: int, fmt: str
) -> None:
    tag = Tag.parse(text)
    assert (tag.raw, tag.prefix, tag.numbers, tag.suffix, tag.precision, tag.format) == (
        text,
        prefix,
        numbers,
        suffix,
        precision,
        fmt,
    )


@pytest.mark.parametrize("text", ["latest", "main", "stg-4s7bsgv", "alpine3.19", "1.0.0p"])
def test_tag_without_a_standalone_number_has_no_version(text: str) -> None:
    tag = Tag.parse(text)
    assert tag.numbers == ()
    assert tag.format == "none"
    assert not tag.has_version


def test_invalid_oci_tag_is_rejected() -> None:
    with pytest.raises(InvalidTag):
        Tag.parse("not a tag")


def test_unchecked_parse_accepts_extracted_values_that_are_not_tags() -> None:
    assert Tag.parse("1.2+build", check=False).numbers == (1, 2)


def test_tag_is_a_frozen_value() -> None:
    tag = Tag.parse("1.2.3")
    with pytest.raises(AttributeError):
        tag.raw = "1.2.4"  # type: ignore[misc]
    assert tag == Tag.parse("1.2.3")
    assert hash(tag) == hash(Tag.parse("1.2.3"))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.25.3-alpine", "1.25.4-alpine"),
        ("3.10", "3.11"),
        ("v1.2", "1.3"),
        ("release-v1.2", "release-1.3"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0-beta2", "1.0.1"),
        ("3.1.1-debian-9-r0", "3.1.2-debian-9-r3"),
        ("dev-9e3bdaf", "dev-1234567"),
        ("main-3f2a9c1-1700000000", "main-1234567-1700000100"),
        ("2024.01.05", "2024.02.11"),
        ("jammy-20240111", "jammy-20240125"),
        ("18-alpine", "20-alpine"),
        ("build-999999", "build-1000000"),
    ],
)
def test_same_family(a: str, b: str) -> None:
    assert Tag.parse(a).same_family(Tag.parse(b))
    assert Tag.parse(b).same_family(Tag.parse(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.25.3-alpine", "1.25.4"),
        ("1.25.3-alpine", "1.25.5-bookworm"),
        ("1.25.3-alpine", "1.25.4-alpine3.19"),
        ("3.10", "3.11.2"),
        ("1.2.3", "2024.01.05"),
        ("release-1.2", "1.3"),
        ("node18-1.2.3", "node20-1.2.4"),
        ("3.1.1-debian-9-r0", "3.1.2-debian-10-r0"),
        ("dev-9e3bdaf", "stg-9e3bdaf"),
        ("1.2.3", "latest"),
        ("18-alpine", "18.1-alpine"),
        ("20240105", "1700000000"),
    ],
)
def test_different_family(a: str, b: str) -> None:
    assert not Tag.parse(a).same_family(Tag.parse(b))


def test_variant_is_the_suffix_unless_it_marks_a_prerelease() -> None:
    assert Tag.parse("1.25.3-alpine").variant == "-alpine"
    assert Tag.parse("1.0.0-rc.1").variant == ""
    assert Tag.parse("1.2.3").variant == ""


def test_natural_order_compares_numbers_as_numbers() -> None:
    assert natural_key("3.1.9") < natural_key("3.1.10")


def test_natural_order_puts_a_release_after_its_prerelease() -> None:
    assert natural_key("1.2.3-rc1") < natural_key("1.2.3")


def test_natural_order_puts_a_shorter_version_first() -> None:
    assert natural_key("1.2") < natural_key("1.2.3")


def test_natural_order_ignores_a_leading_v() -> None:
    assert natural_key("v1.3") > natural_key("1.2.9")
    assert natural_key("v1.3") < natural_key("1.4")


def test_natural_order_is_total_and_independent_of_input_order() -> None:
    tags = ["3.1.10", "3.1.9", "v3.1.9", "3.1.09", "1.2.3-rc1", "1.2.3", "latest", "main-9"]
    expected = sorted(tags, key=natural_key)
    shuffled = tags[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=natural_key) == expected
    assert len({natural_key(t) for t in tags}) == len(tags)
