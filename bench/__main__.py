"""``python -m bench [NAME ...] [OPTIONS]`` (``./dev bench``): run the benchmarks, all by default.

Options go to every benchmark chosen, e.g. ``python -m bench registry_tags --repos 50``;
``--quick`` makes each one small enough for a smoke test. Each benchmark module exposes
``rows(argv) -> list[Row]`` (see :mod:`bench.common`) and ``main(argv)`` to run it alone
(``python -m bench.policy``); add one by listing its module in :data:`BENCHMARKS`.

The table of every row is printed. A run without options (at full size) also writes the rows
of the benchmarks it ran to ``bench/results.json`` and regenerates ``bench/results.md`` from
it: ``python -m bench cycle`` replaces the cycle rows and keeps every other benchmark's from
its last run. The exit status is 1 when a benchmark failed or a row missed its target.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import traceback

from bench.common import RESULTS, Row, load_rows, save_rows, table

#: Benchmark name -> module (each with ``rows(argv)``), in the order the table shows them.
BENCHMARKS: dict[str, str] = {
    "policy": "bench.policy",
    "startup": "bench.startup",
    "registry_tags": "bench.registry_tags",
    "discovery": "bench.discovery",
    "rewrite": "bench.rewrite",
    "cycle": "bench.cycle",
    "renovate": "bench.renovate",
    "web": "bench.web",
    "replicas": "bench.replicas",
}


def main(argv: list[str]) -> int:
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split] or list(BENCHMARKS), argv[split:]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    if len(names) > 1 and not options:
        return _each_in_a_process(names)
    collected: list[Row] = []
    by_name: dict[str, list[Row]] = {}
    broken: list[str] = []
    for name in names:
        print(f"== {name}", flush=True)
        try:
            rows = importlib.import_module(BENCHMARKS[name]).rows(options)
        except Exception:
            traceback.print_exc()
            broken.append(name)
            continue
        print(table(rows), flush=True)
        collected += rows
        by_name[name] = rows
    if not options and by_name:
        stored = load_rows()
        stored.update(by_name)
        save_rows(stored, list(BENCHMARKS))
        print(f"== {', '.join(by_name)}: written to {RESULTS}\n\n{table(collected)}", end="")
    missed = [row.case for row in collected if row.within_target is False]
    if missed:
        print(f"missed the target: {', '.join(missed)}")
    return 1 if broken or missed else 0


def _each_in_a_process(names: list[str]) -> int:
    """Run each benchmark as ``python -m bench NAME`` (which writes its rows), one after the
    other: a case then starts from a small process, and the peak RSS its children report is
    their own (Linux carries a process's high-water mark across ``exec`` into its child)."""
    failed = 0
    for name in names:
        failed |= subprocess.run([sys.executable, "-m", "bench", name], check=False).returncode
    rows = load_rows()
    collected = [row for name in names for row in rows.get(name, [])]
    print(f"== {', '.join(names)}: written to {RESULTS}\n\n{table(collected)}", end="")
    missed = [row.case for row in collected if row.within_target is False]
    if missed:
        print(f"missed the target: {', '.join(missed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
