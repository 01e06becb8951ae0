"""Small helpers for the gate tests: sites from one manifest, resolve at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime

from imagebot.manifests import ImageSite
from imagebot.manifests.discovery import scan_bytes
from imagebot.update import Resolution, resolve
from tests.update.helpers import Bot, automated, deployment

#: "Now" in these tests; first-seen times are recorded at the ``now`` resolve is given.
NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def sites(*docs: bytes | str) -> list[ImageSite]:
    data = b"---\n".join(d.encode() if isinstance(d, str) else d for d in docs)
    found = scan_bytes(data)
    assert not found.has_errors, [s.error for s in found.sites] + [str(e) for e in found.errors]
    return found.sites


def gated(
    bot: Bot, image: str, current: str, policy: str = "semver:^1.0", **gates: str
) -> list[ImageSite]:
    """One automated Deployment on *current* with ``imagebot.io/<gate>.app`` annotations."""
    notes = automated(policy)
    notes.update(
        {f"imagebot.io/{key.replace('_', '-')}.app": value for key, value in gates.items()}
    )
    return sites(deployment("web", bot.image(image, current), annotations=notes))


def resolve_at(
    bot: Bot, site_list: list[ImageSite], now: datetime, *, manual: bool = False
) -> Resolution:
    resolved = bot.runner.run(
        resolve(site_list, bot.runner.scanner, now=now, manual=manual, explain=manual, fresh=True)
    )
    return resolved.resolutions[0]
