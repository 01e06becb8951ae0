"""Keel's workload annotations (and labels), read as imagebot policies.

Keel reads ``keel.sh/policy`` from a workload's annotations, else from its labels, and
decides tag by tag whether a new one is an update of the one running. imagebot turns that
into the policy that picks the same tag, written against the tag in the file::

    keel.sh/policy: all          semver:*
    keel.sh/policy: major        semver:>=1.4.2            (running 1.4.2 or v1.4.2)
    keel.sh/policy: minor        semver:^1.4.2             (0.x: semver:>=0.4.2, <1.0.0-0)
    keel.sh/policy: patch        semver:>=1.4.2, <1.5.0-0
    keel.sh/policy: force        glob:<running tag>        (with or without keel.sh/match-tag)
    keel.sh/policy: glob:v1.*    glob:v1.*
    keel.sh/policy: regexp:^v1   regex:^v1
    keel.sh/policy: never        not automated

A running ``latest`` (or no tag) takes any version for all/major/minor/patch, as in Keel.
``keel.sh/matchPreRelease: "false"`` turns off the family rule, which otherwise keeps a
workload on ``1.4.2-alpine`` among ``-alpine`` tags as Keel's prerelease match does.

The others: ``keel.sh/trigger`` (``poll``, or Keel's default of webhooks, which imagebot's
receivers take: imagebot polls either way), ``keel.sh/pollSchedule`` (``@every <Go duration>``
and the ``@hourly``-style names) is the image's polling interval unless imagebot's config
sets one, ``keel.sh/approvals: "1"`` holds updates for approval like
``imagebot.io/approve.<container>``, ``keel.sh/monitorContainers`` (a regex over container
names) and ``keel.sh/initContainers`` (init containers are left alone unless ``"true"``)
choose the containers, as in Keel. Anything Keel would refuse is an error naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from imagebot.errors import PolicyError
from imagebot.manifests.goduration import parse_go_duration
from imagebot.policy.goregex import compile_go

KEEL = "keel.sh/"
_LEGACY_POLICY = "keel.observer/policy"
_VERSION = re.compile(
    r"v?(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?",
    re.ASCII,
)
_NAMED_SCHEDULES = {
    "@yearly": 365 * 86400.0,
    "@annually": 365 * 86400.0,
    "@monthly": 30 * 86400.0,
    "@weekly": 7 * 86400.0,
    "@daily": 86400.0,
    "@midnight": 86400.0,
    "@hourly": 3600.0,
}
_TRIGGERS = ("poll", "default")
#: Keel's own default polling schedule.
DEFAULT_SCHEDULE = "@every 1m"


@dataclass
class KeelPolicy:
    """What Keel's keys say about one container; ``policy`` None: not automated."""

    policy: str | None = None
    automated: bool = False
    same_family: bool = True
    approve: bool = False
    interval: float | None = None
    watched: bool = True  # False: monitorContainers / initContainers leave it to the user
    trigger: str = "default"
    #: The workload names a Keel policy (``never`` included).
    named: bool = False
    errors: list[str] = field(default_factory=list)


def has_keel(annotations: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """True when the workload names a Keel policy (annotation or label)."""
    return any(k in m for m in (annotations, labels) for k in (KEEL + "policy", _LEGACY_POLICY))


def keel_policy(
    annotations: Mapping[str, str],
    labels: Mapping[str, str],
    container: str,
    tag: str | None,
    *,
    init: bool = False,
) -> KeelPolicy:
    """The policy Keel's keys give *container*, running *tag* (None: no tag, Keel's latest)."""
    result = KeelPolicy()
    # Keel takes the policy and its match-tag from the annotations, else from the labels.
    source = annotations if _policy_in(annotations) else labels
    text = _policy_in(source) or ""
    name = text.strip()

    def value(key: str) -> str | None:
        return annotations.get(key, labels.get(key))

    def named(key: str) -> str:
        """``annotation keel.sh/x`` or ``label keel.sh/x``: where the value was read."""
        return f"{'annotation' if key in annotations else 'label'} {key}"

    match_pre = value(KEEL + "matchPreRelease")
    if match_pre is not None and match_pre not in ("true", "false"):
        result.errors.append(f'{named(KEEL + "matchPreRelease")}: expected "true" or "false"')
    result.same_family = match_pre != "false"
    trigger = value(KEEL + "trigger")
    if trigger is not None:
        if trigger.strip() not in _TRIGGERS:
            result.errors.append(
                f"{named(KEEL + 'trigger')}: {trigger!r} is not a Keel trigger (poll or default)"
            )
        else:
            result.trigger = trigger.strip()
    schedule = annotations.get(KEEL + "pollSchedule")
    if schedule is not None:
        try:
            result.interval = schedule_seconds(schedule)
        except ValueError as exc:
            result.errors.append(f"annotation {KEEL}pollSchedule: {exc}")
    approvals = value(KEEL + "approvals")
    if approvals is not None:
        if not approvals.strip().isdigit():
            result.errors.append(
                f"{named(KEEL + 'approvals')}: {approvals!r} is not a number of approvals"
            )
        else:
            result.approve = int(approvals) > 0
    monitored = value(KEEL + "monitorContainers")
    if monitored:
        try:
            result.watched = compile_go(monitored, "regex").search(container) is not None
        except PolicyError as exc:
            result.errors.append(f"{named(KEEL + 'monitorContainers')}: {exc}")
    if init and value(KEEL + "initContainers") != "true":
        result.watched = False
    result.named = _policy_in(source) is not None
    if name in ("", "never"):
        return result
    try:
        result.policy = _translate(name, tag)
    except ValueError as exc:
        key = KEEL + "policy" if KEEL + "policy" in source else _LEGACY_POLICY
        where = "annotation" if source is annotations else "label"
        result.errors.append(f"{where} {key}: {exc}")
        return result
    result.automated = result.watched
    if not result.watched:
        result.policy = None
    return result


def _policy_in(values: Mapping[str, str]) -> str | None:
    return values.get(KEEL + "policy", values.get(_LEGACY_POLICY))


def _translate(name: str, tag: str | None) -> str:
    if name.startswith("glob:"):
        return "glob:" + name[len("glob:") :]
    if name.startswith("regexp:"):
        return "regex:" + name[len("regexp:") :]
    if name == "force":
        # Keel redeploys the same tag when its image changes (match-tag) or takes any new
        # tag a webhook announces; polling, it follows the tag in use. In Git that is the
        # tag's digest, written when the image is pinned.
        return f"glob:{tag or 'latest'}"
    if name not in ("all", "major", "minor", "patch"):
        raise ValueError(
            f"{name!r} is not a Keel policy (all, major, minor, patch, force, glob:..., "
            "regexp:..., never)"
        )
    if name == "all" or tag in (None, "latest"):
        return "semver:*"
    found = _VERSION.fullmatch(tag)
    if found is None:
        raise ValueError(f"{name} needs the running tag to be a version, and {tag!r} is not")
    major = int(found["major"])
    minor = int(found["minor"] or 0)
    patch = int(found["patch"] or 0)
    current = f"{major}.{minor}.{patch}"
    if name == "major":
        return f"semver:>={current}"
    if name == "patch":  # explicit: Masterminds reads ~0.0.0 as any 0.x version
        return f"semver:>={current}, <{major}.{minor + 1}.0-0"
    if major == 0:  # Keel's minor keeps the major version, which ^0.x would not
        return f"semver:>={current}, <1.0.0-0"
    return f"semver:^{current}"


def schedule_seconds(text: str) -> float:
    """Seconds between polls for a Keel schedule: ``@every 5m`` or ``@hourly``...; cron
    expressions have no single interval and are refused with a hint."""
    body = text.strip()
    if body in _NAMED_SCHEDULES:
        return _NAMED_SCHEDULES[body]
    if body.startswith("@every "):
        seconds = parse_go_duration(body[len("@every ") :])
        if seconds < 1:
            raise ValueError(f"{text!r}: imagebot polls at most once a second")
        return seconds
    raise ValueError(
        f"{text!r}: imagebot reads @every <duration> and @hourly/@daily/@weekly/@monthly, "
        "not cron expressions (write @every 10m for a schedule of that period)"
    )


__all__ = ["DEFAULT_SCHEDULE", "KEEL", "KeelPolicy", "has_keel", "keel_policy", "schedule_seconds"]
