"""Shell-style globs over whole tags, as Flux v1's ``glob:`` patterns.

``*`` matches any run of characters (also none), ``?`` exactly one, ``[abc]``, ``[a-z]`` one
of a set, ``[!abc]`` or ``[^abc]`` one outside it; ``\\`` makes the next character literal.
Matching is case-sensitive and anchored at both ends: ``glob:1.2.*`` matches ``1.2.3`` but
not ``v1.2.3``.
"""

from __future__ import annotations

import re

from imagebot.errors import PolicyError

_META = frozenset("*?[\\")


def is_literal(pattern: str) -> bool:
    """True when *pattern* has no wildcard: it names exactly one tag."""
    return not (_META & set(pattern))


def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regex equivalent of *pattern*; raise :class:`PolicyError` if it is malformed."""
    if not pattern:
        raise PolicyError("empty glob pattern: write 'glob:*' to match every tag")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i + 1 == len(pattern):
                raise PolicyError(f"glob {pattern!r} ends with a lone backslash")
            out.append(re.escape(pattern[i + 1]))
            i += 1
        elif ch == "[":
            start = i + 1
            if pattern[start : start + 1] in ("!", "^"):
                start += 1
            if pattern[start : start + 1] == "]":
                start += 1  # a ']' first in the set is a member, as in the shell
            end = pattern.find("]", start)
            if end < 0:
                raise PolicyError(f"glob {pattern!r} has a '[' without its closing ']'")
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            body = body.replace("]", "\\]")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise PolicyError(f"invalid glob {pattern!r}: {exc}") from None
