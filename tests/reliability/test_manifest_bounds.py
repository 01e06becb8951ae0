"""Parsing has a bounded cost: files over ``max_file_bytes`` are skipped unread, and a
document whose aliases or merge keys expand past a bound ("billion laughs") is an error for
that file at once, while discovery of the rest goes on."""

from __future__ import annotations

import pytest

from imagebot.config import ConfigError, RepositoryConfig, parse_config
from imagebot.manifests import Edit, discover, rewrite, scan_bytes
from imagebot.manifests.discovery import DEFAULT_MAX_FILE_BYTES
from imagebot.manifests.graph import EXPANSION_FACTOR, EXPANSION_FLOOR, expansion
from imagebot.manifests.yamlsource import load
from tests.manifests.helpers import write_tree
from tests.update.helpers import Bot

GOOD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\n"
    "spec:\n  containers: [{name: a, image: 'nginx:1.25'}]\n"
)


def alias_bomb(levels: int = 40) -> str:
    """Each level lists the previous one twice: 2**levels nodes from about 1 KB."""
    lines = ["a0: &a0 [image]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 40) -> str:
    """Each level merges the previous one and nests it twice."""
    lines = ["m0: &m0 {image: 'app:1'}"] + [
        f"m{i}: &m{i} {{<<: *m{i - 1}, x: *m{i - 1}, y: *m{i - 1}}}" for i in range(1, levels)
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(60)  # a hang guard: unbounded, these would run for years
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("alias bomb", alias_bomb()),
        ("merge-key bomb", merge_bomb()),
        (
            "values alias bomb",
            "image: &i {repository: a/b, tag: '1'}\n" + alias_bomb().replace("[image]", "[*i]"),
        ),
    ],
)
def test_an_alias_bomb_is_an_error_for_its_file_and_the_rest_is_read(tmp_path, name, text):
    assert len(text) < 2048, name
    write_tree(
        tmp_path, {"bomb/Chart.yaml": "name: bomb\n", "bomb/values.yaml": text, "ok.yaml": GOOD}
    )

    found = discover(tmp_path)

    (error,) = found.errors
    assert error.file == "bomb/values.yaml"
    assert "refused as an alias bomb" in error.message
    assert [s.name for s in found.sites] == ["ok"]


@pytest.mark.timeout(60)
def test_a_bomb_in_a_file_that_cannot_hold_an_image_is_never_expanded(tmp_path):
    write_tree(tmp_path, {"lol.yaml": alias_bomb().replace("[image]", "[lol]"), "ok.yaml": GOOD})

    found = discover(tmp_path)

    assert found.errors == []  # only checked to be YAML, event by event
    assert [s.name for s in found.sites] == ["ok"]


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [1, *a]\n",
        "a: &a {<<: *a}\n",
        "a: &a {b: {c: *a}}\n",
        "kind: Pod\n---\nx: &x [[*x]]\n",
    ],
)
def test_an_alias_inside_its_own_anchor_is_an_error_naming_the_line(text):
    found = scan_bytes(text.encode())

    (error,) = found.errors
    assert "recursive alias" in error.message
    assert error.line == text.count("\n")


def test_a_rewrite_of_a_bomb_is_refused_not_expanded():
    (site,) = scan_bytes(GOOD.encode()).sites
    bombed = GOOD + alias_bomb()

    result = rewrite(bombed.encode(), [Edit(site, "1.26")])

    assert result.content == bombed.encode()
    assert "alias bomb" in result.errors[0]


def test_real_sharing_stays_well_within_the_bound():
    services = "".join(f"  s{i}:\n    <<: *base\n    command: run {i}\n" for i in range(300))
    base = "x-base: &base\n" + "".join(f"  k{i}: v{i}\n" for i in range(30)) + "  image: app:1\n"
    text = base + "services:\n" + services

    found = scan_bytes(text.encode(), "compose.yaml")

    assert found.errors == []
    assert len(found.sites) == 300
    written, expanded = expansion(load(text.encode()).docs[0])
    assert expanded <= EXPANSION_FLOOR + EXPANSION_FACTOR * written


def test_a_file_over_the_size_limit_is_skipped_with_the_reason_and_the_rest_is_read(tmp_path):
    write_tree(tmp_path, {"big.yaml": GOOD + "#" * 200 + "\n", "ok.yaml": GOOD})

    found = discover(tmp_path, max_file_bytes=len(GOOD) + 10)

    assert [(i.file, i.message) for i in found.skipped] == [
        (
            "big.yaml",
            f"{len(GOOD) + 201} bytes, over the {len(GOOD) + 10}-byte limit "
            "(max_file_bytes); not read",
        )
    ]
    assert [s.file for s in found.sites] == ["ok.yaml"]


def test_a_file_exactly_at_the_size_limit_is_read(tmp_path):
    write_tree(tmp_path, {"ok.yaml": GOOD})

    assert len(discover(tmp_path, max_file_bytes=len(GOOD)).sites) == 1


def test_the_size_limit_is_a_repository_setting_with_discoverys_default():
    assert RepositoryConfig().max_file_bytes == DEFAULT_MAX_FILE_BYTES
    config = parse_config("repositories:\n  - path: .\n    max_file_bytes: 2048\n")
    assert config.repositories[0].max_file_bytes == 2048
    with pytest.raises(ConfigError, match="max_file_bytes"):
        parse_config("repositories:\n  - path: .\n    max_file_bytes: 0\n")


def test_an_update_cycle_skips_files_over_the_repositorys_limit(bot: Bot):
    remote = bot.remote({"big.yaml": (GOOD * 3).encode(), "ok.yaml": GOOD.encode()})

    report = bot.run(remote, max_file_bytes=len(GOOD) * 2, dry_run=True)

    assert [i.file for i in report.skipped] == ["big.yaml"]
    assert "max_file_bytes" in report.skipped[0].message
