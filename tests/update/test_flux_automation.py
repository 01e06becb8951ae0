"""Flux ``ImageUpdateAutomation`` objects in the repository: where markers are written, the
commit's author and message (rendered as Flux renders them), the branch pushed to; imagebot's
own config wins where it says something."""

from __future__ import annotations

from datetime import UTC, datetime

from imagebot.config import CommitConfig
from tests.gitops.helpers import Remote, git
from tests.update.helpers import Bot

T0 = datetime(2024, 1, 1, tzinfo=UTC)

TEMPLATE = """\
Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""


def automation(push: str = "main", template: str = TEMPLATE, path: str = "./apps") -> str:
    body = "\n".join("        " + line for line in template.splitlines())
    return f"""\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      messageTemplate: |
{body}
    push:
      branch: {push}
  update:
    path: {path}
    strategy: Setters
"""


def policy(image: str) -> str:
    return (
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\n"
        f"metadata: {{name: podinfo, namespace: flux-system}}\nspec: {{image: {image}}}\n---\n"
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\n"
        "metadata: {name: podinfo, namespace: flux-system}\n"
        "spec:\n  imageRepositoryRef: {name: podinfo}\n"
        '  policy: {semver: {range: "1.x"}}\n'
    )


def workload(image: str, name: str = "podinfo") -> bytes:
    return (
        "apiVersion: apps/v1\nkind: Deployment\n"
        f"metadata:\n  name: {name}\n  namespace: podinfo\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: podinfod\n"
        f'        image: {image}:1.0.0 # {{"$imagepolicy": "flux-system:podinfo"}}\n'
    ).encode()


def repository(bot: Bot, repo_name: str, auto: str) -> tuple[Remote, str]:
    image = bot.registry.host + f"/{repo_name}/podinfo"
    bot.registry.push(f"{repo_name}/podinfo", ["1.0.0", "1.1.0"], created=T0)
    remote = bot.remote(
        {
            "clusters/prod/flux-system/automation.yaml": auto.encode(),
            "clusters/prod/flux-system/policy.yaml": policy(image).encode(),
            "apps/podinfo.yaml": workload(image),
            "staging/podinfo.yaml": workload(image, "podinfo-staging"),
        }
    )
    return remote, image


def last_commit(remote: Remote, branch: str = "main") -> str:
    return git(remote.path, "log", "-1", "--format=%an <%ae>%n%B", f"refs/heads/{branch}")


def test_markers_under_update_path_are_committed_as_flux_commits_them(bot: Bot, repo_name: str):
    remote, image = repository(bot, repo_name, automation())

    report = bot.run(remote)

    assert [r.site.file for r in report.applied] == ["apps/podinfo.yaml"]
    assert remote.read("apps/podinfo.yaml") == workload(image).replace(b":1.0.0", b":1.1.0")
    assert last_commit(remote) == (
        "fluxcdbot <fluxcdbot@users.noreply.github.com>\n"
        "Automated image update\n\n"
        "Automation name: flux-system/podinfo\n\n"
        "Files:\n- podinfo.yaml\n"
        "Objects:\n- Deployment podinfo\n  Changes:\n"
        f"    - {image}:1.0.0 -> {image}:1.1.0"
    )


def test_a_marker_outside_every_update_path_is_left_alone_with_a_note(bot: Bot, repo_name: str):
    remote, image = repository(bot, repo_name, automation())

    report = bot.run(remote)

    assert remote.read("staging/podinfo.yaml") == workload(image, "podinfo-staging")
    assert any(
        n.startswith("staging/podinfo.yaml:") and "spec.update.path (./apps)" in n
        for n in report.notes
    )


def test_a_push_branch_other_than_the_checkout_branch_is_branch_mode(bot: Bot, repo_name: str):
    remote, image = repository(bot, repo_name, automation(push="image-updates"))
    main = remote.tip()

    report = bot.run(remote)

    assert report.mode == "branch"
    assert remote.tip() == main
    assert remote.read("apps/podinfo.yaml", "image-updates") == workload(image).replace(
        b":1.0.0", b":1.1.0"
    )


def test_imagebots_own_commit_settings_win(bot: Bot, repo_name: str):
    remote, _ = repository(bot, repo_name, automation())
    ours = CommitConfig(message="bump {images}", author_name="Ops", author_email="ops@x.org")

    bot.run(remote, commit=ours)

    assert last_commit(remote).startswith("Ops <ops@x.org>\nbump ")


def test_a_template_that_cannot_run_falls_back_to_imagebots_message_with_a_note(
    bot: Bot, repo_name: str
):
    remote, _ = repository(bot, repo_name, automation(template="{{ .Changed.Nope }}"))

    report = bot.run(remote)

    assert last_commit(remote).splitlines()[1].startswith("Update ")
    assert any("messageTemplate" in n and "can't evaluate field Nope" in n for n in report.notes)


def test_the_older_updated_fields_of_flux_templates_still_render(bot: Bot, repo_name: str):
    classic = (
        "{{range .Updated.Images}}{{println .}}{{end}}"
        "{{range .Updated.Images}}{{.Repository}} {{.Identifier}} {{.Policy}}{{end}}"
    )
    remote, image = repository(bot, repo_name, automation(template=classic))

    bot.run(remote)

    _, _, path = image.partition("/")
    assert last_commit(remote).splitlines()[1:] == [
        f"{image}:1.1.0",
        f"{path} 1.1.0 flux-system/podinfo",
    ]


def with_refspec(refspec: str, push_branch: str | None = None) -> str:
    """The automation pushing with *refspec* (and *push_branch* when given)."""
    push = f"      branch: {push_branch}\n" if push_branch else ""
    return automation().replace(
        "    push:\n      branch: main\n", f"    push:\n{push}      refspec: {refspec}\n"
    )


def test_a_refspec_pushing_the_commit_to_a_branch_is_branch_mode_with_that_branch(
    bot: Bot, repo_name: str
):
    auto = with_refspec("refs/heads/main:refs/heads/auto/image-updates")
    remote, image = repository(bot, repo_name, auto)
    main = remote.tip()

    report = bot.run(remote)

    assert (report.mode, report.target) == ("branch", "auto/image-updates")
    assert remote.tip() == main
    assert remote.read("apps/podinfo.yaml", "auto/image-updates") == workload(image).replace(
        b":1.0.0", b":1.1.0"
    )
    assert last_commit(remote, "auto/image-updates").startswith("fluxcdbot <")


def test_a_refspec_pushing_the_push_branch_to_itself_is_that_branch(bot: Bot, repo_name: str):
    auto = with_refspec("refs/heads/image-updates:refs/heads/image-updates", "image-updates")
    remote, _ = repository(bot, repo_name, auto)
    main = remote.tip()

    report = bot.run(remote)

    assert (report.mode, report.target) == ("branch", "image-updates")
    assert remote.tip() == main


def test_a_refspec_imagebot_cannot_follow_never_writes_the_checkout_branch(
    bot: Bot, repo_name: str
):
    auto = with_refspec("HEAD:refs/for/main")
    remote, image = repository(bot, repo_name, auto)
    line = auto.splitlines().index("      refspec: HEAD:refs/for/main") + 1
    main = remote.tip()

    report = bot.run(remote)

    assert remote.tip() == main
    assert (report.mode, report.target) == ("branch", "imagebot/main")
    assert remote.read("apps/podinfo.yaml", "imagebot/main") == workload(image).replace(
        b":1.0.0", b":1.1.0"
    )
    assert [p.message for p in report.problems] == [
        f"clusters/prod/flux-system/automation.yaml:{line}: spec.git.push.refspec: "
        "'HEAD:refs/for/main' pushes to refs/for/main, which is not a branch (refs/heads/...); "
        "imagebot pushes only to a branch"
    ]


def test_a_refspec_to_a_branch_besides_the_push_branch_is_refused():
    from imagebot.manifests import yamlsource as ys
    from imagebot.manifests.fluxautomation import read_automation

    text = with_refspec("HEAD:refs/heads/review", "image-updates")
    auto = read_automation("auto.yaml", ys.load(text.encode()).docs[0])

    assert auto.refspec_branch is None
    assert auto.refspec_error == (
        "spec.git.push.refspec: 'HEAD:refs/heads/review' pushes to review and "
        "spec.git.push.branch to image-updates; imagebot pushes to one branch"
    )
