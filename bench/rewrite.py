"""Rewriting changed files: ``manifests.apply()`` against read, splice, write of the same bytes.

1,000 real files (the corpus, replicated as in :mod:`bench.discovery`), one tag changed in
each file that has a tagged site. imagebot's figure is :func:`imagebot.manifests.apply`: the
splice at discovery's offsets, the proof that only the value changed (from the bytes, or by
reading the file again), the atomic write (temporary file, fsync, rename). The floor reads
each file, splices the new tag at the same byte offsets and writes it the way a tool that
may never leave half a manifest must: a temporary file, fsync, rename. CPU seconds, median
of ``--rounds``; the files are put back between rounds (not timed). The parse count is also
checked: at most two per changed file over discovery plus rewrite. The note gives the ratio
against a floor that writes in place without fsync (faster, and a crash can leave a torn
file), and what libyaml (PyYAML's ``CSafeLoader``) takes to compose the changed files once,
against that floor: the least any full re-read of the result costs.

A second row, without a target, is the rewrite as a cycle makes it: read each file and
:func:`imagebot.manifests.rewrite` it in memory (splice, proof); the cycle hands the bytes
to Git, so no file is written. Its floor is the in-place one, which also writes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import Row, median_of, peak_rss_mb, table
from bench.discovery import build_tree, yaml_files

TARGET = 2.0


def _edits(root: Path) -> list:
    """One tag change per file with a tagged site (the first one the rewriter accepts)."""
    from imagebot.manifests import Edit, discover, rewrite

    chosen: dict[str, Edit] = {}
    for site in discover(root).sites:
        tag = site.part("tag") or site.part("image")
        if site.file in chosen or site.error or site.tag is None or tag is None:
            continue
        if site.digest is not None:
            continue
        edit = Edit(site, site.tag + "-bench")
        if rewrite((root / site.file).read_bytes(), [edit]).applied:
            chosen[site.file] = edit
    return list(chosen.values())


def measure(size: int, rounds: int) -> list[Row]:
    from imagebot.manifests import apply, rewrite
    from imagebot.manifests import yamlsource as ys

    with tempfile.TemporaryDirectory(prefix="imagebot-bench-rewrite-") as tmp:
        root = build_tree(Path(tmp), size)
        originals = {p: p.read_bytes() for p in yaml_files(root)}

        def restore() -> None:
            for path, data in originals.items():
                path.write_bytes(data)

        composed = 0
        real = ys.compose

        def counting(text: str) -> list:
            nonlocal composed
            composed += 1
            return real(text)

        ys.compose = counting  # type: ignore[assignment]
        edits = _edits(root)
        after_discovery = composed
        files = sorted({e.site.file for e in edits})

        def ours() -> None:
            changes = apply(root, edits)
            assert sum(c.changed for c in changes) == len(files), "an edit was refused"

        by_file: dict[str, list] = {}
        for edit in edits:
            by_file.setdefault(edit.site.file, []).append(edit)

        def in_memory() -> None:  # what a cycle does: Git, not apply(), writes the result
            for file, group in by_file.items():
                result = rewrite((root / file).read_bytes(), group)
                assert len(result.applied) == len(group), "an edit was refused"

        def splices() -> list[tuple[Path, bytes]]:
            out = []
            for edit in edits:
                part = edit.site.part("tag") or edit.site.part("image")
                assert part is not None
                path = root / edit.site.file
                data = path.read_bytes()
                old = data[part.start : part.end]
                new = old.replace(edit.site.tag.encode(), edit.new_tag.encode())  # type: ignore[union-attr]
                out.append((path, data[: part.start] + new + data[part.end :]))
            return out

        def floor() -> None:  # the same write as apply(): temporary file, fsync, rename
            for path, data in splices():
                tmp = f"{path}.floor"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, path)

        def floor_in_place() -> None:
            for path, data in splices():
                path.write_bytes(data)

        def reread() -> None:
            import yaml

            for file in files:
                for _ in yaml.compose_all((root / file).read_bytes(), Loader=yaml.CSafeLoader):
                    pass

        samples_ours, samples_floor, samples_reread, samples_memory = [], [], [], []
        samples_in_place = []
        for n in range(rounds):
            # fsync's CPU cost drifts with the disk's backlog: the two sides take turns
            # going first, so that neither always follows the other's writes
            sides = [(samples_ours, ours), (samples_floor, floor)]
            for samples, side in sides if n % 2 == 0 else sides[::-1]:
                restore()
                samples.append(median_of(1, side, cpu=True))
            restore()
            samples_in_place.append(median_of(1, floor_in_place, cpu=True))
            samples_reread.append(median_of(1, reread, cpu=True))
        per_file = (composed - after_discovery) / rounds / len(files)
        ys.compose = real  # type: ignore[assignment]
        restore()
        for _ in range(rounds):
            samples_memory.append(median_of(1, in_memory, cpu=True))
    floor_median = statistics.median(samples_floor)
    in_place = statistics.median(samples_in_place)
    ours_median = statistics.median(samples_ours)
    reread_median = statistics.median(samples_reread)
    size_text = f"{len(files):,} changed files"
    return [
        Row(
            "rewrite",
            size_text,
            ours_median,
            floor_median,
            TARGET,
            peak_rss_mb=peak_rss_mb(),
            unit="CPU s",
            note=f"apply() and the floor: temporary file, fsync, rename; parses per changed "
            f"file: 1 in discovery + {per_file:.2f} in rewrite; against writing in place "
            f"without fsync: {ours_median / in_place:.1f}x (libyaml composing the changed "
            f"files alone: {reread_median / in_place:.1f}x)",
        ),
        Row(
            "rewrite, in memory (as a cycle)",
            size_text,
            statistics.median(samples_memory),
            in_place,
            None,
            peak_rss_mb=peak_rss_mb(),
            unit="CPU s",
            note="read + rewrite(): splice and proof, no file written (Git commits the "
            "bytes); floor: read, splice, write in place",
        ),
    ]


def rows(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench rewrite")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="100 files, 1 round")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.size, args.rounds = 100, 1
    return _in_child(args.size, args.rounds)


def _in_child(size: int, rounds: int) -> list[Row]:
    """The cases in a fresh interpreter, so that their peak RSS is their own."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "bench.rewrite", "--child", str(size), str(rounds)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return [Row(**fields) for fields in json.loads(out.stdout.strip().splitlines()[-1])]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        import dataclasses
        import json

        rows = measure(int(argv[1]), int(argv[2]))
        print(json.dumps([dataclasses.asdict(row) for row in rows]))
        return 0
    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
