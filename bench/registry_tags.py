"""Tag lists of many repositories: imagebot's Scanner against a minimal httpx loop.

Both fetch the same lists from the same real registry in the same run. The floor is the
least a client can do: one concurrent GET per repository with the same concurrency and no
auth, retries, limits or validation. The ratios say what imagebot's care costs in wall time
and in requests (1.0 requests means not one request more than the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import Row, peak_rss_mb
from imagebot.config import parse_config
from imagebot.reference import ImageReference
from imagebot.registry import RegistryClient, Scanner, TagList

CONCURRENCY = 8


@dataclass(frozen=True)
class Result:
    repositories: int
    scanner_seconds: float
    floor_seconds: float
    scanner_requests: int
    floor_requests: int

    @property
    def time_ratio(self) -> float:
        return self.scanner_seconds / self.floor_seconds

    @property
    def request_ratio(self) -> float:
        return self.scanner_requests / self.floor_requests

    def report(self) -> str:
        scanner_ms, floor_ms = self.scanner_seconds * 1000, self.floor_seconds * 1000
        return (
            f"{self.repositories} repositories\n"
            f"  scanner: {scanner_ms:8.1f} ms  {self.scanner_requests:5d} requests\n"
            f"  floor:   {floor_ms:8.1f} ms  {self.floor_requests:5d} requests\n"
            f"  ratio:   {self.time_ratio:8.2f} x time  {self.request_ratio:5.2f} x requests"
        )


def _push_all(registry, names: list[str], tags: int) -> None:
    tag_names = [f"1.{i}.0" for i in range(tags)]
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(registry.push, name, tag_names) for name in names]:
            future.result()


async def _scanner(
    host: str, names: list[str], defaults: bool = False
) -> tuple[float, int, dict[str, list[str]]]:
    """The scanner with this host's limits set to the floor's concurrency, or (*defaults*)
    with the config a user starts with: nothing said about the registry."""
    config = parse_config(
        "tag_cache_ttl: 0\n"
        if defaults
        else f"tag_cache_ttl: 0\nregistries: {{'{host}': "
        f"{{rate_limit: 100000, max_concurrency: {CONCURRENCY}}}}}\n"
    )
    images = [ImageReference.parse(f"{host}/{name}") for name in names]
    start = time.perf_counter()
    async with RegistryClient(config) as client:
        results = await Scanner(client).scan(images)
        elapsed = time.perf_counter() - start
        requests = sum(client.requests.values())
    lists = {}
    for key, value in results.items():
        if not isinstance(value, TagList):
            raise RuntimeError(f"scanner failed: {value}")
        lists[key.split("/", 1)[1]] = sorted(value.tags)
    return elapsed, requests, lists


async def _floor(host: str, names: list[str]) -> tuple[float, int, dict[str, list[str]]]:
    limit = asyncio.Semaphore(CONCURRENCY)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=f"http://{host}") as client:

        async def one(name: str) -> tuple[str, list[str]]:
            async with limit:
                response = await client.get(f"/v2/{name}/tags/list")
                response.raise_for_status()
                return name, sorted(response.json()["tags"])

        pairs = await asyncio.gather(*(one(name) for name in names))
    return time.perf_counter() - start, len(names), dict(pairs)


def measure(
    repositories: int = 200, tags: int = 10, rounds: int = 3, *, defaults: bool = False
) -> Result:
    """Start a registry, push, then time both clients *rounds* times (median wins); with
    *defaults* the scanner runs on the default configuration."""
    from tests.harness import start_registry

    with (
        tempfile.TemporaryDirectory(prefix="imagebot-bench-") as tmp,
        start_registry(Path(tmp) / "registry") as registry,
    ):
        names = [f"bench/repo-{i:04d}" for i in range(repositories)]
        _push_all(registry, names, tags)
        scanner_times, floor_times = [], []
        scanner_requests = floor_requests = 0
        for _ in range(rounds):
            s_time, scanner_requests, s_lists = asyncio.run(
                _scanner(registry.host, names, defaults)
            )
            f_time, floor_requests, f_lists = asyncio.run(_floor(registry.host, names))
            if s_lists != f_lists:
                raise RuntimeError("the scanner and the floor saw different tag lists")
            scanner_times.append(s_time)
            floor_times.append(f_time)
    return Result(
        repositories,
        statistics.median(scanner_times),
        statistics.median(floor_times),
        scanner_requests,
        floor_requests,
    )


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench registry_tags")
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 repositories, 1 round")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.repos, args.rounds = 5, 1
    return args


def rows(argv: list[str]) -> list[Row]:
    """Tag lists from a loopback registry with its limits configured, and with the default
    configuration (where a loopback registry must not be throttled)."""
    args = _options(argv)
    out = []
    for defaults in (False, True):
        result = measure(args.repos, args.tags, args.rounds, defaults=defaults)
        out.append(
            Row(
                "registry: tag lists" + (", default config" if defaults else ""),
                f"{result.repositories} repos",
                result.scanner_seconds,
                result.floor_seconds,
                None,
                peak_rss_mb(),
                note=f"{result.request_ratio:.2f}x the floor's requests; loopback registry",
            )
        )
    return out


def main(argv: list[str]) -> int:
    args = _options(argv)
    print(measure(args.repos, args.tags, args.rounds).report())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
