"""Reading OCI registries: tag lists, digests, platforms and build times.

``RegistryClient`` talks to registries (auth, limits, retries, caching); ``Scanner`` uses one
client to list many repositories once each. See docs/registries.md for the configuration.
"""

from imagebot.errors import (
    IncompleteTagList,
    NotFound,
    RateLimited,
    RegistryError,
    Unauthorized,
    Unreachable,
)
from imagebot.registry.client import RegistryClient, RetryPolicy
from imagebot.registry.credentials import CredentialResolver, Credentials
from imagebot.registry.models import ImageInfo, TagList
from imagebot.registry.ratelimit import Limiters
from imagebot.registry.scanner import Scanner

__all__ = [
    "CredentialResolver",
    "Credentials",
    "ImageInfo",
    "IncompleteTagList",
    "Limiters",
    "NotFound",
    "RateLimited",
    "RegistryClient",
    "RegistryError",
    "RetryPolicy",
    "Scanner",
    "TagList",
    "Unauthorized",
    "Unreachable",
]
