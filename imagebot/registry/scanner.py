"""One scan: every repository listed once, hosts worked on in parallel, failures contained.

Workloads often share images, so the scanner lists each repository once however many
references name it. Repositories of one registry are worked through by as many workers as
the host allows connections; when a registry keeps failing (unreachable or rate limited
after the retries: see :func:`is_host_failure`), its remaining repositories are skipped with
the same error instead of each waiting through its own retries, and the other registries
carry on. Build times stop at the first such failure too, so a registry that lists its tags
and then stalls costs one request deadline (times its retries), not one per tag.
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
from imagebot.safetext import printable

log = logging.getLogger(__name__)

_HOST_FAILURES = (Unreachable, RateLimited)


def is_host_failure(exc: BaseException) -> bool:
    """True for failures of the registry as a whole (unreachable, too slow or rate limited
    after the retries): its other repositories need not be tried in the same cycle."""
    return isinstance(exc, _HOST_FAILURES)


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
                    results[image.repository] = skipped(failure[0], image)
                    continue
                try:
                    results[image.repository] = await self.client.list_tags(image, fresh=fresh)
                except Exception as exc:  # contained: this repository's failure only
                    error = _as_registry_error(exc, image)
                    results[image.repository] = error
                    if is_host_failure(error) and not failure:
                        failure.append(error)
                        log.warning(
                            "%s keeps failing (%s); skipping its other repositories this scan",
                            error.registry,
                            error.reason,
                        )
                    elif not is_host_failure(error):
                        log.warning("%s", error)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(images)))))

    async def build_times(
        self, image: ImageReference, tags: Iterable[str], *, fresh: bool = False
    ) -> dict[str, datetime | None]:
        """Build time per tag (None when unknown or the tag vanished); fetched only for the
        tags asked and cached by digest. Registry failures other than a missing tag raise, so
        a policy never decides on a partial picture; the first one cancels the lookups still
        waiting, so a stalled registry fails once instead of once per tag."""
        wanted = list(dict.fromkeys(tags))
        times: dict[str, datetime | None] = {}

        async def one(tag: str) -> None:
            try:
                info = await self.client.image_info(image, tag, fresh=fresh)
            except NotFound:
                log.warning("%s: tag %r vanished while reading build times", image.repository, tag)
                times[tag] = None
            except Exception as exc:  # becomes this repository's error
                raise _as_registry_error(exc, image) from None
            else:
                times[tag] = info.created

        try:
            async with asyncio.TaskGroup() as group:
                for tag in wanted:
                    group.create_task(one(tag))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return {tag: times.get(tag) for tag in wanted}


def _as_registry_error(exc: Exception, image: ImageReference) -> RegistryError:
    """*exc* as it is, when a :class:`RegistryError`; anything else (a bug, or an answer
    nobody foresaw) becomes one for this repository, so it never ends the scan."""
    if isinstance(exc, RegistryError):
        return exc
    log.debug("%s: unexpected failure", image.repository, exc_info=exc)
    return RegistryError(
        f"unexpected failure ({type(exc).__name__}: {printable(str(exc), limit=200)})",
        registry=image.domain,
        repository=image.path,
    )


def skipped(first: RegistryError, image: ImageReference) -> RegistryError:
    """*image*'s error when its registry already failed as a whole (*first*) this cycle."""
    cls = type(first)
    return cls(
        f"skipped: the registry failed earlier in this scan ({first.reason})",
        registry=first.registry,
        repository=image.path,
    )
