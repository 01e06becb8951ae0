"""Markers naming a Flux ``ImagePolicy`` behave as in Flux: the policy decides the whole
value, no tag-family rule, digests as ``digestReflectionPolicy`` says; imagebot's own
policies keep imagebot's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from imagebot.manifests import Edit, rewrite
from imagebot.manifests.discovery import scan_bytes
from imagebot.operations.explain import explain
from imagebot.update import Resolved, resolve
from tests.update.helpers import Bot

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def flux_policy(image: str, name: str = "app", *, semver: str = ">=1.0.0", extra: str = "") -> str:
    return (
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\n"
        f"metadata: {{name: {name}, namespace: flux-system}}\nspec: {{image: {image}}}\n---\n"
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\n"
        f"metadata: {{name: {name}, namespace: flux-system}}\n"
        f"spec:\n  imageRepositoryRef: {{name: {name}}}\n"
        f'  policy: {{semver: {{range: "{semver}"}}}}\n' + (f"  {extra}\n" if extra else "")
    )


def workload(value: str, marker: str = "flux-system:app", annotations: str = "") -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
        + (f"  annotations:\n    {annotations}\n" if annotations else "")
        + "spec:\n  template:\n    spec:\n      containers:\n      - name: web\n"
        + f'        image: {value} # {{"$imagepolicy": "{marker}"}}\n'
    )


def update(bot: Bot, *docs: str) -> tuple[str, Resolved]:
    """Discover, resolve and rewrite one file holding *docs*; its new text."""
    data = "---\n".join(docs).encode()
    found = scan_bytes(data)
    assert not found.has_errors, [s.error for s in found.sites] + found.errors
    resolved = bot.runner.run(resolve(found.sites, bot.runner.scanner))
    edits = [Edit(r.site, r.new_tag, r.new_digest, r.new_name) for r in resolved.updates]
    result = rewrite(data, edits)
    assert not result.errors
    return result.content.decode(), resolved


def marked_value(text: str) -> str:
    line = next(line for line in text.splitlines() if "$imagepolicy" in line)
    return line.split("image: ", 1)[1].split(" #", 1)[0]


def test_a_flux_policy_has_no_tag_family_rule(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["v1", "v1.0.1"], created=T0)

    text, _ = update(bot, flux_policy(image), workload(f"{image}:v1"))

    assert marked_value(text) == f"{image}:v1.0.1"


def test_the_same_family_annotation_opts_a_flux_marker_into_families(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["v1", "v1.0.1"], created=T0)
    opt_in = 'imagebot.io/same-family: "true"'

    text, resolved = update(bot, flux_policy(image), workload(f"{image}:v1", annotations=opt_in))

    assert marked_value(text) == f"{image}:v1"
    assert resolved.resolutions[0].status == "up-to-date"


def test_an_imagebot_policy_file_keeps_the_family_rule(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["v1", "v1.0.1"], created=T0)
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\n"
        "metadata: {name: app, namespace: flux-system}\n"
        f"spec: {{image: {image}, policy: 'semver:>=1.0.0'}}\n"
    )

    text, _ = update(bot, policy, workload(f"{image}:v1"))

    assert marked_value(text) == f"{image}:v1"


def test_digest_reflection_makes_the_marked_value_carry_the_digest(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["1.0.0"], created=T0)
    digest = bot.registry.push(f"{repo_name}/app", ["1.0.1"], created=T0 + timedelta(1)).digest
    policy = flux_policy(image, extra="digestReflectionPolicy: IfNotPresent")

    text, resolved = update(bot, policy, workload(f"{image}:1.0.0"))

    assert marked_value(text) == f"{image}:1.0.1@{digest}"
    assert resolved.updates[0].new_digest == digest


def test_digest_reflection_always_follows_a_moved_tag(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    old = bot.registry.push(f"{repo_name}/app", ["1.0.1"], created=T0).digest
    new = bot.registry.push(f"{repo_name}/app", ["1.0.1"], created=T0 + timedelta(1)).digest
    policy = flux_policy(image, extra="digestReflectionPolicy: Always")

    text, _ = update(bot, policy, workload(f"{image}:1.0.1@{old}"))

    assert marked_value(text) == f"{image}:1.0.1@{new}"


def test_digest_reflection_if_not_present_keeps_the_digest_it_has(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    old = bot.registry.push(f"{repo_name}/app", ["1.0.1"], created=T0).digest
    bot.registry.push(f"{repo_name}/app", ["1.0.1"], created=T0 + timedelta(1))
    policy = flux_policy(image, extra="digestReflectionPolicy: IfNotPresent")

    text, resolved = update(bot, policy, workload(f"{image}:1.0.1@{old}"))

    assert marked_value(text) == f"{image}:1.0.1@{old}"
    assert resolved.resolutions[0].status == "up-to-date"


def test_a_digest_marker_on_a_kustomize_digest_is_updated_on_its_own(bot: Bot, repo_name: str):
    app = bot.registry.host + f"/{repo_name}/app"
    pinned = bot.registry.host + f"/{repo_name}/pinned"
    bot.registry.push(f"{repo_name}/app", ["1.0.0", "1.0.1"], created=T0)
    digest = bot.registry.push(f"{repo_name}/pinned", ["2.0.0"], created=T0).digest
    old = "sha256:" + "0" * 64
    kustomization = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n"
        f'- name: app\n  newName: {app} # {{"$imagepolicy": "flux-system:app:name"}}\n'
        '  newTag: 1.0.0 # {"$imagepolicy": "flux-system:app:tag"}\n'
        f'  digest: {old} # {{"$imagepolicy": "flux-system:pinned:digest"}}\n'
    )

    text, resolved = update(bot, flux_policy(app), flux_policy(pinned, "pinned"), kustomization)

    assert "  newTag: 1.0.1 #" in text
    assert f"  digest: {digest} #" in text
    assert sorted(r.site.source for r in resolved.updates) == [
        "marker:flux-system:app",
        "marker:flux-system:pinned",
    ]


def test_a_flux_marker_writes_only_the_values_it_marks(bot: Bot, repo_name: str):
    app = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["1.0.0", "1.0.1"], created=T0)
    kustomization = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n"
        "- name: app\n  newName: elsewhere/app\n"
        '  newTag: 1.0.0 # {"$imagepolicy": "flux-system:app:tag"}\n'
    )

    text, _ = update(bot, flux_policy(app), kustomization)

    assert "  newName: elsewhere/app\n  newTag: 1.0.1 #" in text


def test_explain_lists_the_tags_of_the_image_a_flux_marker_renames_to(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["1.0.0", "1.0.1"], created=T0)
    found = scan_bytes("---\n".join([flux_policy(image), workload("nginx:1.25.3")]).encode())

    (item,) = explain(bot.config, found.sites, runner=bot.runner)

    assert item.resolution.new_name == image
    assert item.tag_count == 2
    assert item.chosen == "1.0.1"


def alphabetical_policy(image: str, exclusions: str = "") -> str:
    return (
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\n"
        "metadata: {name: app, namespace: flux-system}\n"
        f"spec:\n  image: {image}\n{exclusions}---\n"
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\n"
        "metadata: {name: app, namespace: flux-system}\n"
        "spec:\n  imageRepositoryRef: {name: app}\n  policy: {alphabetical: {order: asc}}\n"
    )


def test_signature_tags_are_excluded_as_flux_excludes_them_by_default(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["a", "b", "sha256-0f.sig"], created=T0)

    text, _ = update(bot, alphabetical_policy(image), workload(f"{image}:a"))

    assert marked_value(text) == f"{image}:b"


def test_an_exclusion_list_replaces_flux_default_one(bot: Bot, repo_name: str):
    image = bot.registry.host + f"/{repo_name}/app"
    bot.registry.push(f"{repo_name}/app", ["a", "b", "c-rc", "sha256-0f.sig"], created=T0)
    exclusions = "  exclusionList: ['-rc$']\n"

    text, resolved = update(bot, alphabetical_policy(image, exclusions), workload(f"{image}:a"))

    assert marked_value(text) == f"{image}:sha256-0f.sig"
    assert resolved.resolutions[0].site.exclude == ("-rc$",)
