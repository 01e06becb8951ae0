"""``imagebot run``: the bot as a long-running service.

Polls the registries on a schedule, answers registry webhooks, runs an update cycle for a
repository when one of its images has a new tag (or its own interval passes), and serves
``/metrics``, ``/healthz`` and ``/readyz`` on ``service.listen``. Ends on SIGTERM or SIGINT
within ``service.shutdown_timeout``, never leaving half a commit behind.
"""

from __future__ import annotations

import click

from imagebot.cli.common import config_option
from imagebot.config import load_config
from imagebot.errors import ConfigError
from imagebot.preflight import check_or_raise
from imagebot.service.wiring import open_service


@click.command("run")
@config_option
def command(config_path: str | None) -> None:
    """Run the bot until SIGTERM or SIGINT.

    The config file lists the repositories to keep up to date, the registries, and in its
    `service:` section the port, the intervals and the webhook receivers. Logs go to stderr
    (`imagebot run --log-format json` for JSON lines).

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
    check_or_raise(config)  # the checks `imagebot config validate` runs, all before starting
    with open_service(config) as service:
        status = service.run_forever()
    raise SystemExit(status)
