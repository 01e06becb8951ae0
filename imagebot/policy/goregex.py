"""Go (RE2) regular expressions and ``Regexp.Expand`` templates, in Python.

Flux v1 and v2 and Argo CD Image Updater are written in Go, so users copy Go regexes and
Flux's ``extract`` templates into their policies. Python's ``re`` reads nearly all of RE2;
the few spellings it lacks are translated (``(?<name>...)``, ``\\z``, ``[[:alpha:]]``) and
the ones it cannot express are refused with a clear error. Expansion copies Go exactly:
``$name`` takes the longest run of letters, digits and ``_`` (so ``$1x`` names group ``1x``;
write ``${1}x``), ``$$`` is a ``$``, a malformed ``$`` stays literal, and a group that did
not take part in the match expands to nothing. Unlike Go, a template that names a group the
regex does not have is an error here rather than a silent empty string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imagebot.errors import PolicyError

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX_RE = re.compile(r"\[:(\^?)([a-z]+):\]")


def translate(pattern: str) -> str:
    """Rewrite the RE2 spellings Python lacks; raise PolicyError for ones it cannot do."""
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt == "z" and not in_class:
                out.append(r"\Z")
            elif nxt in ("Q", "E"):
                raise PolicyError(
                    f"regex {pattern!r}: \\Q...\\E quoting is not supported; escape each "
                    "character instead"
                )
            elif nxt in ("p", "P"):
                raise PolicyError(
                    f"regex {pattern!r}: Unicode classes (\\p{{...}}) are not supported; tags "
                    "are ASCII, use a character class such as [A-Za-z]"
                )
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if in_class:
            posix = _POSIX_RE.match(pattern, i)
            if posix is not None:
                negated, name = posix.groups()
                if name not in _POSIX_CLASSES or negated:
                    raise PolicyError(f"regex {pattern!r}: unsupported class [:{negated}{name}:]")
                out.append(_POSIX_CLASSES[name])
                i = posix.end()
                continue
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":
                out.append(r"\]")
                i += 1
            continue
        if pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 3
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def compile_go(pattern: str, what: str = "regex") -> re.Pattern[str]:
    """Compile a Go-syntax regex; raise :class:`PolicyError` naming the problem."""
    try:
        return re.compile(translate(pattern))
    except re.error as exc:
        raise PolicyError(f"invalid {what} {pattern!r}: {exc}") from None


@dataclass(frozen=True)
class _Ref:
    name: str
    number: int  # -1 when the reference is by name


def _read_name(template: str, i: int) -> tuple[_Ref, int] | None:
    """Go's ``extract``: the reference after a ``$`` at *i*, and where the text goes on."""
    brace = template.startswith("{", i)
    start = i + 1 if brace else i
    end = start
    while end < len(template) and (template[end].isalnum() or template[end] == "_"):
        end += 1
    if end == start:
        return None
    name = template[start:end]
    if brace:
        if end >= len(template) or template[end] != "}":
            return None
        end += 1
    number = -1
    if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
        number = int(name) if len(name) <= 8 else -1
    return _Ref(name, number), end


def _parse_template(template: str) -> list[str | _Ref]:
    parts: list[str | _Ref] = []
    literal: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "$":
            literal.append(ch)
            i += 1
            continue
        if template.startswith("$", i + 1):
            literal.append("$")
            i += 2
            continue
        found = _read_name(template, i + 1)
        if found is None:
            literal.append("$")
            i += 1
            continue
        ref, i = found
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(ref)
    if literal:
        parts.append("".join(literal))
    return parts


@dataclass(frozen=True)
class Template:
    """A Flux ``extract`` template bound to the regex whose groups it names."""

    text: str
    parts: tuple[str | _Ref, ...]

    @classmethod
    def compile(cls, text: str, regex: re.Pattern[str]) -> Template:
        parts = tuple(_parse_template(text))
        for part in parts:
            if not isinstance(part, _Ref):
                continue
            if part.number >= 0 and part.number > regex.groups:
                raise PolicyError(
                    f"extract {text!r} refers to group ${part.number} but the filter "
                    f"{regex.pattern!r} has {regex.groups} group(s)"
                )
            if part.number < 0 and part.name not in regex.groupindex:
                hint = ""
                digits = re.match(r"[0-9]+", part.name)
                if digits:
                    rest = part.name[len(digits[0]) :]
                    hint = f" (Go reads '${part.name}' as one name; write '${{{digits[0]}}}{rest}')"
                raise PolicyError(
                    f"extract {text!r} refers to group {part.name!r}, which the filter "
                    f"{regex.pattern!r} does not define{hint}"
                )
        return cls(text, parts)

    def expand(self, match: re.Match[str]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                key: int | str = part.number if part.number >= 0 else part.name
                out.append(match.group(key) or "")
        return "".join(out)
