"""Policy files: imagebot's schema and Flux v2's objects, validated with file, line and key."""

from __future__ import annotations

from pathlib import Path

from imagebot.manifests import discover
from imagebot.manifests.policyfiles import PolicyIndex
from imagebot.manifests.yamlsource import load

REPO_ROOT = Path(__file__).resolve().parents[2]


def index_of(text: str, file: str = "policies/p.yaml") -> PolicyIndex:
    index = PolicyIndex()
    for doc in load(text.encode()).docs:
        index.add_document(file, doc)
    index.finish()
    return index


def imagebot_policy(spec: str, metadata: str = "  name: app\n  namespace: ns\n") -> str:
    return f"apiVersion: imagebot.io/v1\nkind: ImagePolicy\nmetadata:\n{metadata}spec:\n{spec}"


def test_valid_imagebot_policy():
    index = index_of(imagebot_policy("  image: ghcr.io/org/app\n  policy: semver:^1.0\n"))
    policy = index.lookup("ns", "app")
    assert (policy.policy, policy.image, policy.same_family, policy.error) == (
        "semver:^1.0",
        "ghcr.io/org/app",
        True,
        None,
    )
    assert index.errors == []
    assert index.lookup("other", "app") is None


def test_unknown_key_names_file_line_key_and_a_hint():
    index = index_of(imagebot_policy("  policy: semver:^1.0\n  filtr: '^v'\n"))
    (issue,) = index.errors
    assert (issue.file, issue.line) == ("policies/p.yaml", 8)
    assert issue.message == "spec.filtr: unknown key (did you mean 'filter'?)"
    assert index.lookup("ns", "app").error.startswith("policies/p.yaml:8: spec.filtr")


def test_missing_policy_string():
    (issue,) = index_of(imagebot_policy("  image: nginx\n")).errors
    assert "spec.policy: missing" in issue.message


def test_invalid_policy_string_is_reported_at_its_line():
    (issue,) = index_of(imagebot_policy("  image: nginx\n  policy: semver:>=banana\n")).errors
    assert issue.line == 8
    assert issue.message.startswith("spec.policy: invalid semver constraint")


def test_invalid_filter_regex():
    (issue,) = index_of(imagebot_policy("  policy: newest-build\n  filter: '(unclosed'\n")).errors
    assert "spec.policy" in issue.message
    assert "regex" in issue.message


def test_same_family_must_be_a_boolean():
    (issue,) = index_of(imagebot_policy("  policy: glob:*\n  sameFamily: 'no'\n")).errors
    assert (issue.line, issue.message) == (8, "spec.sameFamily: expected true or false")


def test_image_must_not_carry_a_tag():
    (issue,) = index_of(imagebot_policy("  policy: glob:*\n  image: nginx:1.25\n")).errors
    assert "spec.image" in issue.message
    assert "without a tag" in issue.message


def test_unsupported_api_version():
    text = imagebot_policy("  policy: glob:*\n").replace("imagebot.io/v1", "imagebot.io/v9")
    (issue,) = index_of(text).errors
    assert (issue.line, issue.message.split(":")[0]) == (1, "apiVersion")


def test_missing_name():
    (issue,) = index_of(imagebot_policy("  policy: glob:*\n", "  namespace: ns\n")).errors
    assert issue.message == "metadata.name: missing"


def test_duplicate_policies_are_both_unusable():
    text = imagebot_policy("  policy: glob:*\n") + "---\n" + imagebot_policy("  policy: glob:a*\n")
    index = index_of(text)
    assert len(index.errors) == 1
    assert "more than once" in index.errors[0].message
    assert index.lookup("ns", "app").error


def test_namespace_less_policy_answers_for_any_namespace():
    index = index_of(imagebot_policy("  policy: glob:*\n", "  name: app\n"))
    assert index.lookup("anything", "app").policy == "glob:*"


def flux_policy(policy: str, extra: str = "") -> str:
    return (
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\n"
        "metadata:\n  name: app\n  namespace: flux-system\nspec:\n"
        f"  imageRepositoryRef:\n    name: app-repo\n  policy:\n{policy}{extra}"
        "---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\n"
        "metadata:\n  name: app-repo\n  namespace: flux-system\nspec:\n  image: ghcr.io/org/app\n"
    )


def test_flux_policies_map_to_policy_strings():
    cases = {
        "    semver:\n      range: '>=1.0.0 <2.0.0'\n": "semver:>=1.0.0 <2.0.0",
        "    alphabetical:\n      order: desc\n": "alphabetical:desc",
        "    alphabetical: {}\n": "alphabetical:asc",
        "    numerical:\n      order: asc\n": "numerical:asc",
    }
    for body, expected in cases.items():
        index = index_of(flux_policy(body), "clusters/images.yaml")
        policy = index.lookup("flux-system", "app")
        assert (policy.policy, policy.image, policy.error) == (expected, "ghcr.io/org/app", None)


def test_flux_filter_tags():
    extra = "  filterTags:\n    pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'\n    extract: '$ts'\n"
    policy = index_of(flux_policy("    numerical:\n      order: asc\n", extra)).lookup(
        "flux-system", "app"
    )
    assert (policy.filter, policy.extract, policy.error) == (
        "^main-[a-f0-9]+-(?P<ts>[0-9]+)",
        "$ts",
        None,
    )


def test_flux_policy_without_a_kind_is_an_error():
    index = index_of(flux_policy("    {}\n"))
    assert "expected exactly one of semver, alphabetical, numerical" in index.errors[0].message


def test_the_projects_example_policies_load(tmp_path):
    found = discover(REPO_ROOT, include=(), policy_dirs=("policies",))
    assert found.errors == []
    assert found.files_read >= 3
    index = PolicyIndex()
    for path in sorted((REPO_ROOT / "policies").glob("*.yaml")):
        for doc in load(path.read_bytes()).docs:
            assert index.add_document(path.name, doc), path
    index.finish()
    assert index.errors == []
    assert all(p.error is None for same in index.policies.values() for p in same)
    assert len(index.policies) >= 4


def flux_repository(spec: str) -> str:
    return (
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\n"
        "metadata:\n  name: app\n  namespace: ns\nspec:\n  image: ghcr.io/org/app\n" + spec
    )


def test_an_image_repository_exclusion_list_is_read_and_flux_default_applies_without_one():
    both = index_of(flux_repository("  exclusionList:\n  - '^.*\\.sig$'\n  - '-rc'\n"))
    assert both.repositories[("ns", "app")][0].exclusions == (r"^.*\.sig$", "-rc")
    default = index_of(flux_repository(""))
    assert default.repositories[("ns", "app")][0].exclusions == (r"^.*\.sig$",)


def test_an_exclusion_that_is_not_a_regex_is_an_error_naming_its_line():
    (issue,) = index_of(flux_repository("  exclusionList:\n  - '(unclosed'\n")).errors
    assert issue.line == 9
    assert issue.message.startswith("spec.exclusionList[0]:")


def test_more_than_25_exclusions_are_refused_as_flux_refuses_them():
    many = "  exclusionList:\n" + "".join(f"  - 'x{i}'\n" for i in range(26))
    (issue,) = index_of(flux_repository(many)).errors
    assert issue.message == "spec.exclusionList: at most 25 entries"
