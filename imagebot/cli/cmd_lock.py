"""``imagebot lock WORKLOAD``: freeze a workload's images (``fluxctl lock``).

Writes ``locked: "true"``, with ``locked_msg`` (``--message``) and ``locked_user``
(``--user``, by default git's user.name and user.email, as fluxctl did); a message or user
left from an earlier lock is removed rather than misattributed. The bot then reports the
updates it would make but makes none, and ``imagebot release`` refuses without ``--force``.
Commits "Locked: <workload>".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import click

from imagebot.cli import manual
from imagebot.manifests import ImageSite
from imagebot.manifests.annotate import set_policy, unset_policy


def locked(message: str | None, user: str | None) -> Callable[[list[ImageSite]], str | None]:
    def check(sites: list[ImageSite]) -> str | None:
        for site in sites:
            if not site.locked:
                return f"container {site.container} does not read as locked"
            if (site.lock_message, site.lock_user) != (message, user):
                return (
                    f"container {site.container} reads lock message {site.lock_message!r} and "
                    f"user {site.lock_user!r}"
                )
        return None

    return check


@click.command("lock")
@manual.workload_argument
@manual.workload_options(message_help="Why it is locked (locked_msg, and the commit body).")
def command(request: manual.Request) -> None:
    """Lock WORKLOAD (namespace:kind/name): no image of it changes until it is unlocked.

    Exit status: 0 committed (or already locked so), 1 refused or failed, 2 usage errors.
    """
    user = request.user if request.user is not None else manual.default_user()
    message = request.message.strip() if request.message and request.message.strip() else None
    request = replace(request, user=user, message=message)

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        annotations = chosen.annotations
        edits = set_policy(annotations, "locked", "true")
        for name, value in (("locked_msg", message), ("locked_user", user)):
            if value is None:
                edits += unset_policy(annotations, name)
            else:
                edits += set_policy(annotations, name, value)
        return manual.edit_annotations(
            chosen, content, edits, locked(message, user), unchanged="already locked"
        )

    request.run(action_name="lock", subject="Locked: {workload}", action=action)
