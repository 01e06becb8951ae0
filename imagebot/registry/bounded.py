"""One HTTP exchange with a registry, bounded in time and size; origins for credentials.

A registry is a server imagebot does not control. :func:`fetch` gives every request one
deadline for everything (connecting, the headers and the whole body), so a server that
trickles a byte a second or never ends its body fails at the deadline instead of resetting a
per-read timeout forever; and it reads at most ``cap`` bytes of body *after* decompression,
so neither a 200 MB answer nor a gzip bomb is ever held in memory. Only ``gzip`` and
``deflate`` are offered and decoded here, in bounded steps.

Credentials belong to an :func:`origin` (scheme, host, port): the client sends them only to
the origin of the endpoint they were issued for. A :class:`Breaker` remembers hosts whose
requests keep failing, so work queued for a stuck registry fails at once.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import httpx

#: What a registry may compress with; each is decoded in bounded steps by :func:`fetch`.
ACCEPT_ENCODING = "gzip, deflate"
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DeadlineExceeded(httpx.TimeoutException):
    """No complete answer (connection, headers and body) within the request's deadline."""


class TooLarge(Exception):
    """The answer's body is larger than the cap (declared or counted after decoding)."""

    def __init__(self, url: str, cap: int, seen: int, declared: bool) -> None:
        how = "declares" if declared else "sent more than"
        super().__init__(f"the answer from {url} {how} {seen:,} bytes, over the {cap:,}-byte cap")
        self.url = url
        self.cap = cap


class BadEncoding(Exception):
    """A compressed body that cannot be decoded, or an encoding that was not offered."""


Origin = tuple[str, str, int]


def origin(url: str) -> Origin:
    """``(scheme, host, port)`` of *url*, lower case, the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def show_origin(url: str) -> str:
    """*url*'s origin as ``scheme://host:port``, for messages."""
    scheme, host, port = origin(url)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


async def fetch(
    client: httpx.AsyncClient, request: httpx.Request, *, deadline: float, cap: int
) -> httpx.Response:
    """Send *request* and read its whole body within *deadline* seconds and *cap* bytes.

    Returns a response whose ``content`` is the decoded body (and whose headers no longer
    mention the encoding). Raises :class:`DeadlineExceeded` (an ``httpx.TimeoutException``,
    so callers retry it like any timeout), :class:`TooLarge` or :class:`BadEncoding`;
    transport errors pass through.
    """
    url = str(request.url)
    try:
        async with asyncio.timeout(deadline):
            response = await client.send(request, stream=True)
            try:
                body = await _read(response, url, cap)
            finally:
                await response.aclose()
    except TimeoutError:
        raise DeadlineExceeded(
            f"no complete answer within the {deadline:g}s deadline", request=request
        ) from None
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DROPPED_HEADERS]
    extensions: dict[str, object] = {
        key: response.extensions[key]
        for key in ("http_version", "reason_phrase")
        if key in response.extensions
    }
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=request,
        extensions=extensions,
    )


async def _read(response: httpx.Response, url: str, cap: int) -> bytes:
    declared = response.headers.get("content-length", "").strip()
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if declared.isdigit() and int(declared) > cap and encoding in ("", "identity"):
        raise TooLarge(url, cap, int(declared), declared=True)
    decoder = _decoder(encoding)
    chunks: list[bytes] = []
    size = 0

    def keep(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > cap:
            raise TooLarge(url, cap, size, declared=False)
        chunks.append(data)

    def inflate(step: Callable[[], bytes]) -> bytes:
        try:
            return step()
        except zlib.error as exc:
            raise BadEncoding(f"the {encoding} body from {url} is corrupt ({exc})") from None

    async for raw in response.aiter_raw():
        if decoder is None:
            keep(raw)
            continue
        data = raw
        while data:  # never more than the cap left, whatever the compression ratio
            keep(inflate(partial(decoder.decompress, data, cap + 1 - size)))
            data = decoder.unconsumed_tail
    if decoder is not None:
        keep(inflate(decoder.flush))
    return b"".join(chunks)


def _decoder(encoding: str) -> zlib._Decompress | None:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise BadEncoding(f"content encoding {encoding!r} was not offered ({ACCEPT_ENCODING})")


#: How long a host whose requests keep failing is left alone before it is tried again.
HOST_COOLDOWN = 60.0


class HostDown(Exception):
    """A request not sent: its host failed too many requests in a row just now."""


@dataclass
class _HostRecord:
    failures: int = 0
    last: str = ""
    open_until: float = 0.0


class Breaker:
    """Stops asking a host that keeps failing: after *threshold* transport failures in a row
    (deadlines, refused or dropped connections) every request to it fails at once with the
    last failure, for :data:`HOST_COOLDOWN` seconds; then one more try decides. Any answer
    at all (even an HTTP error) closes it again.

    Without it, requests queued behind a host's connection cap would each wait their own
    deadlines and retries: a stuck registry would cost its queue length times the deadline.
    """

    def __init__(self, clock: Callable[[], float], cooldown: float = HOST_COOLDOWN) -> None:
        self._clock = clock
        self._cooldown = cooldown
        self._hosts: dict[str, _HostRecord] = {}

    def check(self, host: str) -> None:
        record = self._hosts.get(host)
        if record is not None and record.open_until > self._clock():
            raise HostDown(
                f"not tried: {host} failed {record.failures} requests in a row "
                f"(last: {record.last}); it is left alone for {self._cooldown:g}s"
            )

    def failed(self, host: str, why: str, threshold: int) -> None:
        record = self._hosts.setdefault(host, _HostRecord())
        record.failures += 1
        record.last = why
        if record.failures >= threshold:
            record.open_until = self._clock() + self._cooldown

    def answered(self, host: str) -> None:
        self._hosts.pop(host, None)
