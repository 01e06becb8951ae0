"""One event loop on its own thread, holding the async registry client for everyone.

The registry client is asynchronous (many requests in flight, per-host limits) while Git,
files and the service's scheduler are plain threads. An httpx client belongs to the loop it
was made on, so imagebot keeps exactly one loop, on a daemon thread, and every caller (the
CLI, each scheduled job, a webhook) hands it coroutines through :meth:`Runner.run`. The
per-host rate limits and connection caps are therefore shared by everything the process
does, which is what keeps it gentle on registries.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import httpx

from imagebot.config import Config
from imagebot.registry import RegistryClient, Scanner
from imagebot.registry.client import RequestObserver
from imagebot.store import Store

T = TypeVar("T")


class Runner:
    """``with Runner(config, store) as runner: runner.run(runner.scanner.scan(...))``."""

    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._transport = transport
        self._observer = observer
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="imagebot-registry-loop", daemon=True
        )
        self._client: RegistryClient | None = None
        self._scanner: Scanner | None = None
        self._closed = False

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()
        self._client = self.run(self._open_client())
        self._scanner = Scanner(self._client)

    async def _open_client(self) -> RegistryClient:
        client = RegistryClient(
            self.config, self.store, transport=self._transport, observer=self._observer
        )
        return await client.__aenter__()

    @property
    def client(self) -> RegistryClient:
        if self._client is None:
            raise RuntimeError("Runner not started")
        return self._client

    @property
    def scanner(self) -> Scanner:
        if self._scanner is None:
            raise RuntimeError("Runner not started")
        return self._scanner

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run *coroutine* on the loop from any thread and wait for its result."""
        if self._closed:
            coroutine.close()
            raise RuntimeError("Runner is closed")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def close(self) -> None:
        if self._closed:
            return
        if self._client is not None:
            self.run(self._client.aclose(), timeout=30)
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
