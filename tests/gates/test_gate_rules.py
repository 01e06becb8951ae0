"""The gates as pure rules over facts: what passes, what is held, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagebot.errors import PolicyError
from imagebot.manifests.discovery import scan_bytes
from imagebot.policy import Candidate, decide, parse_policy
from imagebot.policy.gates import (
    Gates,
    SignatureFact,
    TagFacts,
    evaluate,
    format_age,
    parse_age,
    parse_platforms,
)

NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3d", 259200), ("12h", 43200), ("1w2d", 777600), ("90m", 5400), ("0s", 0)],
)
def test_a_min_age_is_read_in_whole_units(text: str, seconds: int):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["3", "3 days", "-1d", "1.5d", "", "d3"])
def test_a_min_age_that_is_no_duration_is_refused(text: str):
    with pytest.raises(PolicyError):
        parse_age(text)


@given(st.integers(min_value=1, max_value=10**8))
def test_a_formatted_age_reads_back_as_the_same_seconds(seconds: int):
    assert parse_age(format_age(seconds)) == seconds


def test_platforms_are_read_from_a_comma_list_or_a_list():
    assert parse_platforms("linux/amd64, linux/arm/v7") == ("linux/amd64", "linux/arm/v7")
    assert parse_platforms(["linux/arm64"]) == ("linux/arm64",)
    with pytest.raises(PolicyError, match="not os/arch"):
        parse_platforms("linux")


def test_every_gate_that_cannot_decide_rejects():
    gates = Gates(min_age=60, platforms=("linux/amd64",), verifier="release")

    report = evaluate(gates, TagFacts("1.0.1", error="registry down"), now=NOW)

    assert not report.passed
    assert [c.gate for c in report.checks] == ["age", "platforms", "signature"]
    assert all("cannot decide (registry down)" in c.detail for c in report.checks)
    assert report.until is None


def test_an_age_gate_alone_tells_when_the_tag_becomes_eligible():
    facts = TagFacts("1.0.1", "sha256:" + "a" * 64, first_seen=NOW - timedelta(hours=1))

    report = evaluate(Gates(min_age=3 * 3600), facts, now=NOW)

    assert report.until == NOW + timedelta(hours=2)
    assert report.reason == (
        "min age 3h: first seen 2026-12-03 13:00 UTC, waits until 2026-12-03 16:00 UTC"
    )


def test_a_tag_held_by_another_gate_too_has_no_eligibility_time():
    facts = TagFacts(
        "1.0.1",
        first_seen=NOW,
        signature=SignatureFact(False, "unsigned: no cosign signature"),
    )

    report = evaluate(Gates(min_age=60, verifier="release"), facts, now=NOW)

    assert report.until is None
    assert "signature: unsigned" in report.reason


def test_a_held_tag_is_a_gate_verdict_and_the_next_best_is_chosen():
    policy = parse_policy("semver:^1.0")
    tags = [Candidate(t) for t in ("1.0.0", "1.0.1", "1.0.2")]

    decision = decide(policy, tags, "1.0.0", held={"1.0.2": "held: platforms: lacks linux/arm64"})

    assert decision.tag == "1.0.1"
    gated = [v for v in decision.verdicts if v.category == "gate"]
    assert [(v.tag, v.reason) for v in gated] == [("1.0.2", "held: platforms: lacks linux/arm64")]


def test_a_policy_file_with_a_bad_gate_is_an_error_naming_the_key():
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\nmetadata: {name: app}\n"
        "spec: {policy: 'semver:^1', minAge: soon}\n"
    )

    found = scan_bytes(policy.encode(), "policies/app.yaml")

    assert len(found.errors) == 1
    assert "spec.minAge" in str(found.errors[0])
    assert "is not a duration" in str(found.errors[0])


def test_an_unknown_age_source_annotation_is_an_error_of_the_workload():
    doc = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n"
        '    imagebot.io/age-source.app: "pushed"\n'
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n"
        "        image: example.com/app:1.0.0\n"
    )

    (site,) = scan_bytes(doc.encode()).sites

    assert site.error is not None
    assert 'expected "seen" or "created"' in site.error


def test_the_gated_example_policy_gives_its_gates_to_the_values_it_marks():
    policy = (Path(__file__).resolve().parents[2] / "policies" / "podinfo-gated.yaml").read_text()
    marked = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: flux-system}\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n"
        '        image: ghcr.io/stefanprodan/podinfo:6.5.0 # {"$imagepolicy": '
        '"flux-system:podinfo-gated"}\n'
    )

    (site,) = scan_bytes(f"{policy}---\n{marked}".encode()).sites

    assert site.error is None
    assert (site.min_age, site.platforms) == ("3d", ("linux/amd64", "linux/arm64"))


def test_an_architecture_default_variant_names_the_same_platform():
    facts = TagFacts("1.0.1", platforms=("linux/amd64", "linux/arm64/v8", "linux/arm/v7"))

    asked = evaluate(Gates(platforms=("linux/arm64", "linux/arm/v7")), facts, now=NOW)
    v6 = evaluate(Gates(platforms=("linux/arm/v6",)), facts, now=NOW)

    assert asked.passed
    assert v6.reason == "platforms: lacks linux/arm/v6"
