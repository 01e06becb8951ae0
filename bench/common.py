"""What every benchmark reports: one :class:`Row` per measured case.

A row compares imagebot with a *floor* measured in the same run on the same input (the least
any tool must do for that job), so the figure that matters is the ratio, not seconds: it holds
on a slow or a busy machine. ``python -m bench`` collects the rows of every benchmark it runs
and writes them to ``bench/results.md`` (see :func:`write_results`).

A benchmark module exposes ``rows(argv) -> list[Row]`` and is listed in
``bench/__main__.py``; it prints nothing it is not asked to.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
#: The same rows as data, by benchmark, so that a run of some benchmarks keeps the others'.
RESULTS_DATA = Path(__file__).with_name("results.json")


@dataclass(frozen=True)
class Row:
    """One case: its size, imagebot's and the floor's medians, and the target ratio.

    A case that could not run here (a tool it compares with is missing) has no figures
    (``None``) and a note saying why.
    """

    case: str
    size: str
    imagebot: float | None  # median seconds (CPU or wall: ``unit`` says which)
    floor: float | None
    target: float | None  # the ratio to stay under, None where the issue sets none
    peak_rss_mb: float | None = None
    unit: str = "wall s"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.imagebot is None or self.floor is None:
            return None
        return self.imagebot / self.floor if self.floor else float("inf")

    @property
    def within_target(self) -> bool | None:
        ratio = self.ratio
        return None if self.target is None or ratio is None else ratio <= self.target

    def cells(self) -> list[str]:
        target = "-" if self.target is None else f"≤ {self.target:g}x"
        verdict = {None: "", True: "ok", False: "MISSED"}[self.within_target]
        rss = "-" if self.peak_rss_mb is None else f"{self.peak_rss_mb:.0f}"
        ratio = self.ratio
        return [
            self.case,
            self.size,
            "-" if self.imagebot is None else f"{self.imagebot:.4g}",
            "-" if self.floor is None else f"{self.floor:.4g}",
            self.unit,
            "-" if ratio is None else f"{ratio:.2f}x",
            target,
            verdict,
            rss,
            self.note,
        ]


HEADERS = [
    "case",
    "size",
    "imagebot",
    "floor",
    "unit",
    "ratio",
    "target",
    "",
    "peak RSS MB",
    "note",
]


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (what the README and ``bench/results.md`` show)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(rows: Sequence[Row], path: Path = RESULTS) -> None:
    path.write_text(
        "# Benchmark results\n\n"
        "Written by `./dev bench` (`python -m bench`); ratios are imagebot / floor, measured in\n"
        "the same run on the same input (`python -m bench NAME ...` replaces the rows of the\n"
        "benchmarks named, keeping the others, from `bench/results.json`). Do not edit by hand.\n\n"
        + table(rows)
    )


def load_rows(path: Path = RESULTS_DATA) -> dict[str, list[Row]]:
    """The rows last written, by benchmark name (none when the file is missing)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {name: [Row(**fields) for fields in rows] for name, rows in data.items()}


def save_rows(by_name: dict[str, list[Row]], order: Sequence[str]) -> None:
    """Write ``results.json`` and ``results.md``, the benchmarks in *order*."""
    names = [n for n in order if n in by_name]
    RESULTS_DATA.write_text(
        json.dumps({n: [dataclasses.asdict(r) for r in by_name[n]] for n in names}, indent=1) + "\n"
    )
    write_results([row for n in names for row in by_name[n]])


def median_of(rounds: int, fn: Callable[[], object], *, cpu: bool = False) -> float:
    """Median seconds of *rounds* calls of *fn* (process CPU time when *cpu*)."""
    clock = time.process_time if cpu else time.perf_counter
    samples = []
    for _ in range(rounds):
        start = clock()
        fn()
        samples.append(clock() - start)
    return statistics.median(samples)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB.

    Linux's ``VmHWM`` (this program's own memory map), not ``ru_maxrss``: the latter keeps
    the high-water mark from before ``exec``, so a case's child process started by a bench
    process that had grown to 200 MB would report 200 MB whatever it used itself."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
