"""Per-host politeness: a concurrency cap, a token-bucket rate and a shared back-off.

Limits belong to the host actually contacted (a mirror when one is set), because that is
the server whose limits we must respect. One :class:`Limiters` is shared by every request of
a client; a long-running service may share one between clients too.

Defaults (a ``registries.<host>`` entry's ``rate_limit`` / ``max_concurrency`` override them):

=========================================  ===============  ==================
contacted host                             requests/second  requests in flight
=========================================  ===============  ==================
Docker Hub (it publishes pull limits)      2                4
another public host nobody configured      10               4
a host the config names (``registries:``)  no rate cap      4
on this machine or a private network       no rate cap      8
(:func:`is_near`)
=========================================  ===============  ==================

A 429 still pauses every request to its host, whatever the rate.

Replicas sharing a PostgreSQL store share the rate and the concurrency cap too: each
request reserves its start in the database (``shared``,
:meth:`imagebot.store.Store.reserve_request`), so the fleet as a whole keeps to the rate
(bursts of one second's worth), and holds one of the host's ``concurrency`` numbered slots
(``shared_slot``: :meth:`imagebot.store.Store.try_lock` on ``slot:<host>:<n>``) while it
runs. A 429's pause stays per process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from imagebot.config import Config
from imagebot.registry.endpoints import host_name

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

DOCKER_HUB_HOSTS = frozenset({"registry-1.docker.io", "docker.io", "index.docker.io"})
DOCKER_HUB_RATE = 2.0
#: Requests per second to a public registry nobody configured.
DEFAULT_RATE = 10.0
DEFAULT_CONCURRENCY = 4
#: Requests in flight to a registry on this machine or a private network.
NEAR_CONCURRENCY = 8
#: How often a request waiting for a slot other replicas hold looks again (seconds).
SLOT_POLL = 0.05
#: Name suffixes of hosts on private networks (RFC 6762, 8375; Kubernetes services).
_PRIVATE_SUFFIXES = (".local", ".localhost", ".internal", ".lan", ".home.arpa", ".svc")


def is_near(host: str) -> bool:
    """True for a registry on this machine or a private network: loopback, private,
    link-local or unique-local addresses, ``localhost``, a name without a dot (a Compose or
    cluster service) and the suffixes private networks use (``.local``, ``.internal``,
    ``.svc``, ``.svc.cluster.local`` ...). Names are not resolved: a public name stays
    public even when it points at a private address."""
    name = host_name(host).lower().rstrip(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name == "localhost" or "." not in name or name.endswith(_PRIVATE_SUFFIXES)
    return address.is_loopback or address.is_private or address.is_link_local


@dataclass
class HostLimiter:
    """At most ``concurrency`` requests in flight and ``rate`` request starts per second
    (``None``: no rate cap, only the concurrency and a 429's pause).

    The bucket holds at most one second's worth of tokens (at least one), so a burst after a
    quiet spell stays within the advertised rate.
    """

    rate: float | None
    concurrency: int
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    #: Called with the seconds a request waited for the rate or a pause (metrics).
    on_wait: Callable[[float], None] | None = None
    #: (rate, burst) -> seconds to wait: the rate shared with other processes, in place of
    #: this process's own bucket (blocking: run on a thread).
    shared: Callable[[float, float], float] | None = None
    #: slot number -> its release, or None when another process holds it: the concurrency
    #: cap shared with other processes (blocking: run on a thread).
    shared_slot: Callable[[int], Callable[[], None] | None] | None = None
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _paused_until: float = field(init=False, default=0.0)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._capacity = max(1.0, self.rate or 1.0)
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
                if self.rate is None:
                    break
                if self.shared is not None:
                    wait = await asyncio.to_thread(self.shared, self.rate, self._capacity)
                    if wait > 0:
                        slept = True
                        await self.sleep(wait)
                    break
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
            release = await self._shared_slot()
            try:
                await self._take_token()
                yield
            finally:
                if release is not None:
                    await asyncio.to_thread(release)

    async def _shared_slot(self) -> Callable[[], None] | None:
        """One of the host's slots no other process holds (waiting for one to free)."""
        if self.shared_slot is None:
            return None
        while True:
            for number in range(self.concurrency):
                release = await asyncio.to_thread(self.shared_slot, number)
                if release is not None:
                    return release
            await self.sleep(SLOT_POLL)


class Limiters:
    """One :class:`HostLimiter` per contacted host, with limits taken from the config."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        on_wait: Callable[[str, float], None] | None = None,
        shared: Callable[[str, float, float], float] | None = None,
        shared_lock: Callable[[str], Callable[[], None] | None] | None = None,
    ):
        self._config = config
        self._shared = shared
        self._shared_lock = shared_lock
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._hosts: dict[str, HostLimiter] = {}
        # Which configured registry a contacted host serves (the mirror's host -> its entry).
        self._owners: dict[str, str] = {}
        for name, entry in config.registries.items():
            if entry.mirror:
                self._owners.setdefault(urlsplit(entry.mirror).netloc, name)

    def limits(self, host: str) -> tuple[float | None, int]:
        """(requests per second or None for no rate cap, concurrency) for the contacted
        *host* (see the module's table)."""
        owner = self._config.registries.get(host)
        if owner is None and host in self._owners:
            owner = self._config.registries[self._owners[host]]
        if owner is None and host in DOCKER_HUB_HOSTS:
            owner = self._config.registries.get("docker.io")
        near = is_near(host)
        rate: float | None
        if owner is not None and owner.rate_limit:
            rate = owner.rate_limit
        elif host in DOCKER_HUB_HOSTS:
            rate = DOCKER_HUB_RATE
        elif owner is not None or near:
            rate = None
        else:
            rate = DEFAULT_RATE
        default_concurrency = NEAR_CONCURRENCY if near else DEFAULT_CONCURRENCY
        concurrency = (owner.max_concurrency if owner else None) or default_concurrency
        return rate, concurrency

    def for_host(self, host: str) -> HostLimiter:
        limiter = self._hosts.get(host)
        if limiter is None:
            rate, concurrency = self.limits(host)
            on_wait = self._on_wait
            shared = self._shared
            lock = self._shared_lock
            limiter = HostLimiter(
                rate,
                concurrency,
                clock=self._clock,
                sleep=self._sleep,
                on_wait=(lambda seconds: on_wait(host, seconds)) if on_wait else None,
                shared=(lambda rate, burst: shared(host, rate, burst)) if shared else None,
                shared_slot=(lambda n: lock(f"slot:{host}:{n}")) if lock else None,
            )
            self._hosts[host] = limiter
        return limiter
