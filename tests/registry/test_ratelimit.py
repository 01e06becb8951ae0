"""Per-host concurrency caps and request rates, on virtual time."""

from __future__ import annotations

import asyncio

from imagebot.reference import ImageReference
from imagebot.registry import Limiters, Scanner
from imagebot.registry.ratelimit import HostLimiter
from tests.harness import Fault, FaultProxy
from tests.registry.helpers import FakeTime, make_config, run


def test_rate_limit_spaces_request_starts():
    time = FakeTime()
    limiter = HostLimiter(2.0, 10, clock=time.clock, sleep=time.sleep)
    starts = []

    async def one():
        async with limiter.slot():
            starts.append(time.now)

    async def go():
        await asyncio.gather(*(one() for _ in range(7)))

    run(go())
    elapsed = max(starts) - min(starts)
    # a bucket of 2 (one second's worth) then one every half second
    assert 2.4 <= elapsed <= 2.6


def test_concurrency_cap_holds_requests_in_flight():
    limiter = HostLimiter(1000.0, 3)
    in_flight, peak = 0, 0

    async def one():
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    async def go():
        await asyncio.gather(*(one() for _ in range(12)))

    run(go())
    assert peak == 3


def test_defaults_are_conservative_for_docker_hub():
    limiters = Limiters(make_config())
    assert limiters.limits("registry-1.docker.io") == (2.0, 4)
    assert limiters.limits("ghcr.io") == (10.0, 4)
    configured = Limiters(make_config({"ghcr.io": {"rate_limit": 25, "max_concurrency": 2}}))
    assert configured.limits("ghcr.io") == (25, 2)


def test_a_scan_respects_the_hosts_concurrency_cap(registry, new_client):
    names = [f"t/cap-{i}" for i in range(6)]
    for name in names:
        registry.push(name, ["1"])
    with FaultProxy(registry.host) as slow:
        for _ in names:
            slow.inject(r"/tags/list", Fault(delay=0.15))

        async def go():
            config = make_config({slow.host: {"rate_limit": 1000, "max_concurrency": 2}})
            async with new_client(config) as client:
                await Scanner(client).scan(
                    [ImageReference.parse(f"{slow.host}/{n}") for n in names]
                )

        run(go())
        starts = sorted(s.at for s in slow.requests_to("/tags/list"))
    # with two in flight, the 3rd request waits for the 1st to finish
    assert starts[2] - starts[0] >= 0.14
    assert starts[1] - starts[0] < 0.1


def test_only_requests_that_had_to_sleep_report_a_wait():
    time = FakeTime()
    waits: list[float] = []
    limiter = HostLimiter(2.0, 10, clock=time.clock, sleep=time.sleep, on_wait=waits.append)

    async def one():
        async with limiter.slot():
            pass

    async def go():
        await asyncio.gather(*(one() for _ in range(4)))

    run(go())
    # two tokens in the bucket: the first two go at once, only the next two wait
    assert len(waits) == 2
    assert all(w >= 0.5 for w in waits)


def test_a_registry_on_loopback_or_a_private_network_is_not_throttled():
    limiters = Limiters(make_config())
    for host in (
        "127.0.0.1:5000",
        "localhost:5000",
        "[::1]:5000",
        "10.1.2.3",
        "192.168.1.20:5000",
        "registry:5000",
        "registry.infra.svc.cluster.local:5000",
        "harbor.corp.internal",
        "[fd00::1]:443",
    ):
        assert limiters.limits(host) == (None, 8), host


def test_a_registry_the_config_names_is_not_throttled_unless_it_says_so():
    limiters = Limiters(make_config({"registry.example.com": {"insecure": True}}))
    assert limiters.limits("registry.example.com") == (None, 4)
    assert limiters.limits("other.example.com") == (10.0, 4)


def test_docker_hub_stays_conservative_even_when_configured():
    limiters = Limiters(make_config({"docker.io": {"username": "u", "password": "p"}}))
    assert limiters.limits("registry-1.docker.io") == (2.0, 4)


def test_a_public_name_is_not_taken_for_a_private_one():
    limiters = Limiters(make_config())
    for host in ("ghcr.io", "quay.io", "8.8.8.8", "registry.gitlab.com", "local.example.com"):
        assert limiters.limits(host)[0] == 10.0, host


def test_without_a_rate_cap_requests_start_at_once_but_a_429_still_pauses_them():
    time = FakeTime()
    limiter = HostLimiter(None, 10, clock=time.clock, sleep=time.sleep)
    starts = []

    async def one():
        async with limiter.slot():
            starts.append(time.now)

    async def go():
        await asyncio.gather(*(one() for _ in range(7)))
        limiter.pause(3.0)
        await one()

    run(go())
    assert max(starts[:7]) == min(starts[:7])
    assert starts[7] - starts[6] >= 3.0


def test_a_rate_shared_with_other_replicas_waits_what_the_shared_bucket_says():
    time = FakeTime()
    asked: list[tuple[float, float]] = []
    waits: list[float] = []
    answers = iter([0.0, 0.0, 0.75])

    def shared(rate: float, burst: float) -> float:
        asked.append((rate, burst))
        return next(answers)

    limiter = HostLimiter(
        2.0, 10, clock=time.clock, sleep=time.sleep, on_wait=waits.append, shared=shared
    )
    starts = []

    async def one():
        async with limiter.slot():
            starts.append(time.now)

    async def go():
        for _ in range(3):
            await one()

    run(go())
    # the local bucket would let all three go at once (two tokens, then half a second);
    # the shared one says the third waits 0.75s
    assert asked == [(2.0, 2.0)] * 3
    assert starts[2] - starts[0] == 0.75
    assert waits == [0.75]


def test_limiters_share_the_rate_only_of_hosts_with_a_rate_cap():
    calls: list[str] = []

    def shared(host: str, rate: float, burst: float) -> float:
        calls.append(host)
        return 0.0

    limiters = Limiters(make_config(), shared=shared)

    async def go():
        for host in ("ghcr.io", "127.0.0.1:5000"):
            async with limiters.for_host(host).slot():
                pass

    run(go())
    assert calls == ["ghcr.io"]
