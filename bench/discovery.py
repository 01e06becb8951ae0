"""Finding images at fleet scale: ``discover()`` against libyaml composing the same files.

The floor is PyYAML's ``CSafeLoader`` composing every YAML file of the tree (read from disk,
nodes dropped as soon as built): the least a tool that looks at YAML structure must do.
imagebot's figure is a whole :func:`imagebot.manifests.discover` (walk, screen, parse, sites,
policies, markers). Both are CPU seconds, median of ``--rounds``, each side in a process of
its own so that peak RSS is its own. Trees: tests/corpus plus /work/shared/corpus (when
present) copied into numbered folders until the size is reached, and /work/shared/realworld
(5,124 files from 20 projects) as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Row, median_of, peak_rss_mb, table

REPO = Path(__file__).resolve().parent.parent
SOURCES = (REPO / "tests" / "corpus", REPO.parent.parent / "shared" / "corpus")
REALWORLD = Path("/work/shared/realworld")
TARGET = 1.5
RSS_LIMIT_MB = 100


def yaml_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        out += [Path(dirpath, f) for f in sorted(filenames) if f.endswith((".yaml", ".yml"))]
    return out


def build_tree(dest: Path, size: int) -> Path:
    """*size* real files: the corpora copied (folders and names kept) as often as needed."""
    files = [(n, src, p) for n, src in enumerate(SOURCES) if src.is_dir() for p in yaml_files(src)]
    made = 0
    copy = 0
    while made < size:
        for n, src, path in files:
            if made == size:
                break
            target = dest / f"copy-{copy:03d}" / f"{n}-{src.name}" / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            made += 1
        copy += 1
    return dest


# --- the two sides, each run in a child process ---------------------------------------------


def _imagebot(root: Path, rounds: int) -> dict[str, float]:
    from imagebot.manifests import discover

    sites = 0

    def once() -> None:
        nonlocal sites
        sites = len(discover(root).sites)

    return {"median": median_of(rounds, once, cpu=True), "rss": peak_rss_mb(), "sites": sites}


def _floor(root: Path, rounds: int) -> dict[str, float]:
    import yaml

    def once() -> None:
        for path in yaml_files(root):
            data = path.read_bytes()
            try:
                for _ in yaml.compose_all(data, Loader=yaml.CSafeLoader):
                    pass
            except yaml.YAMLError:
                pass

    return {"median": median_of(rounds, once, cpu=True), "rss": peak_rss_mb()}


def child(side: str, root: Path, rounds: int) -> dict[str, float]:
    """Run one side in a fresh interpreter; its JSON line is the answer."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.discovery", "--child", side, str(root), str(rounds)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(name: str, size: str, root: Path, rounds: int, repeats: int) -> Row:
    ours, floors = [], []
    rss = floor_rss = 0.0
    for _ in range(repeats):  # alternate, so that a busy moment hits both sides
        a = child("imagebot", root, rounds)
        b = child("floor", root, rounds)
        ours.append(a["median"])
        floors.append(b["median"])
        rss, floor_rss = max(rss, a["rss"]), max(floor_rss, b["rss"])
    note = f"floor RSS {floor_rss:.0f} MB; {a['sites']:.0f} sites"
    return Row(
        name,
        size,
        statistics.median(ours),
        statistics.median(floors),
        TARGET,
        peak_rss_mb=rss,
        unit="CPU s",
        note=note,
    )


def rows(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench discovery")
    parser.add_argument("--sizes", default="1000,10000", help="replicated-corpus sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 files, 1 round, no realworld")
    args, _ = parser.parse_known_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.quick:
        sizes, args.rounds, args.repeats = [200], 1, 1
    out = []
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-discovery-") as tmp:
        for size in sizes:
            root = build_tree(Path(tmp) / str(size), size)
            out.append(measure("discovery", f"{size:,} files", root, args.rounds, args.repeats))
            shutil.rmtree(root)
    if not args.quick and REALWORLD.is_dir():
        count = len(yaml_files(REALWORLD))
        out.append(
            measure(
                "discovery (realworld)", f"{count:,} files", REALWORLD, args.rounds, args.repeats
            )
        )
    if len(sizes) >= 2 and not args.quick:
        small, large = out[0], out[1]
        growth = (large.imagebot / small.imagebot) / (sizes[1] / sizes[0])
        out[1] = Row(
            large.case,
            large.size,
            large.imagebot,
            large.floor,
            large.target,
            large.peak_rss_mb,
            large.unit,
            large.note
            + f"; time per file {growth:.2f}x the {sizes[0]:,}-file run's"
            + f"; RSS limit {RSS_LIMIT_MB} MB",
        )
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        side, root, rounds = argv[1], Path(argv[2]), int(argv[3])
        fn = _imagebot if side == "imagebot" else _floor
        print(json.dumps(fn(root, rounds)))
        return 0
    started = time.perf_counter()
    result = rows(argv)
    print(table(result), end="")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
