"""``imagebot lock WORKLOAD``: freeze a workload's images (``fluxctl lock``).

Writes ``locked: "true"``, with ``locked_msg`` (``--message``) and ``locked_user``
(``--user``, by default git's user.name and user.email, as fluxctl did); a message or user
left from an earlier lock is removed rather than misattributed. The bot then reports the
updates it would make but makes none, and ``imagebot release`` refuses without ``--force``.
Commits "Locked: <workload>".
"""

from __future__ import annotations

from dataclasses import replace

import click

from imagebot.cli import manual
from imagebot.operations import actions


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
    request.perform(actions.lock(message, user))
