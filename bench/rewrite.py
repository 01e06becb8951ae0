"""Rewriting changed files: ``manifests.apply()`` against read, splice, write of the same bytes.

1,000 real files (the corpus, replicated as in :mod:`bench.discovery`), one tag changed in
each file that has a tagged site. imagebot's figure is :func:`imagebot.manifests.apply`: the
splice at discovery's offsets, the re-read that proves only the value changed, the atomic
write (temporary file, fsync, rename). The floor reads each file, splices the new tag at the
same byte offsets and writes it in place. CPU seconds, median of ``--rounds``; the files are
put back between rounds (not timed). The parse count is also checked: at most two per changed
file over discovery plus rewrite. The note also gives what libyaml (PyYAML's ``CSafeLoader``)
takes to compose the same files once, against the same floor: the least any re-read that
proves an edit costs, which bounds the ratio from below.
"""

from __future__ import annotations

import argparse
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


def measure(size: int, rounds: int) -> Row:
    from imagebot.manifests import apply
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

        def floor() -> None:
            for edit in edits:
                part = edit.site.part("tag") or edit.site.part("image")
                assert part is not None
                path = root / edit.site.file
                data = path.read_bytes()
                old = data[part.start : part.end]
                new = old.replace(edit.site.tag.encode(), edit.new_tag.encode())  # type: ignore[union-attr]
                path.write_bytes(data[: part.start] + new + data[part.end :])

        def reread() -> None:
            import yaml

            for file in files:
                for _ in yaml.compose_all((root / file).read_bytes(), Loader=yaml.CSafeLoader):
                    pass

        samples_ours, samples_floor, samples_reread = [], [], []
        for _ in range(rounds):
            restore()
            samples_ours.append(median_of(1, ours, cpu=True))
            restore()
            samples_floor.append(median_of(1, floor, cpu=True))
            samples_reread.append(median_of(1, reread, cpu=True))
        per_file = (composed - after_discovery) / rounds / len(files)
        ys.compose = real  # type: ignore[assignment]
    ours_median = sorted(samples_ours)[len(samples_ours) // 2]
    floor_median = sorted(samples_floor)[len(samples_floor) // 2]
    reread_median = sorted(samples_reread)[len(samples_reread) // 2]
    return Row(
        "rewrite",
        f"{len(files):,} changed files",
        ours_median,
        floor_median,
        TARGET,
        peak_rss_mb=peak_rss_mb(),
        unit="CPU s",
        note=f"parses per changed file: 1 in discovery + {per_file:.2f} in rewrite; "
        f"libyaml composing the changed files alone: {reread_median / floor_median:.1f}x the floor",
    )


def rows(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench rewrite")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100 files, 1 round")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.size, args.rounds = 100, 1
    return [_in_child(args.size, args.rounds)]


def _in_child(size: int, rounds: int) -> Row:
    """The case in a fresh interpreter, so that its peak RSS is its own."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "bench.rewrite", "--child", str(size), str(rounds)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return Row(**json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        import dataclasses
        import json

        print(json.dumps(dataclasses.asdict(measure(int(argv[1]), int(argv[2])))))
        return 0
    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
