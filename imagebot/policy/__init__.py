"""Tag policies: which tag a workload should run (pure computation, no I/O).

``parse_policy(text, filter=..., extract=..., same_family=...)`` reads a policy string;
``decide(policy, candidates, current)`` picks a tag and explains itself. See
:mod:`imagebot.policy.engine` for the pipeline and :mod:`imagebot.policy.rules` for what
each policy kind means by "ranks above".
"""

from imagebot.policy.engine import (
    CATEGORIES,
    Candidate,
    Decision,
    Policy,
    Verdict,
    decide,
    parse_policy,
)

__all__ = [
    "CATEGORIES",
    "Candidate",
    "Decision",
    "Policy",
    "Verdict",
    "decide",
    "parse_policy",
]
