"""One scan: every repository listed once, hosts worked on in parallel, failures contained.

Workloads often share images, so the scanner lists each repository once however many
references name it. Repositories of one registry are worked through by as many workers as
the host allows connections; when a registry keeps failing (unreachable or rate limited
after the retries), its remaining repositories are skipped with the same error instead of
each waiting through its own retries, and the other registries carry on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime

from imagebot.errors import NotFound, RateLimited, RegistryError, Unreachable
from imagebot.reference import ImageReference
from imagebot.registry.client import RegistryClient
from imagebot.registry.models import TagList

log = logging.getLogger(__name__)

_HOST_FAILURES = (Unreachable, RateLimited)


class Scanner:
    """Lists tags for many images through one :class:`RegistryClient`."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    async def scan(
        self, images: Iterable[ImageReference], *, fresh: bool = False
    ) -> dict[str, TagList | RegistryError]:
        """Tag list (or the error) per repository, keyed by ``ImageReference.repository``."""
        by_registry: dict[str, dict[str, ImageReference]] = {}
        for image in images:
            by_registry.setdefault(image.domain, {}).setdefault(image.repository, image)
        results: dict[str, TagList | RegistryError] = {}
        await asyncio.gather(
            *(
                self._scan_registry(list(repos.values()), results, fresh)
                for repos in by_registry.values()
            )
        )
        return results

    async def _scan_registry(
        self,
        images: list[ImageReference],
        results: dict[str, TagList | RegistryError],
        fresh: bool,
    ) -> None:
        queue: asyncio.Queue[ImageReference] = asyncio.Queue()
        for image in images:
            queue.put_nowait(image)
        failure: list[RegistryError] = []
        endpoint = self.client.endpoint(images[0].domain)
        _, concurrency = self.client.limiters.limits(endpoint.host)

        async def worker() -> None:
            while not queue.empty():
                image = queue.get_nowait()
                if failure:
                    results[image.repository] = _skipped(failure[0], image)
                    continue
                try:
                    results[image.repository] = await self.client.list_tags(image, fresh=fresh)
                except RegistryError as exc:
                    results[image.repository] = exc
                    if isinstance(exc, _HOST_FAILURES) and not failure:
                        failure.append(exc)
                        log.warning(
                            "%s keeps failing (%s); skipping its other repositories this scan",
                            exc.registry,
                            exc.reason,
                        )
                    elif not isinstance(exc, _HOST_FAILURES):
                        log.warning("%s", exc)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(images)))))

    async def build_times(
        self, image: ImageReference, tags: Iterable[str], *, fresh: bool = False
    ) -> dict[str, datetime | None]:
        """Build time per tag (None when unknown or the tag vanished); fetched only for the
        tags asked and cached by digest. Registry failures other than a missing tag raise, so
        a policy never decides on a partial picture."""
        wanted = list(dict.fromkeys(tags))
        answers = await asyncio.gather(
            *(self.client.image_info(image, tag, fresh=fresh) for tag in wanted),
            return_exceptions=True,
        )
        times: dict[str, datetime | None] = {}
        for tag, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, NotFound):
                log.warning("%s: tag %r vanished while reading build times", image.repository, tag)
                times[tag] = None
            elif isinstance(answer, BaseException):
                raise answer
            else:
                times[tag] = answer.created
        return times


def _skipped(first: RegistryError, image: ImageReference) -> RegistryError:
    cls = type(first)
    return cls(
        f"skipped: the registry failed earlier in this scan ({first.reason})",
        registry=first.registry,
        repository=image.path,
    )
