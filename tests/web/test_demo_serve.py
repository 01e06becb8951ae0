"""``imagebot demo --serve`` (``./dev demo --serve``): after the story, the registry and
``imagebot run`` keep going, the dashboard URL is printed and new tags keep arriving."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.test_demo import demo_env

pytestmark = pytest.mark.slow


def test_serve_prints_the_dashboard_and_pushes_tags_until_ctrl_c(tmp_path: Path):
    workdir = tmp_path / "work"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagebot",
            "demo",
            "--workdir",
            str(workdir),
            "--serve",
            "--push-every",
            "2",
        ],
        cwd=tmp_path,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    url = None
    try:
        for line in process.stdout:
            seen.append(line)
            found = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
            if url and "pushed ghcr.io/stefanprodan/podinfo:6.15.1" in line:
                break
        assert url, "".join(seen)
        deadline = time.monotonic() + 60
        rows: list[dict[str, object]] = []
        while not rows:
            assert time.monotonic() < deadline, "the dashboard never listed a workload"
            try:
                answer = httpx.get(url + "api/v1/workloads")
            except httpx.TransportError:
                answer = None
            rows = answer.json()["rows"] if answer and answer.status_code == 200 else []
            time.sleep(0.5)
        page = httpx.get(url)
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=60)[0]

    assert page.status_code == 200
    # named by the namespace it lands in (its manifest has none): default, as fluxctl did
    assert "default:deployment/orders" in page.text
    assert {r["workload"] for r in rows} >= {"default:deployment/orders"}
    assert process.returncode == 130, "".join(seen) + rest
    assert not workdir.exists()
