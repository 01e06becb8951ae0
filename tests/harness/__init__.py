"""Test harness: real registries, a token server, a fast pusher and loopback proxies.

The registry process and the pusher are the package's (:mod:`imagebot.demo.registry`,
:mod:`imagebot.demo.pusher`, which ``python -m imagebot.demo`` uses); this harness adds the
authenticated registries, the token server and the proxies.

Reusable by any test suite (update cycle, service)::

    from tests.harness import start_registry
    with start_registry(tmp_path / "reg", auth="token") as registry:
        registry.push("team/app", ["1.0.0", "1.1.0"], created=datetime(2024, 1, 1))
        registry.host   # "127.0.0.1:PORT": use it in image references
"""

from tests.harness.proxies import Fault, FaultProxy, LoopbackProxy, PaginatingProxy, Reply
from tests.harness.pusher import Pusher, PushResult
from tests.harness.registry import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    READER_PASSWORD,
    READER_USER,
    RegistryServer,
    RegistryUnavailable,
    free_port,
    start_registry,
)
from tests.harness.tokenserver import TokenServer, libtrust_kid

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "READER_PASSWORD",
    "READER_USER",
    "Fault",
    "FaultProxy",
    "LoopbackProxy",
    "PaginatingProxy",
    "PushResult",
    "Pusher",
    "RegistryServer",
    "RegistryUnavailable",
    "Reply",
    "TokenServer",
    "free_port",
    "libtrust_kid",
    "start_registry",
]
