"""``python -m bench [NAME ...] [OPTIONS]``: run the benchmarks (all by default).

Options go to every benchmark chosen, e.g. ``python -m bench registry_tags --repos 50``.

Each benchmark module exposes ``main(argv)``; add one by adding it to :data:`BENCHMARKS`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import cycle, discovery, registry_tags, rewrite

BENCHMARKS: dict[str, Callable[[list[str]], int]] = {
    "registry_tags": registry_tags.main,
    "discovery": discovery.main,
    "rewrite": rewrite.main,
    "cycle": cycle.main,
}


def main(argv: list[str]) -> int:
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split] or list(BENCHMARKS), argv[split:]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    status = 0
    for name in names:
        print(f"== {name}")
        status = max(status, BENCHMARKS[name](options))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
