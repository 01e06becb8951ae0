"""One place where policy strings found in manifests are checked by the policy engine."""

from __future__ import annotations

import functools

from imagebot.errors import PolicyError


@functools.lru_cache(maxsize=1024)
def check_policy(
    text: str, *, filter: str | None = None, extract: str | None = None, same_family: bool = True
) -> tuple[str, str | None]:
    """``(normalised policy text, error or None)``.

    The policy engine is the only judge of what a policy string means; manifests only read
    strings and report what it says about them. Remembered: a fleet repeats a few policies
    on thousands of workloads.
    """
    from imagebot.policy import parse_policy

    try:
        policy = parse_policy(text, filter=filter, extract=extract, same_family=same_family)
    except PolicyError as exc:
        return text.strip(), str(exc)
    return policy.text, None
