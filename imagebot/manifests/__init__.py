"""Manifests: find every image in a checkout, read its policy, rewrite it byte-exactly.

``discover(root)`` walks a checkout and returns every :class:`ImageSite` (one container image
occurrence, with the policy that governs it and the exact scalars it was read from);
``rewrite(content, edits)`` splices new values into a file's original bytes and verifies the
result; ``apply(root, edits)`` does that for every file concerned and writes the changed ones
atomically.
"""

from imagebot.manifests.discovery import DEFAULT_INCLUDE, DiscoveryCache, discover, scan_bytes
from imagebot.manifests.models import (
    Discovery,
    Edit,
    FileChange,
    FileIssue,
    ImageSite,
    Part,
    RewriteResult,
)
from imagebot.manifests.rewrite import apply, rewrite

__all__ = [
    "DEFAULT_INCLUDE",
    "Discovery",
    "DiscoveryCache",
    "Edit",
    "FileChange",
    "FileIssue",
    "ImageSite",
    "Part",
    "RewriteResult",
    "apply",
    "discover",
    "rewrite",
    "scan_bytes",
]
