"""Text from remote servers, made safe to print and log: one line, no terminal escapes.

A registry's error message, a forge's API error and git's stderr (which relays whatever the
Git server's hooks print as ``remote: ...``) are written by someone else. Printed raw, an
ANSI sequence recolours or clears the terminal, a carriage return overwrites the line before
it, and a newline starts a line that looks like imagebot's own::

    >>> printable("denied\\x1b[2J\\r\\nUPDATE  app  1.0 -> 6.6.6")
    'denied\\\\x1b[2J\\\\r\\\\nUPDATE  app  1.0 -> 6.6.6'

Every such text goes through :func:`printable` where it enters imagebot (the registry
client, the forge clients, the git runner), so messages, logs and reports built from it are
safe wherever they end up. Control characters (C0, DEL, C1), Unicode format characters (the
bidirectional overrides that reorder what a terminal shows), line and paragraph separators
and lone surrogates are replaced by their Python escape; everything printable is kept. The
result never contains a control character, so applying it twice changes nothing.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest remote text kept in one message; a server's 10 MB error page is not a message.
DEFAULT_LIMIT = 1000

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Fast path: ASCII without controls needs no work.
_PLAIN_ASCII = re.compile(r"[\x20-\x7e]*")


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str, *, limit: int | None = DEFAULT_LIMIT) -> str:
    """*text* on one line with every control or format character escaped, cut to *limit*
    characters (before escaping) with ``...`` when longer."""
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    if not _PLAIN_ASCII.fullmatch(text):
        text = "".join(
            _escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text
        )
    return text + "..." if cut else text


def printable_bytes(data: bytes, *, limit: int | None = DEFAULT_LIMIT) -> str:
    """Remote bytes as :func:`printable` text (invalid UTF-8 shown as escapes)."""
    return printable(data.decode("utf-8", "backslashreplace"), limit=limit)
