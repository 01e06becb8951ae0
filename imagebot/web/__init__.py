"""The Deploy view: the fleet in a browser and a JSON API, over :mod:`imagebot.operations`.

``create_app(config, store, runner=None)`` -> a Starlette app (see :mod:`imagebot.web.app`);
``imagebot run`` serves it at ``/`` on its HTTP port.
"""

from imagebot.web.app import create_app

__all__ = ["create_app"]
