"""The demo's story, step by step: registry, repository, new releases, one scan, the commit.

Every imagebot step is the installed ``imagebot`` command run as a subprocess, printed so it
can be copied; the demo itself only plays the parts of the outside world (a registry that
gets new releases, a Git forge, the user who annotated the manifests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from imagebot.demo import scenario
from imagebot.demo.gitrepo import create_forge, git, isolated_env
from imagebot.demo.outcome import Outcome, foreign_changes, outcomes
from imagebot.demo.registry import LocalRegistry, start_registry
from imagebot.demo.show import INDENT, Show
from imagebot.errors import ImagebotError
from imagebot.manifests import discover


class StepFailed(ImagebotError):
    """An imagebot command of the demo did not do what the demo expects."""


class Demo:
    """One run of the demo in *workdir* (which the caller creates and removes)."""

    def __init__(self, workdir: Path, show: Show, *, examples: Path = scenario.EXAMPLES) -> None:
        self.workdir = workdir
        self.show = show
        self.examples = examples
        self.registry: LocalRegistry | None = None
        self.build_times: dict[tuple[str, str], datetime] = scenario.release_times()
        self.config = workdir / "imagebot.yaml"
        self.checkout = workdir / "checkout"
        self.bare = workdir / "forge" / "gitops.git"
        self.forge_url = ""
        self.imagebot = _imagebot_command()

    # --- the story -------------------------------------------------------------------------

    def run(self) -> bool:
        """All steps; True when the bot did exactly what the demo expects."""
        started = time.monotonic()
        self.start_registry()
        self.build_repository()
        self.list_images()
        self.release_new_tags()
        self.scan()
        self.show_commit()
        self.history()
        good = self.explain()
        self.show.console.print()
        self.show.note(f"Demo finished in {time.monotonic() - started:.1f} s.")
        return good

    def stop(self) -> None:
        if self.registry is not None:
            self.registry.stop()
            self.registry = None

    def start_registry(self) -> None:
        self.show.step(1, "A local registry stands in for Docker Hub and GHCR")
        self.registry = start_registry(self.workdir / "registry")
        self.show.say(
            f"docker-registry (CNCF Distribution) is listening on {self.registry.host}, "
            "loopback only, storage in memory."
        )
        self.show.say("It gets the tags the manifests use today, with their build times:")
        rows = []
        for release in scenario.RELEASES:
            self._push(release.repository, release.existing)
            rows.append((release.repository, "  ".join(release.existing)))
        self.show.table(("IMAGE", "TAGS"), rows)

    def build_repository(self) -> None:
        self.show.step(2, "A GitOps repository, as a team would have it")
        upstream = scenario.upstream_files(self.examples)
        with_policies = scenario.with_policies(upstream)
        self.forge_url = create_forge(
            self.bare,
            self.checkout,
            [
                ("Add sock-shop and podinfo manifests (unchanged from upstream)", upstream),
                ("Let imagebot update some images", with_policies),
            ],
        )
        self.show.say(f"The forge is a bare Git repository: {self.forge_url}")
        self.show.say(f"Your clone of it: {self.checkout}")
        self.show.say(
            "Commit 1 adds real manifests from sock-shop (Argo CD's example apps) and podinfo."
        )
        self.show.say("Commit 2 is all it takes to hand images to imagebot:")
        self.show.say("- imagebot.io annotations on front-end and cache, with a semver range each;")
        self.show.say("- Flux v1 fluxcd.io annotations on carts and orders (orders also locked),")
        self.show.say("  read exactly as Flux v1 read them;")
        self.show.say("- a $imagepolicy marker on podinfo's kustomize images: entry, naming the")
        self.show.say("  policy in policies/podinfo.yaml (Flux v2's way);")
        self.show.say("- nothing on catalogue: imagebot leaves it to people.")
        self._git(self.checkout, "show", "--oneline", "--unified=1", "HEAD")

    def list_images(self) -> None:
        self.show.step(3, "What imagebot sees in the repository")
        self._imagebot("list-images", "--repo", str(self.checkout))

    def release_new_tags(self) -> None:
        self.show.step(4, "New releases arrive in the registry")
        rows = []
        for release in scenario.RELEASES:
            self._push(release.repository, release.newer)
            rows.append((release.repository, "  ".join(release.newer)))
        self.show.table(("IMAGE", "NEW TAGS"), rows)
        self.show.note("Some fit the policies; some are prereleases, another variant or a major.")

    def scan(self) -> None:
        assert self.registry is not None
        self.show.step(5, "imagebot scan: one update cycle, the same one `imagebot run` repeats")
        self.config.write_text(_config_text(self.registry.url, self.workdir / "state"))
        self.show.say(f"With this configuration ({self.config}):")
        self.show.output(self.config.read_text())
        self._imagebot("scan", "--repo", self.forge_url, "--config", str(self.config))

    def show_commit(self) -> None:
        self.show.step(6, "The bot's commit, pulled into your clone")
        self.show.command(["git", "pull"])
        git(self.checkout, "pull", "-q", "--ff-only")
        self._git(self.checkout, "show", "--stat", "--patch", "HEAD")

    def history(self) -> None:
        self.show.step(7, "imagebot history: every update it made, from its state store")
        self._imagebot("history", "--config", str(self.config))

    def explain(self) -> bool:
        self.show.step(8, "What happened, and why")
        found = discover(self.checkout)
        results = outcomes(found.sites, self.build_times)
        for outcome in results:
            _explain(self.show, outcome)
        diff = git(self.checkout, "diff", "--no-color", "-U0", "HEAD~1", "HEAD")
        foreign = foreign_changes(diff, results)
        for line in foreign:
            self.show.item("✘", f"changed, but not an image tag: {line}", "bold red")
        good = all(o.ok for o in results) and not foreign
        if good:
            self.show.console.print()
            self.show.say(
                "Only the image values changed: comments, quoting and indentation are as they were."
            )
            self.show.say(
                "Next: `imagebot list-images --repo PATH` on your own repository, then "
                "`imagebot scan --repo URL --dry-run`."
            )
        else:
            self.show.error("The bot did not do what the demo expects (see the ✘ lines).")
        return good

    # --- serving: ./dev demo --serve ----------------------------------------------------------

    def serve(self, *, every: float = 60.0, port: int = 0) -> None:
        """Keep the registry and ``imagebot run`` going, print the dashboard URL, and push a
        new tag every *every* seconds so the view moves; returns on Ctrl-C (or SIGTERM)."""
        import itertools
        import secrets

        from imagebot.web.auth import hash_token

        assert self.registry is not None
        self.show.step(7, "imagebot run: the bot as a service, with its Deploy view")
        token = secrets.token_urlsafe(16)
        users = self.workdir / "users.yaml"
        users.write_text(f"demo: {hash_token(token)}\n")
        port = port or _free_port()
        config = self.workdir / "imagebot-run.yaml"
        config.write_text(
            _config_text(self.registry.url, self.workdir / "state")
            + "repositories:\n"
            + f"  - url: {self.forge_url}\n"
            + "    name: demo\n"
            + "service:\n"
            + f"  listen: 127.0.0.1:{port}\n"
            + "  interval: 20s\n"
            + "  cycle_interval: 20s\n"
            + "  shutdown_timeout: 5s\n"
            + "web:\n"
            + "  anonymous_read: true\n"
            + f"  users_file: {users}\n"
        )
        shown, argv = self.imagebot
        self.show.command([*shown, "run", "--config", str(config)])
        log = (self.workdir / "imagebot-run.log").open("w")
        process = subprocess.Popen(
            [*argv, "run", "--config", str(config)],
            cwd=self.workdir,
            env=isolated_env() | {"DOCKER_CONFIG": str(self.workdir / "docker")},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/healthz", process, log.name)
            self.show.say(f"Dashboard: http://127.0.0.1:{port}/  (sign in with token {token})")
            self.show.note(
                f"Service log: {log.name}. A new podinfo tag arrives every "
                f"{every:.0f} s; Ctrl-C stops everything."
            )
            for minor in itertools.count(1):
                deadline = time.monotonic() + every
                while time.monotonic() < deadline:
                    if process.poll() is not None:
                        raise StepFailed(
                            f"imagebot run exited with status {process.returncode}",
                            hint=f"its log: {log.name}",
                        )
                    time.sleep(0.5)
                tag = f"6.15.{minor}"
                self.registry.push("ghcr.io/stefanprodan/podinfo", [tag])
                self.show.say(f"pushed ghcr.io/stefanprodan/podinfo:{tag}")
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()

    # --- helpers ---------------------------------------------------------------------------

    def _push(self, repository: str, tags: Sequence[str]) -> None:
        assert self.registry is not None
        for tag in tags:
            self.registry.push(repository, [tag], created=self.build_times[(repository, tag)])

    def _imagebot(self, *args: str) -> str:
        """Run the installed CLI, show the command and its output; fail on a non-zero exit."""
        shown, argv = self.imagebot
        self.show.command([*shown, *args])
        env = isolated_env() | {"DOCKER_CONFIG": str(self.workdir / "docker")}
        if self.show.console.is_terminal:  # its tables fit beside the output's indentation
            env["COLUMNS"] = str(max(self.show.console.width - len(INDENT * 2), 60))
        result = subprocess.run(
            [*argv, *args],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        self.show.output(result.stdout)
        # Logs go to stderr: warnings and errors are worth seeing, progress lines are not.
        noteworthy = [ln for ln in result.stderr.splitlines() if not ln.startswith("info: ")]
        if noteworthy:
            self.show.output("\n".join(noteworthy))
        if result.returncode != 0:
            raise StepFailed(
                f"imagebot {args[0]} exited with status {result.returncode}",
                hint="its output is above; run the demo with --keep to look at the files",
            )
        return result.stdout

    def _git(self, repo: Path, command: str, *args: str) -> None:
        """Show a git command (diff or show) and its output, as in a terminal."""
        self.show.command(["git", command, *args])
        self.show.output(git(repo, command, "--no-color", *args), diff=True)


def _explain(show: Show, outcome: Outcome) -> None:
    workload = outcome.workload
    where = f"{workload.name} ({workload.file})"
    policy = f"{workload.how}, {workload.policy}" if workload.policy else workload.how
    if not outcome.ok:
        now = f"Git has {outcome.now}" if outcome.now else "imagebot finds no such image there"
        show.item("✘", f"{where}: expected {outcome.expected}, but {now}", "bold red")
        return
    if outcome.moved:
        detail = [f"not {line}" for line in outcome.passed_over]
        show.item("✔", f"{where}: {workload.tag} → {outcome.now}  [{policy}]", "green", detail)
        return
    detail = []
    if workload.detail:
        released = ", ".join(outcome.released)
        detail.append(
            workload.detail.format(released=released, would=outcome.would, policy=workload.policy)
        )
    show.item("•", f"{where}: stays {workload.tag}, {workload.why}", "yellow", detail)


def _config_text(registry_url: str, state_dir: Path) -> str:
    return (
        f"state_dir: {state_dir}\n"
        "registries:\n"
        "  # The local registry answers for both hosts: a mirror URL's path is a repository\n"
        "  # prefix, so docker.io/weaveworksdemos/carts is read from\n"
        f"  # {registry_url}/v2/docker.io/weaveworksdemos/carts/tags/list.\n"
        "  docker.io:\n"
        f"    mirror: {registry_url}/docker.io\n"
        "  ghcr.io:\n"
        f"    mirror: {registry_url}/ghcr.io\n"
    )


def _imagebot_command() -> tuple[list[str], list[str]]:
    """(what to print, what to run): the ``imagebot`` script installed next to this Python."""
    script = Path(sys.executable).parent / "imagebot"
    if not (script.is_file() and os.access(script, os.X_OK)):
        return ["python", "-m", "imagebot"], [sys.executable, "-m", "imagebot"]
    on_path = shutil.which("imagebot")
    if on_path and Path(on_path).resolve() == script.resolve():
        return ["imagebot"], [str(script)]
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    return [shown if "/" in shown else f"./{shown}"], [str(script)]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], log: str, timeout: float = 60) -> None:
    """Until *url* answers (the service listens), or StepFailed."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise StepFailed(
                f"imagebot run exited with status {process.returncode}", hint=f"its log: {log}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise StepFailed("imagebot run did not start listening", hint=f"its log: {log}")
        time.sleep(0.2)
