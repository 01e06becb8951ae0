"""The fast image pusher lives in the package (the demo uses it too): see
:mod:`imagebot.demo.pusher`. Re-exported here for the tests that import it from the harness."""

from imagebot.demo.pusher import Pusher, PushFailed, PushResult, RegistryAuth, sha256

__all__ = ["PushFailed", "PushResult", "Pusher", "RegistryAuth", "sha256"]
