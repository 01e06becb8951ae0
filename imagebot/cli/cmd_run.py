"""``imagebot run``: the bot as a long-running service.

Polls the registries on a schedule, answers registry webhooks, runs an update cycle for a
repository when one of its images has a new tag (or its own interval passes), and serves
``/metrics``, ``/healthz``, ``/readyz`` and the Deploy view (``/``, ``web:``) on
``service.listen``. Ends on SIGTERM or SIGINT
within ``service.shutdown_timeout``, never leaving half a commit behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from imagebot.cli.common import config_option
from imagebot.config import load_config
from imagebot.errors import ConfigError
from imagebot.service.wiring import open_service

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from imagebot.store import Store
    from imagebot.update import Runner


@click.command("run")
@config_option
def command(config_path: str | None) -> None:
    """Run the bot until SIGTERM or SIGINT.

    The config file lists the repositories to keep up to date, the registries, and in its
    `service:` section the port, the intervals and the webhook receivers. Logs go to stderr
    (`imagebot --log-format json run` for JSON lines).

    Exit status: 0 after a clean shutdown, 2 for usage or configuration errors.
    """
    config = load_config(config_path)
    if not config.repositories:
        raise ConfigError(
            "no repositories to keep up to date",
            file=config.source,
            key="repositories",
            hint="pass --config FILE (or set IMAGEBOT_CONFIG) listing repositories",
        )
    with open_service(config, routes=_web if config.web.enabled else ()) as service:
        status = service.run_forever()
    raise SystemExit(status)


def _web(store: Store, runner: Runner) -> list[BaseRoute]:
    """The Deploy view, at ``/`` after the service's own routes."""
    from starlette.routing import Mount

    from imagebot.web import create_app

    config = runner.config
    return [Mount("", app=create_app(config, store, runner=runner))]
