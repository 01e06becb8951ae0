"""429, 502-504 and timeouts: retried with back-off honouring Retry-After, then reported."""

from __future__ import annotations

import pytest

from imagebot.errors import RateLimited, Unreachable
from imagebot.reference import ImageReference
from imagebot.registry import RetryPolicy, Scanner
from imagebot.registry.client import parse_retry_after
from tests.harness import Fault, FaultProxy
from tests.registry.helpers import FAST, make_config, run


@pytest.fixture
def faults(registry):
    registry.push("t/faulty", ["1.0", "2.0"])
    with FaultProxy(registry.host) as proxy:
        yield proxy


def list_once(new_client, host, repo="t/faulty", **entry):
    async def go():
        async with new_client(make_config({host: {**FAST, **entry}})) as client:
            return await client.list_tags(ImageReference.parse(f"{host}/{repo}"))

    return run(go())


def test_429_is_retried_after_the_retry_after_delay(faults, new_client, fake_time):
    faults.inject(r"/tags/list", Fault(429, {"Retry-After": "7"}))
    assert list_once(new_client, faults.host).tags == ["1.0", "2.0"]
    assert len(faults.requests_to(r"/tags/list")) == 2
    assert 7 in fake_time.delays


def test_503_502_504_are_retried_with_exponential_backoff(faults, new_client, fake_time):
    faults.inject(r"/tags/list", Fault(503), Fault(502), Fault(504))
    assert list_once(new_client, faults.host).tags == ["1.0", "2.0"]
    assert len(faults.requests_to(r"/tags/list")) == 4
    # base 0.5s doubling, jitter fixed at the middle of [backoff/2, backoff]
    assert fake_time.delays == [0.375, 0.75, 1.5]


def test_timeouts_are_retried(faults, new_client):
    faults.inject(r"/tags/list", Fault(delay=0.6))
    assert list_once(new_client, faults.host, timeout=0.2).tags == ["1.0", "2.0"]
    assert len(faults.requests_to(r"/tags/list")) == 2


def test_dropped_connections_are_retried(faults, new_client):
    faults.inject(r"/tags/list", Fault(drop=True))
    assert list_once(new_client, faults.host).tags == ["1.0", "2.0"]


def test_a_registry_that_keeps_answering_503_is_unreachable(faults, new_client, fake_time):
    faults.always(r"/tags/list", Fault(503))
    with pytest.raises(Unreachable, match=r"HTTP 503 .*after 5 attempts") as caught:
        list_once(new_client, faults.host)
    assert caught.value.registry == faults.host
    assert caught.value.repository == "t/faulty"
    assert len(fake_time.delays) == 4


def test_a_registry_that_keeps_timing_out_is_unreachable(faults, new_client):
    faults.always(r"/tags/list", Fault(delay=0.4))
    with pytest.raises(Unreachable, match="timed out"):
        list_once(new_client, faults.host, timeout=0.1)


def test_a_registry_that_keeps_answering_429_is_rate_limited(faults, new_client):
    faults.always(r"/tags/list", Fault(429, {"Retry-After": "2"}))
    with pytest.raises(RateLimited, match=r"429.*after 5 attempts"):
        list_once(new_client, faults.host)


def test_a_retry_after_too_long_to_wait_is_not_waited_for(faults, new_client, fake_time):
    faults.inject(r"/tags/list", Fault(429, {"Retry-After": "3600"}))
    with pytest.raises(RateLimited, match="asks to wait 3600s"):
        list_once(new_client, faults.host)
    assert fake_time.delays == []


def test_a_429_pauses_every_request_to_that_host(faults, registry, new_client, fake_time):
    registry.push("t/faulty-two", ["1"])
    faults.inject(r"/t/faulty/tags/list", Fault(429, {"Retry-After": "30"}))

    async def go():
        config = make_config({faults.host: FAST})
        async with new_client(config) as client:
            await client.list_tags(ImageReference.parse(f"{faults.host}/t/faulty"))
            start = fake_time.now
            await client.list_tags(ImageReference.parse(f"{faults.host}/t/faulty-two"))
            return start

    start = run(go())
    assert start >= 1000 + 30  # the whole host waited, not just the one request


def test_retry_after_as_http_date():
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=1767225600.0) == 60.0
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("soon") is None


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(base_delay=1, max_delay=8, random=lambda: 1.0)
    assert [policy.delay(a, None) for a in range(6)] == [1, 2, 4, 8, 8, 8]
    low = RetryPolicy(base_delay=1, max_delay=8, random=lambda: 0.0)
    assert [low.delay(a, None) for a in range(4)] == [0.5, 1, 2, 4]
    assert low.delay(0, 5.0) == 5.0


def test_a_failing_registry_is_skipped_while_others_carry_on(registry, new_client, fake_time):
    for name in ("t/down-a", "t/down-b", "t/down-c", "t/up"):
        registry.push(name, ["1"])
    with FaultProxy(registry.host) as down:
        down.always(r"/tags/list", Fault(503))
        images = [ImageReference.parse(f"{down.host}/t/down-{x}") for x in "abc"]
        images.append(ImageReference.parse(f"{registry.host}/t/up"))

        async def go():
            config = make_config({down.host: {**FAST, "max_concurrency": 1}, registry.host: FAST})
            async with new_client(config) as client:
                return await Scanner(client).scan(images)

        results = run(go())
        assert len(down.requests_to(r"/tags/list")) == 5  # one repository's retries, no more
    assert results[f"{registry.host}/t/up"].tags == ["1"]
    errors = [results[f"{down.host}/t/down-{x}"] for x in "abc"]
    assert all(isinstance(e, Unreachable) for e in errors)
    assert sum("skipped" in str(e) for e in errors) == 2
    assert all(e.registry == down.host for e in errors)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, int | str]] = []
        self.waits: list[tuple[str, float]] = []

    def registry_request(self, host: str, status: int | str) -> None:
        self.requests.append((host, status))

    def rate_limit_wait(self, host: str, seconds: float) -> None:
        self.waits.append((host, seconds))


def test_an_observer_sees_every_request_status_and_rate_limit_wait(faults, new_client):
    faults.inject(r"/tags/list", Fault(429, {"Retry-After": "7"}), Fault(drop=True))
    observer = Recorder()

    async def go():
        config = make_config({faults.host: FAST})
        async with new_client(config, observer=observer) as client:
            await client.list_tags(ImageReference.parse(f"{faults.host}/t/faulty"))

    run(go())
    assert observer.requests == [(faults.host, 429), (faults.host, "error"), (faults.host, 200)]
    assert (faults.host, 7) in observer.waits
