"""Hostile registries: what a bound costs, observed against the limit configured.

Each row is one hostile case against small fake registries on 127.0.0.1 (the test suite's
:mod:`tests.reliability.hostile`), with the configured limit as the floor: the ratio says how
close to its limit imagebot gave up (time) or how much memory it held (peak traced memory
against the size cap). ``python -m bench.hostile_registry`` prints the table; the README's
"Hardening: what was tried" quotes it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable

from bench.common import Row, table
from imagebot.config import DEFAULT_MAX_RESPONSE_SIZE, parse_config
from imagebot.reference import ImageReference
from imagebot.registry import RegistryClient, RetryPolicy, Scanner
from tests.reliability.hostile import Conn, HostileServer, trickle

MB = 1024 * 1024
NO_WAIT = RetryPolicy(base_delay=0.01, max_delay=0.05)


def _config(entries: dict[str, dict[str, object]]):
    return parse_config(json.dumps({"registries": entries}), file="bench.yaml")


def _scan(entries: dict[str, dict[str, object]], images: list[str]) -> dict[str, object]:
    async def go() -> dict[str, object]:
        async with RegistryClient(_config(entries), retry=NO_WAIT) as client:
            refs = [ImageReference.parse(i) for i in images]
            return dict(await Scanner(client).scan(refs))

    return asyncio.run(go())


def _trickling(conn: Conn) -> None:
    conn.head(200, {"Content-Type": "application/json", "Content-Length": "100000"})
    trickle(conn, b" " * 100000, every=0.05)


def _answering(conn: Conn) -> None:
    conn.reply(200, json.dumps({"tags": ["1.0", "2.0"]}).encode())


def _chunked_200_mb(conn: Conn) -> None:
    conn.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    chunk = b" " * 65536
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    for _ in range(200 * MB // len(chunk)):
        conn.send(frame)
    conn.send(b"0\r\n\r\n")


def _make_bomb(size: int) -> bytes:
    """*size* bytes of spaces, gzip-compressed a megabyte at a time (never all in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * MB
    parts = [compressor.compress(block) for _ in range(size // MB)]
    return b"".join([*parts, compressor.flush()])


_BOMB = _make_bomb(200 * MB)


def _gzip_bomb(conn: Conn) -> None:
    conn.reply(200, _BOMB, {"Content-Encoding": "gzip"})


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _traced_peak_mb(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


def rows(argv: list[str]) -> list[Row]:
    out: list[Row] = []
    for timeout, retries in ((2.0, 0), (1.0, 2)):
        with HostileServer(_trickling) as bad:
            entry = {"timeout": timeout, "retries": retries}
            images = [f"{bad.host}/team/app"]
            took = _timed(lambda e=entry, i=images: _scan({bad.host: e}, i))
        out.append(
            Row(
                f"trickling registry fails (timeout {timeout:g}s, retries {retries})",
                "1 byte / 50 ms",
                took,
                timeout * (retries + 1),
                None,
                unit="wall s",
                note="floor: (retries + 1) x timeout; a per-read timeout never fires",
            )
        )
    with HostileServer(_trickling) as bad, HostileServer(_answering) as good:
        entries = {bad.host: {"timeout": 1.0, "retries": 1}, good.host: {}}
        images = [f"{bad.host}/team/app-{i}" for i in range(20)]
        images += [f"{good.host}/team/app-{i}" for i in range(20)]
        took = _timed(lambda: _scan(entries, images))
    out.append(
        Row(
            "scan: 20 repos on a stuck registry + 20 on a good one",
            "40 repos",
            took,
            2.0,
            None,
            note="floor: (retries + 1) x timeout of the stuck one",
        )
    )
    cap_mb = DEFAULT_MAX_RESPONSE_SIZE / MB
    for name, script in (("200 MB answer, no length", _chunked_200_mb), ("gzip bomb", _gzip_bomb)):
        with HostileServer(script) as bad:
            peak = _traced_peak_mb(lambda: _scan({bad.host: {}}, [f"{bad.host}/team/app"]))
        size = (
            "200 MB chunked" if script is _chunked_200_mb else f"{len(_BOMB) // 1024} KB -> 200 MB"
        )
        out.append(
            Row(
                f"{name} (default cap)",
                size,
                peak,
                cap_mb,
                None,
                unit="peak MB",
                note="imagebot: peak traced Python memory (decoded body, then joined: up to "
                "2x); floor: max_response_size",
            )
        )
    return out


def main(argv: list[str]) -> int:
    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
