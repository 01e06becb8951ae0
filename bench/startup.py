"""Start-up of offline commands against the interpreter's own start-up plus click's import.

Each round runs, one after the other, the floor (``python -c "import click"``) and every case
as a new process with the same interpreter, and reads the CPU time (user + system) the child
used, which a busy machine disturbs less than wall time. imagebot's bytecode is compiled
first, as ``pip install`` compiles it and click's: a process that compiles its modules from
source each time (``PYTHONDONTWRITEBYTECODE`` on a source checkout) measures the compiler.
The ratio is each case's median over the floor's median; the issue's target is 2x for
``--help``, ``--version``, ``policy test`` and a shell-completion keystroke.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import Row

TARGET = 2.0
FLOOR = ("-c", "import click")
_ENVIRON = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _imagebot() -> list[str]:
    """The console script beside this interpreter, as a user runs it; else ``-m imagebot``."""
    script = Path(sys.executable).with_name("imagebot")
    if script.exists():
        return [str(script)]
    found = shutil.which("imagebot")
    return [found] if found else [sys.executable, "-m", "imagebot"]


def cases() -> list[tuple[str, list[str], dict[str, str]]]:
    imagebot = _imagebot()
    complete = {"_IMAGEBOT_COMPLETE": "bash_complete", "COMP_WORDS": "imagebot po"}
    return [
        ("imagebot --help", [*imagebot, "--help"], {}),
        ("imagebot --version", [*imagebot, "--version"], {}),
        (
            "imagebot policy test (3 tags)",
            [*imagebot, "policy", "test", "semver:~1.2", "1.2.3", "1.2.4", "1.3.0"],
            {},
        ),
        ("completion keystroke (imagebot po<TAB>)", imagebot, {**complete, "COMP_CWORD": "1"}),
    ]


def _compile_imagebot() -> None:
    import imagebot

    package = Path(imagebot.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def _cpu(argv: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        argv,
        env={**_ENVIRON, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def rows(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench startup")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.rounds = 3
    _compile_imagebot()
    chosen = cases()
    floor: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name, _, _ in chosen}
    for _ in range(args.rounds):
        floor.append(_cpu([sys.executable, *FLOOR], {}))
        for name, command, env in chosen:
            samples[name].append(_cpu(command, env))
    floor_median = statistics.median(floor)
    return [
        Row(
            f"start-up: {name}",
            "1 process",
            statistics.median(samples[name]),
            floor_median,
            TARGET,
            unit="CPU s",
            note="floor: python -c 'import click'",
        )
        for name, _, _ in chosen
    ]


def main(argv: list[str]) -> int:
    from bench.common import table

    print(table(rows(argv)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
