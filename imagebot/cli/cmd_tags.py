"""``imagebot tags IMAGE``: every tag a registry has for an image, as imagebot sees them.

The quickest way to check credentials, mirrors and what a policy will choose from: it uses
the same client, configuration and tag-grammar filter as a scan (dropped tags are warned
about on stderr) and always asks the registry rather than the tag cache.

``--details`` costs requests per tag (digest, manifest, config blob), and Docker Hub allows
about two a second: it reads the first page only, the :data:`DETAILS_PAGE` newest tags, as
Docker Hub's own tag page does. A tag list has no time order (CNCF Distribution sorts it by
name), so "newest" is version order, highest first (:func:`imagebot.tag.natural_key`).
``--all-details`` reads every tag, in the registry's order. A progress bar shows on a
terminal.
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
from imagebot.tag import natural_key

#: Tags ``--details`` reads by default: one page, as Docker Hub's tag page shows.
DETAILS_PAGE = 10


@click.command("tags")
@click.argument("image")
@config_option
@output_option
@click.option(
    "--details",
    is_flag=True,
    help=f"Also show digest, platforms and build time of the {DETAILS_PAGE} newest tags "
    "(version order; a few requests per tag).",
)
@click.option(
    "--all-details",
    is_flag=True,
    help="Show the details of every tag, in the registry's order (slow on Docker Hub).",
)
def command(
    image: str, config_path: str | None, output: str, details: bool, all_details: bool
) -> None:
    """List every tag of IMAGE's repository (e.g. alpine, ghcr.io/org/app).

    Exits 1 naming the registry and the cause when the registry cannot be read.
    """
    config = load_config(config_path)
    reference = ImageReference.parse(image)
    details = details or all_details
    with registry_progress(details and output != "json") as progress:
        tags, shown, infos = asyncio.run(
            _fetch(config, reference, details, progress, everything=all_details)
        )
    if details and len(shown) < len(tags.tags):
        click.echo(
            f"details of the {len(shown)} newest of {len(tags.tags)} tags (version order); "
            "--all-details reads every tag",
            err=True,
        )
    if output == "json":
        if details:
            print_json([_detail_dict(tag, infos.get(tag)) for tag in shown])
        else:
            print_json(tags.tags)
        return
    if not details:
        for tag in tags.tags:
            click.echo(tag)
        return
    width = max((len(t) for t in shown), default=0)
    for tag in shown:
        info = infos.get(tag)
        if info is None:
            click.echo(f"{tag:<{width}}  (vanished)")
            continue
        created = info.created.isoformat() if info.created else "-"
        platforms = ",".join(info.platforms) or "-"
        click.echo(f"{tag:<{width}}  {info.digest}  {created}  {platforms}")


def details_page(tags: list[str], *, everything: bool = False) -> list[str]:
    """The tags ``--details`` reads: the first page of the newest (version order), or all."""
    if everything:
        return list(tags)
    return sorted(tags, key=natural_key, reverse=True)[:DETAILS_PAGE]


async def _fetch(
    config: Config,
    reference: ImageReference,
    details: bool,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    everything: bool = False,
) -> tuple[TagList, list[str], dict[str, ImageInfo | None]]:
    with optional_store(config) as store:
        async with RegistryClient(config, store) as client:
            tags = await client.list_tags(reference, fresh=True)
            infos: dict[str, ImageInfo | None] = {}
            shown = details_page(tags.tags, everything=everything) if details else []
            if details:
                done = 0

                async def info(tag: str) -> ImageInfo:
                    nonlocal done
                    try:
                        return await client.image_info(reference, tag)
                    finally:
                        done += 1
                        if progress is not None:
                            progress("details", done, len(shown))

                asked = (info(tag) for tag in shown)
                answers = await asyncio.gather(*asked, return_exceptions=True)
                for tag, answer in zip(shown, answers, strict=True):
                    if isinstance(answer, NotFound):
                        infos[tag] = None
                    elif isinstance(answer, BaseException):
                        raise answer
                    else:
                        infos[tag] = answer
            return tags, shown, infos


def _detail_dict(tag: str, info: ImageInfo | None) -> dict[str, Any]:
    if info is None:
        return {"tag": tag, "digest": None, "media_type": None, "platforms": [], "created": None}
    return {"tag": tag, **info.to_dict()}
