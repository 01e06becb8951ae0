"""A bot under test: config, store and registry runner in a temporary state directory."""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

from imagebot.config import Config, RepositoryConfig, parse_config
from imagebot.store import Store
from imagebot.update import CycleReport, Runner, UpdateCycle
from tests.gitops.helpers import Remote, git, make_remote
from tests.harness import RegistryServer

IMAGEBOT = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "imagebot")


def deployment(
    name: str,
    image: str,
    *,
    annotations: dict[str, str] | None = None,
    container: str = "app",
    namespace: str = "apps",
) -> bytes:
    """A small Deployment as people write them (with a comment to check it survives)."""
    notes = ""
    if annotations:
        notes = "  annotations:\n" + "".join(
            f'    {key}: "{value}"\n' for key, value in annotations.items()
        )
    return (
        textwrap.dedent(
            f"""\
        # {name}: managed by GitOps
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          namespace: {namespace}
        """
        ).encode()
        + notes.encode()
        + textwrap.dedent(
            f"""\
        spec:
          template:
            spec:
              containers:
                - name: {container}
                  image: {image}   # the app
                  ports:
                    - containerPort: 8080
        """
        ).encode()
    )


def automated(policy: str, container: str = "app") -> dict[str, str]:
    return {"imagebot.io/automated": "true", f"imagebot.io/tag.{container}": policy}


class Bot:
    """Runs update cycles the way ``imagebot scan`` does, against a test registry."""

    def __init__(self, tmp: Path, registry: RegistryServer, config_text: str = "") -> None:
        self.tmp = tmp
        self.registry = registry
        self.state = tmp / "state"
        self.config = parse_config(f"state_dir: {self.state}\n" + config_text)
        self.store = Store.open(self.state / "imagebot.db")
        self.runner = Runner(self.config, self.store)
        self.runner.start()
        self.cycle = UpdateCycle(self.config, self.runner, store=self.store)

    def __enter__(self) -> Bot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.runner.close()
        self.store.close()

    def reconfigure(self, config_text: str) -> None:
        self.close()
        self.__init__(self.tmp, self.registry, config_text)  # type: ignore[misc]

    def remote(self, files: dict[str, bytes], name: str = "fleet") -> Remote:
        where = self.tmp / name
        where.mkdir()
        return make_remote(where, files)

    def run(self, target: Remote | Path | str, **options: Any) -> CycleReport:
        repo_options = {
            k: options.pop(k) for k in list(options) if k in RepositoryConfig.__dataclass_fields__
        }
        if isinstance(target, Remote):
            repo = RepositoryConfig(url=target.url)
        else:
            repo = RepositoryConfig(path=str(target))
        repo = replace(repo, **repo_options)
        return self.cycle.run(repo, **options)

    def image(self, name: str, tag: str) -> str:
        return f"{self.registry.host}/{name}:{tag}"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [IMAGEBOT, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )


def checkout(remote: Remote, where: Path) -> Path:
    git(where.parent, "clone", "-q", remote.url, str(where))
    return where


__all__ = ["Config", "deployment"]


def counting_composes(monkeypatch: Any) -> list[str]:
    """The texts imagebot composes from now on (``yamlsource.compose`` counted, not changed)."""
    from imagebot.manifests import yamlsource

    texts: list[str] = []
    real = yamlsource.compose

    def counting(text: str):  # type: ignore[no-untyped-def]
        texts.append(text)
        return real(text)

    monkeypatch.setattr(yamlsource, "compose", counting)
    return texts
