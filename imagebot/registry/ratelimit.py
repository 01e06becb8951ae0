"""Per-host politeness: a concurrency cap, a token-bucket rate and a shared back-off.

Limits belong to the host actually contacted (a mirror when one is set), because that is
the server whose limits we must respect. One :class:`Limiters` is shared by every request of
a client; a long-running service may share one between clients too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from imagebot.config import Config

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

DOCKER_HUB_HOSTS = frozenset({"registry-1.docker.io", "docker.io", "index.docker.io"})
DOCKER_HUB_RATE = 2.0
DEFAULT_RATE = 10.0
DEFAULT_CONCURRENCY = 4


@dataclass
class HostLimiter:
    """At most ``concurrency`` requests in flight and ``rate`` request starts per second.

    The bucket holds at most one second's worth of tokens (at least one), so a burst after a
    quiet spell stays within the advertised rate.
    """

    rate: float
    concurrency: int
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    #: Called with the seconds a request waited for the rate or a pause (metrics).
    on_wait: Callable[[float], None] | None = None
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _paused_until: float = field(init=False, default=0.0)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._capacity = max(1.0, self.rate)
        self._tokens = self._capacity
        self._stamp = self.clock()
        self._slots = asyncio.Semaphore(self.concurrency)

    def pause(self, seconds: float) -> None:
        """Hold every request to this host for *seconds* (a 429's Retry-After)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def _take_token(self) -> None:
        started = self.clock()
        slept = False
        async with self._lock:
            while True:
                now = self.clock()
                if now < self._paused_until:
                    slept = True
                    await self.sleep(self._paused_until - now)
                    continue
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    break
                slept = True
                await self.sleep((1 - self._tokens) / self.rate)
        # Only a request that had to sleep (for the rate, or a 429's pause) reports a wait;
        # queueing behind the lock for a free token is not a rate-limit wait.
        if slept and self.on_wait is not None:
            self.on_wait(self.clock() - started)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one concurrency slot and one rate token for the duration of a request."""
        async with self._slots:
            await self._take_token()
            yield


class Limiters:
    """One :class:`HostLimiter` per contacted host, with limits taken from the config."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        on_wait: Callable[[str, float], None] | None = None,
    ):
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._hosts: dict[str, HostLimiter] = {}
        # Which configured registry a contacted host serves (the mirror's host -> its entry).
        self._owners: dict[str, str] = {}
        for name, entry in config.registries.items():
            if entry.mirror:
                self._owners.setdefault(urlsplit(entry.mirror).netloc, name)

    def limits(self, host: str) -> tuple[float, int]:
        """(requests per second, concurrency) for the contacted *host*."""
        owner = self._config.registries.get(host)
        if owner is None and host in self._owners:
            owner = self._config.registries[self._owners[host]]
        if owner is None and host in DOCKER_HUB_HOSTS:
            owner = self._config.registries.get("docker.io")
        default_rate = DOCKER_HUB_RATE if host in DOCKER_HUB_HOSTS else DEFAULT_RATE
        rate = (owner.rate_limit if owner else None) or default_rate
        concurrency = (owner.max_concurrency if owner else None) or DEFAULT_CONCURRENCY
        return rate, concurrency

    def for_host(self, host: str) -> HostLimiter:
        limiter = self._hosts.get(host)
        if limiter is None:
            rate, concurrency = self.limits(host)
            on_wait = self._on_wait
            limiter = HostLimiter(
                rate,
                concurrency,
                clock=self._clock,
                sleep=self._sleep,
                on_wait=(lambda seconds: on_wait(host, seconds)) if on_wait else None,
            )
            self._hosts[host] = limiter
        return limiter
