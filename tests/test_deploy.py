"""The container image and the Kubernetes manifests agree with each other and with the code.

No Docker engine or cluster runs here, so these check what can be checked statically: every
manifest parses, the config in the ConfigMap validates against the real schema, the
Deployment's probes and ports point at endpoints the service really serves, and the
Dockerfile runs `imagebot run` as a non-root user with a health check on /healthz.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from imagebot.config import parse_config
from imagebot.service.http import GET_ROUTES, parse_listen

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def load_all(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc is not None]


def kustomization() -> dict[str, Any]:
    (doc,) = load_all(DEPLOY / "kustomization.yaml")
    return doc


def resources() -> dict[str, dict[str, Any]]:
    out = {}
    for name in kustomization()["resources"]:
        for doc in load_all(DEPLOY / name):
            out[doc["kind"]] = doc
    return out


def container() -> dict[str, Any]:
    (only,) = resources()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def config_text() -> str:
    (generator,) = kustomization()["configMapGenerator"]
    (file,) = generator["files"]
    return (DEPLOY / file).read_text()


def test_every_file_in_deploy_is_listed_in_the_kustomization():
    listed = set(kustomization()["resources"]) | set(
        kustomization()["configMapGenerator"][0]["files"]
    )
    present = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_the_kustomization_has_what_the_issue_asks_for():
    kinds = set(resources())
    assert {"Deployment", "ServiceAccount", "Service", "PodMonitor"} <= kinds
    assert kustomization()["configMapGenerator"][0]["name"] == "imagebot-config"


def test_the_config_map_config_is_a_valid_imagebot_config():
    config = parse_config(config_text(), file="deploy/config.yaml")
    assert config.repositories, "the example config must show a repository"
    assert config.service.webhooks


def test_probes_point_at_endpoints_the_service_serves():
    spec = container()
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz"} <= set(GET_ROUTES)


def test_probe_ports_and_container_port_match_the_configured_listen_port():
    spec = container()
    config = parse_config(config_text())
    _, port = parse_listen(config.service.listen)
    (http,) = spec["ports"]
    assert http["containerPort"] == port
    assert spec["livenessProbe"]["httpGet"]["port"] == http["name"]
    assert spec["readinessProbe"]["httpGet"]["port"] == http["name"]
    service = resources()["Service"]
    assert service["spec"]["ports"][0]["targetPort"] == http["name"]
    monitor = resources()["PodMonitor"]["spec"]["podMetricsEndpoints"][0]
    assert (monitor["port"], monitor["path"]) == (http["name"], "/metrics")
    assert "/metrics" in GET_ROUTES


def test_the_deployment_runs_non_root_with_a_read_only_root_filesystem():
    pod = resources()["Deployment"]["spec"]["template"]["spec"]
    spec = container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["resources"]["requests"]["cpu"]
    assert spec["resources"]["requests"]["memory"]
    writable = {m["mountPath"] for m in spec["volumeMounts"] if not m.get("readOnly")}
    env = {e["name"]: e.get("value") for e in spec["env"]}
    assert env["IMAGEBOT_STATE_DIR"] in writable, "the state dir must be writable"
    assert "/tmp" in writable


def test_the_deployment_user_matches_the_dockerfile_user():
    pod = resources()["Deployment"]["spec"]["template"]["spec"]
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, re.M)
    assert user is not None
    assert int(user.group(1)) == pod["securityContext"]["runAsUser"] != 0


def test_the_deployment_mounts_the_config_where_the_image_expects_it():
    env_line = re.search(r"IMAGEBOT_CONFIG=(\S+)", DOCKERFILE)
    assert env_line is not None
    spec = container()
    env = {e["name"]: e.get("value") for e in spec["env"]}
    assert env["IMAGEBOT_CONFIG"] == env_line.group(1)
    mounts = {m["mountPath"] for m in spec["volumeMounts"]}
    assert env_line.group(1) in mounts


def test_secrets_referenced_by_the_config_are_mounted_or_in_the_environment():
    config = parse_config(config_text())
    spec = container()
    mounts = [m["mountPath"] for m in spec["volumeMounts"]]
    env = {e["name"] for e in spec["env"]}
    for repo in config.repositories:
        for path in (repo.credentials.ssh_key_file, repo.credentials.known_hosts_file):
            if path:
                assert any(path.startswith(m + "/") for m in mounts), path
        if repo.pull_request.token_env:
            assert repo.pull_request.token_env in env
    for hook in config.service.webhooks.values():
        if hook.secret_env:
            assert hook.secret_env in env


def test_the_dockerfile_runs_imagebot_run_as_non_root_with_a_healthcheck():
    assert re.search(r'^ENTRYPOINT \["imagebot"\]$', DOCKERFILE, re.M)
    assert re.search(r'^CMD \["run"\]$', DOCKERFILE, re.M)
    assert "/healthz" in DOCKERFILE.split("HEALTHCHECK", 1)[1].splitlines()[1]
    assert re.search(r"apt-get install .*\bgit\b.*\bopenssh-client\b", DOCKERFILE)
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(stages) == 2, "multi-stage: build wheels, then a slim runtime"
    assert all("slim" in image for image in stages)


@pytest.mark.parametrize("port_source", ["EXPOSE", "HEALTHCHECK"])
def test_the_dockerfile_port_is_the_default_listen_port(port_source: str):
    from imagebot.config import ServiceConfig

    _, default_port = parse_listen(ServiceConfig().listen)
    if port_source == "EXPOSE":
        assert re.search(rf"^EXPOSE {default_port}$", DOCKERFILE, re.M)
    else:
        assert f"127.0.0.1:{default_port}/healthz" in DOCKERFILE


def test_the_deployment_starts_as_written(tmp_path: Path) -> None:
    """The container's command (the image's ENTRYPOINT, as the Deployment sets none), args
    and environment exactly as written, with the Secrets the README's quickstart creates
    (the optional webhook Secret it leaves out) and the volumes at temporary directories:
    the service starts, serves /healthz, and exits 0 on SIGTERM.

    Two things differ from the cluster, because tests stay on 127.0.0.1: mount paths map to
    temporary directories (in the environment and the config file alike), and the config's
    listen address is a free loopback port.
    """
    import os
    import signal
    import socket
    import subprocess
    import time

    import httpx

    spec = container()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.M).group(1))
    argv = [*(spec.get("command") or entrypoint), *spec["args"]]
    assert argv[0] == "imagebot"
    argv[0] = str(ROOT / ".venv" / "bin" / "imagebot")

    mounts = {m["mountPath"]: tmp_path / m["name"] for m in spec["volumeMounts"]}

    pattern = re.compile(
        "|".join(re.escape(p) for p in sorted(mounts, key=len, reverse=True)) + r"(?=/|\b|$)"
    )

    def mapped(text: str) -> str:
        return pattern.sub(lambda m: str(mounts[m.group(0)]), text)

    git = mounts["/etc/imagebot/git"]
    git.mkdir()
    (git / "identity").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (git / "known_hosts").write_text("github.com ssh-ed25519 AAAA\n")
    secrets = {("imagebot-git", "token"): "forge-token"}  # README quickstart, step 2
    for path in mounts.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = mapped(config_text()).replace("0.0.0.0:8080", f"127.0.0.1:{port}")
    mounts["/etc/imagebot/config.yaml"].write_text(config)

    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    for entry in spec["env"]:
        if "value" in entry:
            env[entry["name"]] = mapped(entry["value"])
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        value = secrets.get((ref["name"], ref["key"]))
        if value is None:
            assert ref.get("optional"), f"{entry['name']}: a Secret the quickstart never creates"
            continue
        env[entry["name"]] = value
    Path(env["IMAGEBOT_STATE_DIR"]).mkdir(parents=True, exist_ok=True)
    log = tmp_path / "pod.log"
    with log.open("wb") as stderr:
        pod = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=stderr,
                               stdout=subprocess.DEVNULL, cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and pod.poll() is None and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
        assert healthy, f"exit {pod.poll()}:\n{log.read_text()}"
        lines = log.read_text().splitlines()
        assert lines, "no log lines"
        assert all(line.startswith("{") for line in lines), lines  # JSON logs
        assert "webhook receiver dockerhub is off" in log.read_text()
    finally:
        pod.send_signal(signal.SIGTERM)
        status = pod.wait(60)
    assert status == 0, log.read_text()


# --- deploy/ha: several replicas on PostgreSQL -------------------------------------------

HA = DEPLOY / "ha"


def ha_kustomization() -> dict[str, Any]:
    (doc,) = load_all(HA / "kustomization.yaml")
    return doc


def ha_patch() -> dict[str, Any]:
    (patch,) = ha_kustomization()["patches"]
    (doc,) = load_all(HA / patch["path"])
    return doc


def test_the_ha_overlay_builds_on_deploy_and_lists_every_file_of_its_own():
    doc = ha_kustomization()
    assert "../" in doc["resources"]
    (generator,) = doc["configMapGenerator"]
    assert (generator["name"], generator["behavior"]) == ("imagebot-config", "replace")
    listed = (
        {r for r in doc["resources"] if r != "../"}
        | set(generator["files"])
        | {p["path"] for p in doc["patches"]}
    )
    assert listed == {p.name for p in HA.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_ha_config_takes_the_database_url_from_a_secret_in_the_environment():
    config = parse_config((HA / "config.yaml").read_text(), file="deploy/ha/config.yaml")
    assert config.state.url is None
    assert config.state.url_env
    (container,) = ha_patch()["spec"]["template"]["spec"]["containers"]
    assert container["name"] == container_name()
    env = {e["name"]: e for e in container["env"]}
    secret = env[config.state.url_env]["valueFrom"]["secretKeyRef"]
    assert secret["key"] == "url"
    assert secret["name"] in (HA / "kustomization.yaml").read_text()


def test_the_ha_config_is_the_base_config_plus_the_shared_store():
    base = parse_config(config_text())
    ha = parse_config((HA / "config.yaml").read_text())
    assert ha.repositories == base.repositories
    assert ha.service == base.service
    assert ha.registries == base.registries


def test_the_ha_overlay_runs_three_replicas_that_roll_and_a_budget_keeps_two():
    spec = ha_patch()["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    (budget,) = load_all(HA / "poddisruptionbudget.yaml")
    assert budget["kind"] == "PodDisruptionBudget"
    assert budget["spec"]["maxUnavailable"] == 1
    labels = resources()["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_single_replica_deployment_stays_one_replica_recreated():
    spec = resources()["Deployment"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"


def test_the_image_ships_the_postgresql_client():
    assert re.search(r'pip wheel .*"\.\[postgresql\]"', DOCKERFILE)


def container_name() -> str:
    return str(container()["name"])
