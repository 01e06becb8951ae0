"""Which URL answers for a registry: Docker Hub, loopback, insecure hosts and mirrors."""

from __future__ import annotations

import httpx
import pytest

from imagebot.reference import ImageReference
from imagebot.registry.endpoints import is_loopback, resolve_endpoint
from tests.harness import LoopbackProxy
from tests.registry.helpers import FAST, make_config, run


def test_docker_hub_is_served_by_registry_1_over_https():
    endpoint = resolve_endpoint(make_config(), "docker.io")
    image = ImageReference.parse("alpine")
    assert (
        endpoint.url(image.path, "tags/list")
        == "https://registry-1.docker.io/v2/library/alpine/tags/list"
    )
    assert endpoint.verify


@pytest.mark.parametrize(
    "host", ["localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "localhost"]
)
def test_loopback_hosts_use_plain_http(host):
    assert is_loopback(host)
    assert resolve_endpoint(make_config(), host).scheme == "http"


@pytest.mark.parametrize("host", ["registry.example.com", "10.0.0.1:5000", "localhost.example.com"])
def test_other_hosts_use_https(host):
    assert not is_loopback(host)
    endpoint = resolve_endpoint(make_config(), host)
    assert (endpoint.scheme, endpoint.verify, endpoint.http_fallback) == ("https", True, False)


def test_insecure_hosts_skip_tls_verification_and_may_fall_back_to_http():
    endpoint = resolve_endpoint(make_config({"registry.lan": {"insecure": True}}), "registry.lan")
    assert (endpoint.scheme, endpoint.verify, endpoint.http_fallback) == ("https", False, True)


def test_mirror_answers_for_the_registry_with_its_prefix():
    config = make_config({"docker.io": {"mirror": "https://harbor.example.com/dockerhub-proxy/"}})
    endpoint = resolve_endpoint(config, "docker.io")
    assert endpoint.host == "harbor.example.com"
    assert (
        endpoint.url("library/alpine", "tags/list")
        == "https://harbor.example.com/v2/dockerhub-proxy/library/alpine/tags/list"
    )


def test_mirror_serves_docker_hub_images_end_to_end(registry, new_client):
    registry.push("library/mirrored", ["1.0", "1.1"])
    with LoopbackProxy(registry.host) as mirror:

        async def go():
            config = make_config({"docker.io": {"mirror": mirror.url, **FAST}})
            async with new_client(config) as client:
                return await client.list_tags(ImageReference.parse("mirrored")), client

        tags, client = run(go())
        assert tags.tags == ["1.0", "1.1"]
        assert tags.repository == "docker.io/library/mirrored"
        assert set(client.requests) == {mirror.host}
        assert mirror.requests_to("/v2/library/mirrored/tags/list")


def test_limits_apply_to_the_mirror_that_is_contacted():
    config = make_config(
        {
            "docker.io": {
                "mirror": "https://mirror.example.com",
                "rate_limit": 50,
                "max_concurrency": 9,
            }
        }
    )
    from imagebot.registry import Limiters

    limiters = Limiters(config)
    assert limiters.limits("mirror.example.com") == (50, 9)
    assert limiters.limits("registry-1.docker.io") == (50, 9)


class RewriteHost(httpx.AsyncBaseTransport):
    """Sends requests for a made-up non-loopback host to the local registry instead."""

    def __init__(self, fake: str, real: str) -> None:
        self.fake, self.real = fake, real
        self.inner = httpx.AsyncHTTPTransport()
        self.schemes: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.schemes.append(request.url.scheme)
        if request.url.host == self.fake:
            host, port = self.real.split(":")
            request.url = request.url.copy_with(host=host, port=int(port))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_insecure_registry_without_tls_falls_back_to_plain_http(registry, new_client):
    registry.push("t/insecure", ["1"])
    transport = RewriteHost("registry.insecure.test", registry.host)

    async def go():
        config = make_config({"registry.insecure.test:443": {"insecure": True, **FAST}})
        async with new_client(config, transport=transport) as client:
            image = ImageReference.parse("registry.insecure.test:443/t/insecure")
            first = await client.list_tags(image)
            second = await client.list_tags(image, fresh=True)
            return first, second

    first, second = run(go())
    assert first.tags == second.tags == ["1"]
    assert transport.schemes == ["https", "http", "http"]  # learnt once
