"""``imagebot tags IMAGE``: every tag a registry has for an image, as imagebot sees them.

The quickest way to check credentials, mirrors and what a policy will choose from: it uses
the same client, configuration and tag-grammar filter as a scan (dropped tags are warned
about on stderr) and always asks the registry rather than the tag cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import click

from imagebot.cli.common import (
    config_option,
    optional_store,
    output_option,
    print_json,
    registry_progress,
)
from imagebot.config import Config, load_config
from imagebot.errors import NotFound
from imagebot.reference import ImageReference
from imagebot.registry import ImageInfo, RegistryClient, TagList


@click.command("tags")
@click.argument("image")
@config_option
@output_option
@click.option(
    "--details",
    is_flag=True,
    help="Also show each tag's digest, platforms and build time (one request or more per tag).",
)
def command(image: str, config_path: str | None, output: str, details: bool) -> None:
    """List every tag of IMAGE's repository (e.g. alpine, ghcr.io/org/app).

    Exits 1 naming the registry and the cause when the registry cannot be read.
    """
    config = load_config(config_path)
    reference = ImageReference.parse(image)
    with registry_progress(details and output != "json") as progress:
        tags, infos = asyncio.run(_fetch(config, reference, details, progress))
    if output == "json":
        if details:
            print_json([_detail_dict(tag, infos.get(tag)) for tag in tags.tags])
        else:
            print_json(tags.tags)
        return
    if not details:
        for tag in tags.tags:
            click.echo(tag)
        return
    width = max((len(t) for t in tags.tags), default=0)
    for tag in tags.tags:
        info = infos.get(tag)
        if info is None:
            click.echo(f"{tag:<{width}}  (vanished)")
            continue
        created = info.created.isoformat() if info.created else "-"
        platforms = ",".join(info.platforms) or "-"
        click.echo(f"{tag:<{width}}  {info.digest}  {created}  {platforms}")


async def _fetch(
    config: Config,
    reference: ImageReference,
    details: bool,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[TagList, dict[str, ImageInfo | None]]:
    with optional_store(config) as store:
        async with RegistryClient(config, store) as client:
            tags = await client.list_tags(reference, fresh=True)
            infos: dict[str, ImageInfo | None] = {}
            if details:
                done = 0

                async def info(tag: str) -> ImageInfo:
                    nonlocal done
                    try:
                        return await client.image_info(reference, tag)
                    finally:
                        done += 1
                        if progress is not None:
                            progress("details", done, len(tags.tags))

                answers = await asyncio.gather(
                    *(info(tag) for tag in tags.tags), return_exceptions=True
                )
                for tag, answer in zip(tags.tags, answers, strict=True):
                    if isinstance(answer, NotFound):
                        infos[tag] = None
                    elif isinstance(answer, BaseException):
                        raise answer
                    else:
                        infos[tag] = answer
            return tags, infos


def _detail_dict(tag: str, info: ImageInfo | None) -> dict[str, Any]:
    if info is None:
        return {"tag": tag, "digest": None, "media_type": None, "platforms": [], "created": None}
    return {"tag": tag, **info.to_dict()}
