"""Headless Chromium for browser tests, driven over the W3C WebDriver protocol.

Debian's ``chromium`` and ``chromium-driver`` (``./dev`` installs them); ``chromedriver``
runs on a free 127.0.0.1 port, spoken to with httpx (no Selenium needed for the dozen
commands the tests use). Chromium starts headless, sandbox off (containers), without GPU,
background networking, component updates, sync or first-run screens, in a fresh profile.
A missing browser fails the test, never skips it.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


class WebDriverError(AssertionError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Element:
    def __init__(self, browser: Browser, ref: str) -> None:
        self.browser, self.ref = browser, ref

    def _path(self, tail: str) -> str:
        return f"/element/{self.ref}/{tail}"

    def click(self) -> None:
        self.browser.command("POST", self._path("click"), {})

    def type(self, text: str) -> None:
        self.browser.command("POST", self._path("value"), {"text": text})

    def clear(self) -> None:
        self.browser.command("POST", self._path("clear"), {})

    @property
    def text(self) -> str:
        return str(self.browser.command("GET", self._path("text")))

    def attribute(self, name: str) -> str | None:
        value = self.browser.command("GET", self._path(f"attribute/{name}"))
        return None if value is None else str(value)


class Browser:
    """One chromedriver and one browser session (share it per test module: start-up costs)."""

    def __init__(self, profile: Path | None = None) -> None:
        for binary in (CHROMIUM, CHROMEDRIVER):
            if not Path(binary).exists() and shutil.which(Path(binary).name) is None:
                raise WebDriverError(
                    f"{binary} is missing: apt-get install chromium chromium-driver"
                )
        self.port = free_port()
        self.driver = subprocess.Popen(
            [shutil.which("chromedriver") or CHROMEDRIVER, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        self.profile = profile or Path(tempfile.mkdtemp(prefix="imagebot-chromium-"))
        self.session: str | None = None
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.http.get("/status").json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                self.close()
                raise WebDriverError("chromedriver did not start")
            time.sleep(0.1)
        answer = self.http.post(
            "/session",
            json={
                "capabilities": {
                    "alwaysMatch": {
                        "browserName": "chrome",
                        "goog:chromeOptions": {
                            "binary": shutil.which("chromium") or CHROMIUM,
                            "args": [*ARGS, f"--user-data-dir={self.profile}"],
                        },
                    }
                }
            },
        ).json()
        if "sessionId" not in answer.get("value", {}):
            self.close()
            raise WebDriverError(f"no browser session: {answer}")
        self.session = answer["value"]["sessionId"]

    def command(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"/session/{self.session}{path}", json=body)
        value = answer.json().get("value")
        if answer.status_code >= 400:
            raise WebDriverError(f"{method} {path}: {value}")
        return value

    def get(self, url: str) -> None:
        self.command("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self.command("GET", "/url"))

    @property
    def source(self) -> str:
        return str(self.command("GET", "/source"))

    def find(self, css: str) -> Element:
        value = self.command("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, value[ELEMENT])

    def find_all(self, css: str) -> list[Element]:
        values = self.command("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, v[ELEMENT]) for v in values]

    def script(self, source: str, *args: Any) -> Any:
        return self.command("POST", "/execute/sync", {"script": source, "args": list(args)})

    def forget_cookies(self) -> None:
        self.command("DELETE", "/cookie")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.command("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            if self.session is not None:
                self.http.delete(f"/session/{self.session}")
        except httpx.HTTPError:
            pass
        finally:
            self.session = None
            self.http.close()
            self.driver.terminate()
            try:
                self.driver.wait(10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
            shutil.rmtree(self.profile, ignore_errors=True)
