"""Keel's annotations and labels on workloads, read as the policies that pick Keel's tag."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.manifests import scan_bytes
from imagebot.manifests.keel import keel_policy, schedule_seconds
from imagebot.policy import Candidate, decide, parse_policy
from tests.manifests.helpers import by_container


def deployment(
    annotations: dict[str, str],
    labels: dict[str, str] | None = None,
    image: str = "keelhq/push-workflow-example:0.1.2",
    init: str = "busybox:1.36",
) -> bytes:
    meta = "".join(f"    {k}: {v}\n" for k, v in annotations.items())
    label_text = "".join(f"    {k}: {v}\n" for k, v in (labels or {}).items())
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: wd\n  namespace: default\n"
    if label_text:
        text += f"  labels:\n{label_text}"
    if meta:
        text += f"  annotations:\n{meta}"
    text += (
        "spec:\n  template:\n    spec:\n"
        f"      initContainers:\n      - name: init\n        image: {init}\n"
        f"      containers:\n      - name: wd\n        image: {image}\n"
    )
    return text.encode()


def sites(annotations: dict[str, str], **kwargs: object):
    return by_container(scan_bytes(deployment(annotations, **kwargs)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keel", "tag", "policy"),
    [
        ("all", "1.4.2", "semver:*"),
        ("major", "1.4.2", "semver:>=1.4.2"),
        ("major", "v1.4.2", "semver:>=1.4.2"),
        ("minor", "1.4.2", "semver:^1.4.2"),
        ("minor", "0.4.2", "semver:>=0.4.2, <1.0.0-0"),
        ("patch", "1.4.2", "semver:>=1.4.2, <1.5.0-0"),
        ("patch", "1.4", "semver:>=1.4.0, <1.5.0-0"),
        ("patch", "0.0.0", "semver:>=0.0.0, <0.1.0-0"),  # not ~0.0.0: any 0.x in Masterminds
        ("minor", "latest", "semver:*"),
        ("force", "latest", "glob:latest"),
        ("force", "1.4.2", "glob:1.4.2"),
        ('"glob:build-*"', "build-7", "glob:build-*"),
        ('"regexp:^v1\\\\.[0-9]+$"', "v1.2", "regex:^v1\\.[0-9]+$"),
    ],
)
def test_each_keel_policy_becomes_the_policy_that_picks_the_same_tag(keel, tag, policy):
    wd = sites({"keel.sh/policy": keel}, image=f"repo/app:{tag}")["wd"]
    assert (wd.policy, wd.automated, wd.source, wd.error) == (
        policy,
        True,
        "annotation:keel.sh",
        None,
    )


def test_force_with_match_tag_follows_the_running_tag():
    wd = sites({"keel.sh/policy": "force", "keel.sh/match-tag": '"true"'}, image="a/b:stable")
    assert wd["wd"].policy == "glob:stable"


def test_never_names_keel_but_automates_nothing():
    wd = sites({"keel.sh/policy": "never"})["wd"]
    assert (wd.policy, wd.automated, wd.source, wd.error) == (
        None,
        False,
        "annotation:keel.sh",
        None,
    )


def test_the_policy_is_read_from_labels_when_no_annotation_names_one():
    wd = sites({}, labels={"keel.sh/policy": "patch", "keel.sh/trigger": "poll"})["wd"]
    assert (wd.policy, wd.automated) == ("semver:>=0.1.2, <0.2.0-0", True)


def test_an_annotation_policy_wins_over_a_label_policy():
    wd = sites({"keel.sh/policy": "major"}, labels={"keel.sh/policy": "patch"})["wd"]
    assert wd.policy == "semver:>=0.1.2"


def test_init_containers_are_left_alone_unless_keel_is_told_to_watch_them():
    found = sites({"keel.sh/policy": "all"})
    assert (found["init"].automated, found["init"].policy) == (False, None)
    watched = sites({"keel.sh/policy": "all", "keel.sh/initContainers": '"true"'})
    assert (watched["init"].automated, watched["init"].policy) == (True, "semver:*")


def test_monitor_containers_chooses_the_containers_by_regex():
    found = sites({"keel.sh/policy": "all", "keel.sh/monitorContainers": '"^(wd|init)$"'})
    assert found["wd"].automated
    other = sites({"keel.sh/policy": "all", "keel.sh/monitorContainers": "side.*"})
    assert not other["wd"].automated


def test_poll_schedule_is_the_image_interval():
    wd = sites({"keel.sh/policy": "all", "keel.sh/pollSchedule": '"@every 5m"'})["wd"]
    assert wd.interval == 300.0
    assert sites({"keel.sh/policy": "all"})["wd"].interval is None


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [("@every 1m30s", 90.0), ("@every 1.5h", 5400.0), ("@hourly", 3600.0), ("@daily", 86400.0)],
)
def test_poll_schedules_read_as_seconds(schedule, seconds):
    assert schedule_seconds(schedule) == seconds


def test_a_cron_poll_schedule_is_an_error_that_says_what_to_write():
    wd = sites({"keel.sh/policy": "all", "keel.sh/pollSchedule": '"*/5 * * * *"'})["wd"]
    assert "keel.sh/pollSchedule" in wd.error
    assert "@every" in wd.error


def test_approvals_hold_updates_for_approval():
    assert sites({"keel.sh/policy": "all", "keel.sh/approvals": '"1"'})["wd"].approve
    assert not sites({"keel.sh/policy": "all", "keel.sh/approvals": '"0"'})["wd"].approve
    bad = sites({"keel.sh/policy": "all", "keel.sh/approvals": "many"})["wd"]
    assert "keel.sh/approvals" in bad.error


def test_match_pre_release_false_turns_the_family_rule_off():
    wd = sites({"keel.sh/policy": "all", "keel.sh/matchPreRelease": '"false"'})["wd"]
    assert wd.same_family is False
    assert sites({"keel.sh/policy": "all"})["wd"].same_family is True


@pytest.mark.parametrize(
    ("annotations", "words"),
    [
        ({"keel.sh/policy": "minro"}, "'minro' is not a Keel policy"),
        ({"keel.sh/policy": "minor"}, "needs the running tag to be a version"),
        ({"keel.sh/policy": "all", "keel.sh/trigger": "pol"}, "keel.sh/trigger"),
        ({"keel.sh/policy": "all", "keel.sh/approvals": "1"}, "is not a string"),
    ],
)
def test_what_keel_would_refuse_is_an_error_naming_the_key(annotations, words):
    wd = sites(annotations, image="repo/app:stable")["wd"]
    assert words in wd.error
    assert not wd.updatable


def test_imagebot_annotations_win_over_keel():
    wd = sites(
        {
            "keel.sh/policy": "major",
            "imagebot.io/automated": '"true"',
            "imagebot.io/tag.wd": "semver:~0.1",
        }
    )["wd"]
    assert (wd.policy, wd.source) == ("semver:~0.1", "annotation:imagebot.io")
    off = sites({"keel.sh/policy": "major", "imagebot.io/automated": '"false"'})["wd"]
    assert not off.automated


# --- Keel's rule, as a specification ------------------------------------------------------

versions = st.tuples(*(st.integers(0, 4),) * 3)


def keel_should_update(policy: str, current: tuple[int, ...], new: tuple[int, ...]) -> bool:
    """Keel's semver rule for release versions: higher, and within the policy's bounds."""
    if new <= current:
        return False
    if policy == "minor":
        return new[0] == current[0]
    if policy == "patch":
        return new[:2] == current[:2]
    return True


@settings(max_examples=300, deadline=None)
@given(
    policy=st.sampled_from(["all", "major", "minor", "patch"]),
    current=versions,
    tags=st.lists(versions, max_size=12),
    v_prefix=st.booleans(),
)
def test_the_translated_policy_picks_the_highest_tag_keel_would_update_to(
    policy, current, tags, v_prefix
):
    def text(v: tuple[int, ...]) -> str:
        return ("v" if v_prefix else "") + ".".join(map(str, v))

    keel = keel_policy({"keel.sh/policy": policy}, {}, "app", text(current))
    assert keel.errors == []
    decision = decide(
        parse_policy(keel.policy),
        [Candidate(text(t)) for t in [*tags, current]],
        text(current),
    )
    wanted = [t for t in tags if keel_should_update(policy, current, t)]
    assert decision.tag == (text(max(wanted)) if wanted else text(current))
