"""``imagebot`` (the console script) and ``python -m imagebot``.

The first thing it does is hold SIGTERM (:mod:`imagebot.termination`): ``imagebot run`` exits
0 on SIGTERM at any moment after it starts, even while it is still loading.
"""

from imagebot import termination

termination.hold()


def main() -> None:
    from imagebot.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
