"""People's rollbacks are respected: a real registry, a bare remote, imagebot's commits,
and people's ``git revert`` or manual edits pushed between cycles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagebot.operations.events import timeline
from imagebot.service.notify import Notifier
from imagebot.service.types import CycleOutcome, PersonRollback
from imagebot.update import CycleReport
from tests.gitops.helpers import Remote, git, make_remote
from tests.harness import RegistryServer
from tests.service.e2e import recording_sink
from tests.update.helpers import Bot, automated, deployment

pytestmark = pytest.mark.slow


@pytest.fixture
def bot(tmp_path: Path, registry: RegistryServer) -> Iterator[Bot]:
    with Bot(tmp_path, registry) as b:
        yield b


class Person:
    """Someone with a clone of the remote, pushing to main."""

    def __init__(self, remote: Remote, where: Path) -> None:
        self.dir = where
        git(where.parent, "clone", "-q", remote.url, str(where))

    def pull(self) -> None:
        git(self.dir, "pull", "-q", "--ff-only")

    def revert(self, commit: str) -> str:
        self.pull()
        git(self.dir, "revert", "--no-edit", commit)
        git(self.dir, "push", "-q", "origin", "HEAD:main")
        return git(self.dir, "rev-parse", "HEAD")

    def edit(self, path: str, old: str, new: str, message: str) -> str:
        self.pull()
        file = self.dir / path
        file.write_text(file.read_text().replace(old, new))
        git(self.dir, "commit", "-q", "-am", message)
        git(self.dir, "push", "-q", "origin", "HEAD:main")
        return git(self.dir, "rev-parse", "HEAD")


@pytest.fixture
def fleet(bot: Bot, repo_name: str) -> tuple[Remote, str]:
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{bot.registry.host}/{repo_name}"
    remote = bot.remote(
        {"apps/web.yaml": deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))}
    )
    return remote, image


def updated(bot: Bot, remote: Remote, **options: object) -> CycleReport:
    report = bot.run(remote, **options)
    assert report.ok, report.problems
    return report


def test_a_reverted_update_is_locked_not_applied_again(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, image = fleet
    first = updated(bot, remote)
    revert = Person(remote, tmp_path / "person").revert(first.commit or "")

    report = updated(bot, remote)

    assert report.applied == []
    (item,) = report.rolled_back
    subject = git(remote.path, "log", "-1", "--format=%s", revert)
    assert subject.startswith('Revert "Update ')
    assert item.message == f"rolled back by Test Person in {revert[:12]}: {subject}"
    assert (item.written, item.current, item.locked) == ("1.0.1", "1.0.0", True)
    text = remote.read("apps/web.yaml").decode()
    assert f"image: {image}:1.0.0   # the app" in text
    assert f'imagebot.io/locked_msg: "rolled back by Test Person in {revert[:12]}' in text


def test_the_lock_is_an_annotation_edit_and_nothing_else(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, _ = fleet
    first = updated(bot, remote)
    Person(remote, tmp_path / "person").revert(first.commit or "")

    report = updated(bot, remote)

    diff = git(remote.path, "show", "--format=", "--unified=0", report.commit or "")
    changed = [
        line
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert [line.split(":")[0] for line in changed] == [
        "+    imagebot.io/locked",
        "+    imagebot.io/locked_msg",
        "+    imagebot.io/locked_user",
    ]
    assert changed[2].split(": ", 1)[1].strip('"') == "Test Person"
    assert remote.subjects()[0] == "Lock apps:deployment/web: rolled back by Test Person"


def test_the_next_cycle_leaves_the_locked_workload_alone(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, _ = fleet
    first = updated(bot, remote)
    Person(remote, tmp_path / "person").revert(first.commit or "")
    updated(bot, remote)
    tip = remote.tip()

    again = updated(bot, remote)

    assert (again.commit, again.rolled_back, remote.tip()) == (None, [], tip)


def test_a_manual_edit_back_to_an_earlier_tag_counts_as_a_rollback(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, image = fleet
    updated(bot, remote)
    edit = Person(remote, tmp_path / "person").edit(
        "apps/web.yaml", f"{image}:1.0.1", f"{image}:1.0.0", "web: back to 1.0.0, 1.0.1 leaks"
    )

    report = updated(bot, remote)

    (item,) = report.rolled_back
    assert (
        item.message
        == f"rolled back by Test Person in {edit[:12]}: web: back to 1.0.0, 1.0.1 leaks"
    )
    assert item.locked


def test_a_manual_edit_to_a_newer_tag_is_not_a_rollback(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path, repo_name: str
):
    remote, image = fleet
    updated(bot, remote)
    bot.registry.push(repo_name, ["1.0.2", "1.0.3"])
    Person(remote, tmp_path / "person").edit(
        "apps/web.yaml", f"{image}:1.0.1", f"{image}:1.0.2", "web: try 1.0.2"
    )

    report = updated(bot, remote, fresh=True)

    assert report.rolled_back == []
    assert [(r.site.tag, r.new_tag) for r in report.applied] == [("1.0.2", "1.0.3")]


def test_on_rollback_ignore_applies_the_newer_tag_again(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, _ = fleet
    first = updated(bot, remote)
    Person(remote, tmp_path / "person").revert(first.commit or "")

    report = updated(bot, remote, on_rollback="ignore")

    assert report.rolled_back == []
    assert [(r.site.tag, r.new_tag) for r in report.applied] == [("1.0.0", "1.0.1")]


def test_a_revert_merged_from_a_branch_names_its_author_not_the_merge(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, _ = fleet
    first = updated(bot, remote)
    person = Person(remote, tmp_path / "person")
    person.pull()
    git(person.dir, "switch", "-q", "-c", "revert-web")
    git(person.dir, "revert", "--no-edit", first.commit or "")
    revert = git(person.dir, "rev-parse", "HEAD")
    git(person.dir, "switch", "-q", "main")
    git(person.dir, "merge", "-q", "--no-ff", "-m", "Merge pull request #4 from revert-web",
        "revert-web")  # fmt: skip
    git(person.dir, "push", "-q", "origin", "HEAD:main")

    report = updated(bot, remote)

    (item,) = report.rolled_back
    assert item.commit == revert
    assert item.locked


def test_a_site_without_annotations_is_left_as_it_is_with_a_note(
    bot: Bot, tmp_path: Path, repo_name: str
):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{bot.registry.host}/{repo_name}"
    marker = '# {"$imagepolicy": "flux-system:web:tag"}'
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\nmetadata:\n  name: web\n"
        f"  namespace: flux-system\nspec:\n  image: {image}\n  policy: semver:~1.0\n"
    )
    where = tmp_path / "kustomized"
    where.mkdir()
    remote = make_remote(
        where,
        {
            "kustomization.yaml": (
                f"images:\n  - name: web\n    newName: {image}\n    newTag: 1.0.0 {marker}\n"
            ).encode(),
            "policies/web.yaml": policy.encode(),
        },
    )
    first = updated(bot, remote)
    assert first.applied, first.to_dict()
    Person(remote, tmp_path / "person").revert(first.commit or "")

    report = updated(bot, remote)

    (item,) = report.rolled_back
    assert not item.locked
    assert report.commit is None
    assert any("not locked (no annotations" in note for note in report.notes)


def test_the_lock_is_in_the_timeline_and_notified_once(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, image = fleet
    first = updated(bot, remote)
    Person(remote, tmp_path / "person").revert(first.commit or "")
    report = updated(bot, remote)
    (item,) = report.rolled_back
    found = PersonRollback(
        item.workload, item.container, item.image, item.written, item.current, item.commit,
        item.author, item.message, item.locked,
    )  # fmt: skip
    outcome = CycleOutcome("remote", commit=report.commit, rolled_back=(found,))

    with recording_sink() as sink:
        from imagebot.config import NotifyConfig, RepositoryConfig

        repo = RepositoryConfig(
            url=remote.url, notify=[NotifyConfig(type="webhook", url=sink.url + "/n")]
        )
        notifier = Notifier(repo)
        sent = notifier.deliver(notifier.cycle_finished(outcome))
        again = notifier.cycle_finished(outcome)
        notifier.close()

    assert (sent, again) == (1, [])
    ((_, note),) = sink.received
    assert note["event"] == "rolled-back"
    assert note["rolled_back"][0]["message"] == item.message
    assert note["rolled_back"][0]["image"] == image
    events = [e for e in timeline(bot.store) if e.kind == "rolled-back"]
    assert [(e.workload, e.message, e.commit) for e in events] == [
        ("apps:deployment/web", item.message, report.commit)
    ]


def test_a_revert_of_a_squash_merged_update_is_found_by_what_it_changed(
    bot: Bot, fleet: tuple[Remote, str], tmp_path: Path
):
    remote, _ = fleet
    updated(bot, remote, write_mode="branch")
    person = Person(remote, tmp_path / "person")
    person.pull()
    git(person.dir, "fetch", "-q", "origin", "imagebot/main")
    git(person.dir, "merge", "-q", "--squash", "FETCH_HEAD")
    git(person.dir, "commit", "-q", "-m", "Update web (#5)")
    git(person.dir, "push", "-q", "origin", "HEAD:main")
    squash = git(person.dir, "rev-parse", "HEAD")
    revert = person.revert(squash)

    report = updated(bot, remote, write_mode="branch")

    (item,) = report.rolled_back
    assert (item.commit, item.locked) == (revert, True)
    assert "imagebot.io/locked_msg" in remote.read("apps/web.yaml", "imagebot/main").decode()


def test_an_update_waiting_in_an_unmerged_branch_is_not_a_rollback(
    bot: Bot, fleet: tuple[Remote, str]
):
    remote, _ = fleet
    updated(bot, remote, write_mode="branch")  # imagebot wrote 1.0.1 on its branch only

    report = updated(bot, remote, write_mode="branch")

    assert report.rolled_back == []
    assert [(r.site.tag, r.new_tag) for r in report.applied] == [("1.0.0", "1.0.1")]
