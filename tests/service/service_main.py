"""A service process for the shutdown test: ``python service_main.py CONFIG JOURNAL``.

Its one repository's cycle is slow (20 steps of 0.1 s) and checks the cancel event between
steps, as the real cycle must; every step is appended to JOURNAL so the test can tell where
the cycle stopped.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from imagebot.cli.common import setup_logging
from imagebot.config import RepositoryConfig, load_config
from imagebot.service.app import Service
from imagebot.service.types import CycleOutcome, ScanOutcome


def main() -> int:
    config = load_config(sys.argv[1])
    journal = Path(sys.argv[2])

    def note(text: str) -> None:
        with journal.open("a") as f:
            f.write(text + "\n")

    def run_cycle(repo: RepositoryConfig, cancel: threading.Event) -> CycleOutcome:
        for step in range(20):
            if cancel.is_set():
                note(f"stopped before step {step}")
                return CycleOutcome(repo.display_name, completed=False)
            note(f"step {step}")
            time.sleep(0.1)
        note("finished")
        return CycleOutcome(repo.display_name)

    def scan_images(repositories: list[str], *, fresh: bool = False) -> dict[str, ScanOutcome]:
        return {image: ScanOutcome(image) for image in repositories}

    setup_logging("json")
    service = Service(
        config, scan_images=scan_images, run_cycle=run_cycle, images_for=lambda repo: ["nginx"]
    )
    status = service.run_forever()
    note(f"exit {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
