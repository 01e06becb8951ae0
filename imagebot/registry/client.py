"""The OCI distribution API v2 client: tag lists, digests and image metadata.

One :class:`RegistryClient` serves one scan. It is gentle by construction: every request
waits for a slot and a rate token of the host it goes to, transient failures (429, 502, 503,
504, timeouts) are retried with exponential back-off and jitter honouring ``Retry-After``,
and nothing is fetched twice that can be cached (tokens until they expire, tag lists for the
configured TTL, image metadata by digest forever).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from imagebot.config import Config
from imagebot.errors import (
    IncompleteTagList,
    MalformedAnswer,
    NotFound,
    RateLimited,
    RegistryError,
    Unauthorized,
    Unreachable,
)
from imagebot.reference import ImageReference, is_valid_digest, is_valid_tag, validate_tag
from imagebot.registry import auth, bounded
from imagebot.registry.bounded import origin, show_origin
from imagebot.registry.credentials import CredentialResolver, Credentials
from imagebot.registry.endpoints import Endpoint, is_loopback, resolve_endpoint
from imagebot.registry.metadata import describe_manifest, parse_config_blob
from imagebot.registry.models import MANIFEST_ACCEPT, OCI_INDEX, ImageInfo, TagList
from imagebot.registry.ratelimit import Limiters, Sleep
from imagebot.safetext import printable

if TYPE_CHECKING:
    from imagebot.store import CachedTags, Store

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_REDIRECTS = 5
#: How long a tag listing waits for another lister of the same repository (its own timeout
#: and retries bound that one) before listing anyway.
LISTING_WAIT = 120.0
USER_AGENT = "imagebot (+https://github.com/imagebot/imagebot)"
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


@dataclass
class RetryPolicy:
    """How hard to try: ``attempts`` retries after the first try, delays doubling from
    ``base_delay`` (half fixed, half random) up to ``max_delay``; a ``Retry-After`` longer than
    ``max_retry_after`` is not waited for. ``sleep`` is injectable so tests need not wait."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    sleep: Sleep = asyncio.sleep
    random: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        jittered = backoff / 2 + self.random() * backoff / 2
        return max(jittered, retry_after or 0.0)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def next_link(headers: list[str], current: str) -> str | None:
    """The absolute URL of ``rel="next"`` in ``Link`` headers, resolved against *current*."""
    for header in headers:
        for match in _LINK_RE.finditer(header):
            params = match.group(2)
            rel = re.search(r';\s*rel\s*=\s*"?([^";]+)"?', params, re.IGNORECASE)
            if rel and "next" in rel.group(1).lower().split():
                return urljoin(current, match.group(1).strip())
    return None


class RequestObserver(Protocol):
    """Told about every request and rate-limit wait; ``service.metrics.Metrics`` is one."""

    def registry_request(self, host: str, status: int | str) -> None: ...

    def rate_limit_wait(self, host: str, seconds: float) -> None: ...


@dataclass
class _HostAuth:
    """What a contacted host asked for on its last 401."""

    scheme: str  # "basic" or "bearer"
    realm: str | None = None
    service: str | None = None
    scopes: dict[str, str] = field(default_factory=dict)  # repository path -> scope


class RegistryClient:
    """Async OCI registry client; use ``async with RegistryClient(config) as client``."""

    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiters: Limiters | None = None,
        credentials: CredentialResolver | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        observer: RequestObserver | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.retry = retry or RetryPolicy()
        # Limiters wait on the same clock and sleep as retries, so tests can fake time.
        self.observer = observer
        self.limiters = limiters or Limiters(
            config,
            clock=clock,
            sleep=self.retry.sleep,
            on_wait=observer.rate_limit_wait if observer else None,
            shared=store.reserve_request if store is not None and store.shared else None,
            shared_lock=store.try_lock if store is not None and store.shared else None,
        )
        self.credentials = credentials or CredentialResolver(config)
        self.page_size = page_size
        self._transport = transport
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._tokens = auth.TokenCache(clock)
        self._breaker = bounded.Breaker(clock)
        self._token_locks: dict[tuple[str, str, str, str], asyncio.Lock] = {}
        self._host_auth: dict[str, _HostAuth] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._images: dict[str, ImageInfo] = {}
        #: Requests sent, by contacted host (redirect hops and token requests included).
        self.requests: Counter[str] = Counter()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # ----------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------

    def endpoint(self, registry: str) -> Endpoint:
        if registry not in self._endpoints:
            self._endpoints[registry] = resolve_endpoint(self.config, registry)
        return self._endpoints[registry]

    async def list_tags(self, image: ImageReference, *, fresh: bool = False) -> TagList:
        """Every valid tag of *image*'s repository; a cached list younger than the TTL is
        reused unless *fresh*. Raises a :class:`RegistryError`, never returns a partial list."""
        repository = image.repository
        ttl = float(self.config.tag_cache_ttl)
        if self.store is not None and not fresh and ttl > 0:
            cached = self.store.get_tags(repository, max_age=ttl)
            if cached is not None:
                return TagList(repository, cached.tags, cached.dropped, cached.fetched_at, True)
            # One lister per repository (fleet-wide on a shared store); the others wait
            # for its list in the cache.
            release, cached = await self._listing_lock(repository, ttl)
            if cached is not None:
                return TagList(repository, cached.tags, cached.dropped, cached.fetched_at, True)
            try:
                return await self._list_tags(image)
            finally:
                if release is not None:
                    release()
        return await self._list_tags(image)

    async def _listing_lock(
        self, repository: str, ttl: float
    ) -> tuple[Callable[[], None] | None, CachedTags | None]:
        """The listing lock of *repository*, or the list another lister cached meanwhile;
        neither after :data:`LISTING_WAIT` seconds (then list without the lock)."""
        assert self.store is not None
        deadline = time.monotonic() + LISTING_WAIT
        while True:
            release = self.store.try_lock(f"tags:{repository}")
            cached = self.store.get_tags(repository, max_age=ttl)
            if cached is not None:
                if release is not None:
                    release()
                return None, cached
            if release is not None or time.monotonic() > deadline:
                return release, None
            await asyncio.sleep(0.05)

    async def _list_tags(self, image: ImageReference) -> TagList:
        repository = image.repository
        endpoint = self.endpoint(image.domain)
        raw = await self._fetch_tag_pages(endpoint, image.path)
        tags, dropped = _clean_tags(raw)
        if dropped:
            shown = ", ".join(repr(t) for t in dropped[:5]) + (" ..." if len(dropped) > 5 else "")
            log.warning(
                "%s: ignoring %d tag(s) that break the OCI tag grammar: %s",
                repository,
                len(dropped),
                shown,
            )
        fetched_at = datetime.now(UTC)
        if self.store is not None:
            self.store.put_tags(repository, tags, dropped, fetched_at=fetched_at)
        return TagList(repository, tags, dropped, fetched_at, False)

    async def get_digest(self, image: ImageReference, tag: str) -> str:
        """The digest *tag* points at, from a ``HEAD`` (Docker Hub does not count it as a pull)."""
        validate_tag(tag)
        endpoint = self.endpoint(image.domain)
        url = endpoint.url(image.path, f"manifests/{tag}")
        what = f"tag {tag!r}"
        response = await self._call(endpoint, "HEAD", url, image.path, accept=MANIFEST_ACCEPT)
        if response.status_code == 405:  # a registry without HEAD support
            response = await self._call(endpoint, "GET", url, image.path, accept=MANIFEST_ACCEPT)
        self._check(response, endpoint, image.path, what)
        digest = response.headers.get("docker-content-digest", "")
        if is_valid_digest(digest):
            return digest
        if response.request.method == "HEAD":
            response = await self._call(endpoint, "GET", url, image.path, accept=MANIFEST_ACCEPT)
            self._check(response, endpoint, image.path, what)
        return "sha256:" + hashlib.sha256(response.content).hexdigest()

    async def image_info(self, image: ImageReference, tag: str, *, fresh: bool = True) -> ImageInfo:
        """Digest, media type, platforms and build time of *tag* (cached by digest forever).

        With ``fresh=False`` the digest the tag pointed at within ``digest_cache_ttl`` is
        reused: a scan that ranks 200 tags by build time then costs no request at all for
        the tags it has seen, instead of one ``HEAD`` per tag per cycle.
        """
        ttl = float(self.config.digest_cache_ttl)
        digest = None
        if not fresh and self.store is not None and ttl > 0:
            digest = self.store.get_tag_digest(image.repository, tag, max_age=ttl)
        if digest is None:
            digest = await self.get_digest(image, tag)
            if self.store is not None:
                self.store.put_tag_digest(image.repository, tag, digest)
        return await self.image_info_by_digest(image, digest)

    async def image_info_by_digest(self, image: ImageReference, digest: str) -> ImageInfo:
        cached = self._images.get(digest)
        if cached is None and self.store is not None:
            record = self.store.get_image(digest)
            if record is not None:
                cached = ImageInfo(
                    record.digest, record.media_type, record.platforms, record.created
                )
        if cached is not None:
            self._images[digest] = cached
            return cached
        endpoint = self.endpoint(image.domain)
        info = await self._describe(endpoint, image.path, digest)
        self._images[digest] = info
        if self.store is not None:
            self.store.put_image(info.digest, info.media_type, info.platforms, info.created)
        return info

    async def manifest(self, image: ImageReference, digest: str) -> tuple[str, dict[str, Any]]:
        """Media type and JSON body of the manifest *digest* (checked against its digest)."""
        endpoint = self.endpoint(image.domain)
        return await self._get_manifest(endpoint, image.path, digest)

    async def blob(self, image: ImageReference, digest: str) -> bytes:
        """The blob *digest* (checked against its digest; capped like every answer)."""
        endpoint = self.endpoint(image.domain)
        return await self._get_blob(endpoint, image.path, digest)

    async def referrers(
        self, image: ImageReference, digest: str, artifact_type: str
    ) -> list[dict[str, Any]] | None:
        """The OCI 1.1 referrers of *digest* of *artifact_type* (descriptors), or None when
        the registry has no referrers API (it answers 404 or 405 for it)."""
        endpoint = self.endpoint(image.domain)
        url = (
            endpoint.url(image.path, f"referrers/{digest}")
            + "?"
            + urlencode({"artifactType": artifact_type})
        )
        response = await self._call(endpoint, "GET", url, image.path, accept=OCI_INDEX)
        if response.status_code in (404, 405):
            return None
        self._check(response, endpoint, image.path, f"referrers of {digest}")
        body = _json(response, f"referrers of {digest}", endpoint, image.path)
        listed = body.get("manifests") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise MalformedAnswer(
                f"referrers of {digest} from {printable(str(response.url))} is no image index",
                registry=endpoint.registry,
                repository=image.path,
            )
        return [
            entry
            for entry in listed
            if isinstance(entry, dict) and entry.get("artifactType") == artifact_type
        ]

    # ----------------------------------------------------------------------------------
    # Tags
    # ----------------------------------------------------------------------------------

    async def _fetch_tag_pages(self, endpoint: Endpoint, path: str) -> list[str]:
        """Every page of the tag list, or an error: never a partial list.

        A ``next`` link is followed only on the endpoint's own origin (scheme, host, port):
        credentials never leave it, and a page fetched elsewhere without them could be a
        partial or forged list, so a link to another origin (or from https to http) fails
        the repository. ``max_pages`` and ``max_tags`` bound a list that never ends.
        """
        entry = endpoint.entry
        url: str | None = endpoint.url(path, "tags/list") + "?" + urlencode({"n": self.page_size})
        tags: list[str] = []
        seen: set[str] = set()
        pages = 0

        def incomplete(message: str) -> IncompleteTagList:
            return IncompleteTagList(message, registry=endpoint.registry, repository=path)

        while url is not None:
            if url in seen:
                raise incomplete(
                    f"tag list pagination loops back to {printable(url)} after {len(tags)} tags"
                )
            if pages >= entry.max_pages:
                raise incomplete(
                    f"tag list has more than max_pages={entry.max_pages} pages "
                    f"({len(tags)} tags so far); not used, since a partial list could pick "
                    "an older tag"
                )
            seen.add(url)
            try:
                response = await self._call(endpoint, "GET", url, path, accept="application/json")
                self._check(response, endpoint, path, "tag list")
                page = _tags_of(response, endpoint, path)
            except RegistryError as exc:
                if pages == 0 and not isinstance(exc, IncompleteTagList):
                    raise
                raise incomplete(
                    f"tag list could not be read to its end (page {pages + 1}, after "
                    f"{len(tags)} tags): {exc.reason}"
                ) from exc
            tags.extend(page)
            pages += 1
            if len(tags) > entry.max_tags:
                raise incomplete(
                    f"tag list has more than max_tags={entry.max_tags} tags (page {pages}); "
                    "not used, since a partial list could pick an older tag"
                )
            # A short page is not the end: only the absence of a next link is.
            url = next_link(response.headers.get_list("link"), str(response.url))
            if url is not None:
                home = self.endpoint(endpoint.registry).base  # after any fallback to http
                if origin(url) != origin(home):
                    raise incomplete(
                        f"tag list page {pages} links its next page to "
                        f"{printable(show_origin(url))}, another origin than "
                        f"{show_origin(home)}; not followed (credentials stay with their "
                        "origin, and a list from elsewhere could be partial or forged)"
                    )
        return tags

    # ----------------------------------------------------------------------------------
    # Manifests and config blobs
    # ----------------------------------------------------------------------------------

    async def _get_manifest(self, endpoint: Endpoint, path: str, digest: str) -> tuple[str, dict]:
        url = endpoint.url(path, f"manifests/{digest}")
        response = await self._call(endpoint, "GET", url, path, accept=MANIFEST_ACCEPT)
        self._check(response, endpoint, path, f"manifest {digest}")
        _verify(response.content, digest, endpoint, path, "manifest")
        body = _json(response, f"manifest {digest}", endpoint, path)
        media_type = body.get("mediaType") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(media_type, str | None):
            what = "is not a JSON object" if not isinstance(body, dict) else "has a bad mediaType"
            raise MalformedAnswer(
                f"manifest {digest} from {printable(str(response.url))} {what}",
                registry=endpoint.registry,
                repository=path,
            )
        media_type = media_type or response.headers.get("content-type", "")
        return media_type.split(";")[0].strip(), body

    async def _get_blob(self, endpoint: Endpoint, path: str, digest: str) -> bytes:
        url = endpoint.url(path, f"blobs/{digest}")
        response = await self._call(endpoint, "GET", url, path)
        self._check(response, endpoint, path, f"blob {digest}")
        _verify(response.content, digest, endpoint, path, "blob")
        return response.content

    async def _describe(self, endpoint: Endpoint, path: str, digest: str) -> ImageInfo:
        try:
            return await self._describe_unchecked(endpoint, path, digest)
        except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:
            # Content that passed its digest check but not our reading of it: a registry
            # serving nonsense is that repository's error, never a traceback.
            url = endpoint.url(path, f"manifests/{digest}")
            raise MalformedAnswer(
                f"image {digest} ({printable(url)}) cannot be read: "
                f"{type(exc).__name__}: {printable(str(exc), limit=200)}",
                registry=endpoint.registry,
                repository=path,
            ) from None

    async def _describe_unchecked(self, endpoint: Endpoint, path: str, digest: str) -> ImageInfo:
        media_type, body = await self._get_manifest(endpoint, path, digest)
        described = describe_manifest(media_type, body)
        created = described.created
        platforms = described.platforms
        config_digest = described.config_digest
        if described.child_digest is not None and created is None:
            _, child = await self._get_manifest(endpoint, path, described.child_digest)
            child_type = child.get("mediaType")
            child_described = describe_manifest(
                child_type if isinstance(child_type, str) else "", child
            )
            created = child_described.created
            config_digest = child_described.config_digest
        if config_digest is not None and (created is None or not platforms):
            blob = await self._get_blob(endpoint, path, config_digest)
            from_config = parse_config_blob(blob)
            created = created or from_config.created
            if not platforms and from_config.platform:
                platforms = [from_config.platform]
        return ImageInfo(digest, media_type, platforms, created)

    # ----------------------------------------------------------------------------------
    # HTTP: auth, retries, redirects, limits
    # ----------------------------------------------------------------------------------

    def _http(self, verify: bool) -> httpx.AsyncClient:
        client = self._clients.get(verify)
        if client is None:
            client = httpx.AsyncClient(
                http2=True,
                verify=verify,
                transport=self._transport,
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": bounded.ACCEPT_ENCODING},
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            )
            self._clients[verify] = client
        return client

    async def _call(
        self, endpoint: Endpoint, method: str, url: str, path: str, *, accept: str | None = None
    ) -> httpx.Response:
        """One logical request with auth (one re-try after a 401 challenge) and retries."""
        headers = {"Accept": accept} if accept else {}
        challenged = False
        while True:
            authorization = await self._authorization(endpoint, path)
            response = await self._with_retries(
                endpoint, method, url, headers, authorization, path=path
            )
            if response.status_code != 401 or challenged:
                return response
            if origin(str(response.url)) != origin(self.endpoint(endpoint.registry).base):
                # A redirect target's challenge is not the registry's: its realm never
                # gets the registry's credentials.
                return response
            challenged = True
            if not await self._learn_challenge(endpoint, path, response, authorization):
                return response

    async def _with_retries(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        headers: dict[str, str],
        authorization: str | None,
        *,
        path: str | None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        attempt = 0
        attempts = self._attempts(endpoint)
        failed = ""  # this request's own last failure
        while True:
            try:
                response = await self._send(endpoint, method, url, headers, authorization, data)
            except bounded.HostDown as exc:
                # Tripped by this request's own failures, or by others' before it was sent.
                reason = f"{failed} (after {_attempts_text(attempt)})" if failed else str(exc)
                raise Unreachable(reason, registry=endpoint.registry, repository=path) from None
            except (bounded.TooLarge, bounded.BadEncoding) as exc:
                raise MalformedAnswer(
                    printable(str(exc)), registry=endpoint.registry, repository=path
                ) from None
            except httpx.TransportError as exc:
                if endpoint.http_fallback and _is_tls_mismatch(exc):
                    # An `insecure` registry that speaks plain HTTP, as Docker allows.
                    log.info("%s: no TLS; using plain HTTP as it is marked insecure", endpoint.host)
                    endpoint = self._downgrade(endpoint)
                    url = "http" + url[len("https") :] if url.startswith("https:") else url
                    continue
                failed = _describe_transport_error(exc)
                if attempt >= attempts:
                    raise Unreachable(
                        f"{failed} (after {_attempts_text(attempt + 1)})",
                        registry=endpoint.registry,
                        repository=path,
                    ) from None
                delay = self.retry.delay(attempt, None)
                log.info("%s: %s; retrying in %.1fs", endpoint.host, failed, delay)
                await self.retry.sleep(delay)
                attempt += 1
                continue
            if response.status_code not in RETRY_STATUSES:
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            contacted = urlsplit(str(response.url)).netloc
            if retry_after is not None and retry_after > self.retry.max_retry_after:
                return self._give_up(response, endpoint, path, f"asks to wait {retry_after:.0f}s")
            if attempt >= attempts:
                return self._give_up(
                    response, endpoint, path, f"after {_attempts_text(attempt + 1)}"
                )
            delay = self.retry.delay(attempt, retry_after)
            if response.status_code == 429:
                self.limiters.for_host(contacted).pause(delay)
                if self.observer is not None:
                    self.observer.rate_limit_wait(contacted, delay)
            log.info("%s answered %d; retrying in %.1fs", contacted, response.status_code, delay)
            await self.retry.sleep(delay)
            attempt += 1

    def _attempts(self, endpoint: Endpoint) -> int:
        """Retries after the first try, for requests to *endpoint*."""
        retries = endpoint.entry.retries
        return self.retry.attempts if retries is None else retries

    def _give_up(
        self, response: httpx.Response, endpoint: Endpoint, path: str | None, why: str
    ) -> httpx.Response:
        status = response.status_code
        if status == 429:
            raise RateLimited(
                f"rate limited (HTTP 429), {why}", registry=endpoint.registry, repository=path
            )
        raise Unreachable(
            f"HTTP {status} {printable(response.reason_phrase)}, {why}",
            registry=endpoint.registry,
            repository=path,
        )

    def _downgrade(self, endpoint: Endpoint) -> Endpoint:
        plain = endpoint.with_scheme("http")
        self._endpoints[endpoint.registry] = plain
        return plain

    async def _send(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        headers: dict[str, str],
        authorization: str | None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send, following redirects by hand: Authorization only ever goes to the origin
        (scheme, host and port) it was made for, so a redirect to blob storage (S3, a CDN),
        to another port or from https to http carries none.

        Each hop is one bounded exchange (:func:`bounded.fetch`): the entry's ``timeout`` is
        its deadline for connecting, headers and whole body, ``max_response_size`` its cap.
        """
        owner = origin(url)
        deadline = float(endpoint.entry.timeout)
        cap = endpoint.entry.max_response_size
        for _ in range(MAX_REDIRECTS + 1):
            target = urlsplit(url).netloc
            hop_headers = dict(headers)
            if authorization and origin(url) == owner:
                hop_headers["Authorization"] = authorization
            client = self._http(endpoint.verify or target != endpoint.host)
            async with self.limiters.for_host(target).slot():
                self._breaker.check(target)  # a host that keeps failing is not asked now
                self.requests[target] += 1
                try:
                    request = client.build_request(
                        method, url, headers=hop_headers, data=data, timeout=deadline
                    )
                    response = await bounded.fetch(client, request, deadline=deadline, cap=cap)
                except (httpx.TransportError, bounded.TooLarge, bounded.BadEncoding) as exc:
                    if isinstance(exc, httpx.TransportError):
                        why = _describe_transport_error(exc)
                        self._breaker.failed(target, why, self._attempts(endpoint) + 1)
                    if self.observer is not None:
                        self.observer.registry_request(target, "error")
                    raise
                self._breaker.answered(target)
            if self.observer is not None:
                self.observer.registry_request(target, response.status_code)
            if not (response.is_redirect and method in ("GET", "HEAD")):
                return response
            location = response.headers.get("location")
            if not location:
                return response
            url = urljoin(url, location)
            if urlsplit(url).scheme not in ("http", "https"):
                return response
        raise Unreachable(f"more than {MAX_REDIRECTS} redirects", registry=endpoint.registry)

    def _check(self, response: httpx.Response, endpoint: Endpoint, path: str, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        detail = _error_detail(response)
        if status in (401, 403):
            known = self.credentials.cached(endpoint.host)
            home = self.endpoint(endpoint.registry).base
            if status == 403:
                reason = "access denied"
            elif origin(str(response.url)) != origin(home):
                reason = (
                    f"redirected to {printable(show_origin(str(response.url)))}, which asks for "
                    f"credentials; they stay with {show_origin(home)}"
                )
            elif known is None:
                reason = "authentication required and no credentials found"
            else:
                reason = f"credentials rejected or not allowed to pull (from {known.source})"
            raise Unauthorized(
                f"{what}: {reason} (HTTP {status}{detail})",
                registry=endpoint.registry,
                repository=path,
            )
        if status == 404:
            raise NotFound(
                f"{what}: not found (HTTP 404{detail})", registry=endpoint.registry, repository=path
            )
        raise RegistryError(
            f"{what}: unexpected HTTP {status} {printable(response.reason_phrase)}{detail}",
            registry=endpoint.registry,
            repository=path,
        )

    async def _authorization(self, endpoint: Endpoint, path: str) -> str | None:
        host_auth = self._host_auth.get(endpoint.host)
        if host_auth is None:
            return None
        credentials = await self._credentials(endpoint)
        if host_auth.scheme == "basic":
            if credentials is None or credentials.username is None or credentials.password is None:
                return None
            return basic_authorization(credentials.username, credentials.password)
        scope = host_auth.scopes.get(path) or auth.pull_scope(endpoint.prefix + path)
        token = await self._token(endpoint, host_auth, scope, credentials, path)
        return f"Bearer {token}"

    async def _credentials(self, endpoint: Endpoint) -> Credentials | None:
        return await self.credentials.resolve(endpoint.host, endpoint.entry, endpoint.entry_name)

    async def _learn_challenge(
        self, endpoint: Endpoint, path: str, response: httpx.Response, sent: str | None
    ) -> bool:
        """Record what a 401 asks for; True when a retry with new authorization makes sense."""
        challenge = auth.pick_challenge(response.headers.get_list("www-authenticate"))
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            self._host_auth[endpoint.host] = _HostAuth("basic")
            if sent is not None:
                return False  # our credentials were already refused
            credentials = await self._credentials(endpoint)
            return credentials is not None and credentials.password is not None
        if not challenge.realm:
            return False
        previous = self._host_auth.get(endpoint.host)
        host_auth = _HostAuth("bearer", challenge.realm, challenge.service)
        if previous is not None and previous.scheme == "bearer":
            host_auth.scopes = previous.scopes
        scope = challenge.scope or auth.pull_scope(endpoint.prefix + path)
        host_auth.scopes[path] = scope
        self._host_auth[endpoint.host] = host_auth
        if sent is not None:
            credentials = await self._credentials(endpoint)
            self._tokens.forget(_token_key(host_auth, scope, credentials))
        return True

    async def _token(
        self,
        endpoint: Endpoint,
        host_auth: _HostAuth,
        scope: str,
        credentials: Credentials | None,
        path: str,
    ) -> str:
        key = _token_key(host_auth, scope, credentials)
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None:
                return cached
            token = await self._fetch_token(endpoint, host_auth, scope, credentials, path)
            self._tokens.put(key, token)
            return token.value

    async def _fetch_token(
        self,
        endpoint: Endpoint,
        host_auth: _HostAuth,
        scope: str,
        credentials: Credentials | None,
        path: str,
    ) -> auth.Token:
        realm = host_auth.realm or ""
        realm_parts = urlsplit(realm)
        if realm_parts.scheme not in ("http", "https") or not realm_parts.netloc:
            raise Unauthorized(
                f"token realm {printable(realm, limit=200)!r} is not an http(s) URL",
                registry=endpoint.registry,
                repository=path,
            )
        secure = (
            realm_parts.scheme == "https"
            or is_loopback(realm_parts.netloc)
            or endpoint.entry.insecure
            or endpoint.scheme == "http"
        )
        if credentials is not None and not secure:
            raise Unauthorized(
                f"refusing to send credentials to the plain-HTTP token realm "
                f"{printable(realm, limit=200)}",
                registry=endpoint.registry,
                repository=path,
            )
        params = {"scope": scope}
        if host_auth.service:
            params["service"] = host_auth.service
        authorization = None
        method, data = "GET", None
        if credentials is not None and credentials.identity_token:
            method = "POST"
            data = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.identity_token,
                "client_id": "imagebot",
                **params,
            }
            url = realm
        else:
            if credentials and credentials.username and credentials.password is not None:
                params["account"] = credentials.username
                authorization = basic_authorization(credentials.username, credentials.password)
            separator = "&" if realm_parts.query else "?"
            url = realm + separator + urlencode(params)
        token_endpoint = Endpoint(
            endpoint.registry,
            realm_parts.scheme,
            realm_parts.netloc,
            "",
            endpoint.verify,
            endpoint.entry,
            endpoint.entry_name,
        )
        response = await self._with_retries(
            token_endpoint,
            method,
            url,
            {"Accept": "application/json"},
            authorization,
            path=path,
            data=data,
        )
        if response.status_code in (401, 403):
            reason = "credentials rejected" if credentials else "anonymous access refused"
            raise Unauthorized(
                f"token server {printable(realm_parts.netloc)}: {reason} "
                f"(HTTP {response.status_code})",
                registry=endpoint.registry,
                repository=path,
            )
        if response.status_code >= 300:
            raise Unauthorized(
                f"token server {printable(realm_parts.netloc)} answered HTTP "
                f"{response.status_code}",
                registry=endpoint.registry,
                repository=path,
            )
        data = _json(response, "token", token_endpoint, path)
        try:
            return auth.token_from_response(data, now=self._tokens.now())
        except ValueError as exc:
            raise Unauthorized(
                f"token server {printable(realm_parts.netloc)}: {exc}",
                registry=endpoint.registry,
                repository=path,
            ) from None


def basic_authorization(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _token_key(
    host_auth: _HostAuth, scope: str, credentials: Credentials | None
) -> tuple[str, str, str, str]:
    account = credentials.username or credentials.source if credentials else ""
    return (host_auth.realm or "", host_auth.service or "", scope, account or "")


def _json(response: httpx.Response, what: str, endpoint: Endpoint, path: str | None) -> Any:
    """The body as JSON, or :class:`MalformedAnswer` naming the URL (never a traceback:
    not UTF-8, not JSON, nested deeper than the parser goes)."""
    try:
        return json.loads(response.content)
    except RecursionError:
        problem = "is JSON nested too deeply to read"
    except UnicodeDecodeError:
        problem = "is not UTF-8"
    except ValueError as exc:
        problem = f"is not JSON ({printable(str(exc), limit=100)})"
    raise MalformedAnswer(
        f"{what} from {printable(str(response.url))} {problem}",
        registry=endpoint.registry,
        repository=path,
    )


def _tags_of(response: httpx.Response, endpoint: Endpoint, path: str) -> list[str]:
    data = _json(response, "tag list", endpoint, path)
    problem = None
    if not isinstance(data, dict):
        problem = "is not a JSON object"
    else:
        tags = data.get("tags")
        if tags is None:  # an emptied repository
            return []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problem = "has a 'tags' that is not a list of strings"
        else:
            return tags
    raise MalformedAnswer(
        f"tag list from {printable(str(response.url))} {problem}",
        registry=endpoint.registry,
        repository=path,
    )


def _clean_tags(raw: list[str]) -> tuple[list[str], list[str]]:
    tags: list[str] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for tag in raw:
        if tag in seen:
            continue
        seen.add(tag)
        (tags if is_valid_tag(tag) else dropped).append(tag)
    return tags, dropped


def _verify(content: bytes, digest: str, endpoint: Endpoint, path: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm not in ("sha256", "sha512"):
        return
    actual = hashlib.new(algorithm, content).hexdigest()
    if actual != expected:
        raise RegistryError(
            f"{what} {digest} does not match its content (got {algorithm}:{actual[:12]}...)",
            registry=endpoint.registry,
            repository=path,
        )


def _error_detail(response: httpx.Response) -> str:
    """The registry's first error code and message, escaped and cut (it is remote text)."""
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        text = f"{first.get('code', '')} {first.get('message', '')}".strip()
    except (ValueError, AttributeError, IndexError, TypeError, KeyError, RecursionError):
        return ""
    return f": {printable(text, limit=300)}" if text else ""


def _attempts_text(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _is_tls_mismatch(exc: Exception) -> bool:
    text = repr(exc).lower() + repr(exc.__cause__ or "").lower() + str(exc).lower()
    return "ssl" in text or "wrong version number" in text or "tls" in text


def _describe_transport_error(exc: httpx.TransportError) -> str:
    if isinstance(exc, bounded.DeadlineExceeded):
        return f"timed out: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    text = printable(str(exc), limit=300)  # may quote what the server sent
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {text}" if text else "cannot connect"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
