"""``imagebot check``: validate a GitOps repository's image policies, offline, for its CI.

Reads every manifest as an update cycle would and reports, as ``file:line: message``, every
annotation, marker comment, policy file and image reference imagebot cannot use (and the
config file, when one is given), without asking any registry. Run it in the repository's
own CI so that a misspelt policy fails the pull request instead of a later update cycle.

Files that are not YAML until a tool renders them (Helm chart templates) are skipped, not
errors; ``-v`` lists them. A marker naming a policy that does not exist is a warning, as in
Flux (the value is left alone): printed as ``file:line: warning: ...``, an error only with
``--strict``. Exit status: 0 clean, 1 errors found, 2 usage errors.

Workload annotations are reported on the annotation's own line: discovery attaches a
workload's annotation problems to each of its images, so they are worked out again here per
workload (with the same reader) and pointed at the key concerned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from ruamel.yaml.nodes import MappingNode, Node

from imagebot.cli.common import local_checkout, output_option, print_json, read_checkout
from imagebot.config import CONFIG_ENV, Config, RepositoryConfig, load_config
from imagebot.errors import ConfigError, InvalidInput
from imagebot.manifests import Discovery, ImageSite
from imagebot.manifests import yamlsource as ys
from imagebot.manifests.annotations import (
    ARGO,
    FILTER,
    FLUX,
    IMAGEBOT,
    WEAVE,
    Annotation,
    AnnotationPolicies,
)
from imagebot.manifests.discovery import read_annotations


@dataclass(frozen=True, order=True)
class Finding:
    """One problem, where it is written."""

    path: str  # as shown: relative to the current directory when inside it
    line: int | None
    message: str
    kind: str = field(compare=False)  # config | yaml | policy-file | annotation | marker | image
    file: str = field(compare=False)  # relative to the repository root (the config: as given)
    workload: str | None = field(default=None, compare=False)
    container: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line
            else (f"{self.path}: {self.message}")
        )

    def as_warning(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: warning: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "path": self.path,
            "line": self.line,
            "kind": self.kind,
            "message": self.message,
            "workload": self.workload,
            "container": self.container,
        }


@click.command("check")
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=None,
    help="Checkout to check (default: the one repository with a `path` in the config, else "
    "the current directory).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar=CONFIG_ENV,
    help="Also validate this config file (and use its repository settings).",
)
@output_option
@click.option("-v", "--verbose", is_flag=True, help="Also list the files skipped (on stderr).")
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on warnings too (markers naming an image policy that does not exist).",
)
def command(
    repo: Path | None, config_path: str | None, output: str, verbose: bool, strict: bool
) -> None:
    """Validate every image annotation, marker and policy file, offline.

    Prints one `file:line: message` per problem (`file:line: warning: message` for a marker
    naming a policy that does not exist, left alone as Flux does), a `flux:` line per
    setting a Flux ImageUpdateAutomation gives (or imagebot's config keeps), an `argocd:` line
    per branch setting an Argo CD application's git-branch gives, and a `note:` line when
    applications ask for different branches. Exit status: 0 when
    everything is usable, 1 when something is not (or, with --strict, on warnings), 2 for
    usage errors (no such directory or config file).
    """
    findings: list[Finding] = []
    config = _check_config(config_path, findings)
    root, settings = local_checkout(config, repo)
    found = read_checkout(root, settings)
    shown = _Shown(root.resolve())
    findings += manifest_findings(root.resolve(), found, shown)
    findings = sorted(set(findings), key=lambda f: (f.kind != "config", f.path, f.line or 0))
    warnings = sorted(set(manifest_warnings(found, shown)))
    decisions, setting_notes = _flux_decisions(root, settings, found)
    failed = bool(findings) or (strict and bool(warnings))
    skipped = [(shown(issue.file), issue.line, issue.message) for issue in found.skipped]

    if output == "json":
        print_json(
            {
                "ok": not failed,
                "errors": [f.to_dict() for f in findings],
                "warnings": [w.to_dict() for w in warnings],
                "skipped": [
                    {"path": path, "line": line, "message": message}
                    for path, line, message in skipped
                ],
                "files": found.files_read,
                "images": len(found.sites),
                "config": config_path,
                "flux": [d.to_dict() for d in decisions if d.tool == "flux"],
                "argocd": [d.to_dict() for d in decisions if d.tool == "argocd"],
                "notes": setting_notes,
            }
        )
    else:
        for finding in findings:
            click.echo(str(finding))
        for warning in warnings:
            click.echo(warning.as_warning())
        for decision in decisions:
            click.echo(f"{decision.tool}: {decision}")
        for note in setting_notes:
            click.echo(f"note: {note}")
        if verbose:
            for path, line, message in skipped:
                where = f"{path}:{line}" if line else path
                click.echo(f"skipped {where}: {message}", err=True)
        summary = (
            f"{found.files_read} file(s), {len(found.sites)} image(s) checked"
            f"{', config ' + config_path if config_path else ''}; "
            f"{len(skipped)} file(s) skipped"
        )
        verdict = f"{len(findings)} error(s)" if findings else "no errors"
        if warnings:
            verdict += f", {len(warnings)} warning(s){' (--strict)' if strict else ''}"
        click.echo(f"imagebot check: {summary}: {verdict}", err=True)
    raise SystemExit(1 if failed else 0)


def _flux_decisions(
    root: Path, settings: RepositoryConfig | None, found: Discovery
) -> tuple[list[Any], list[str]]:
    """Which settings the repository's ImageUpdateAutomation objects (and Argo CD
    applications' ``git-branch``) give a cycle, and which ones imagebot's config keeps
    (imagebot's config wins where it says something); notes on conflicting requests."""
    from imagebot.update.fluxsettings import flux_settings

    repo = settings or RepositoryConfig(path=str(root))
    applied = flux_settings(repo, found.automations, found.argo_branches)
    return list(applied.decisions), list(applied.notes)


def _check_config(config_path: str | None, findings: list[Finding]) -> Config:
    """Validate the config file; a bad one is a finding (its defaults are used meanwhile)."""
    if not config_path:
        return Config()
    if not Path(config_path).exists():
        raise InvalidInput(
            f"{config_path}: no such config file",
            hint=f"pass an existing file to --config, or unset {CONFIG_ENV}",
        )
    try:
        return load_config(config_path)
    except ConfigError as exc:
        text = str(exc)
        prefix = f"{exc.file}:{exc.line}: " if exc.line else f"{exc.file}: "
        if exc.file and text.startswith(prefix):
            text = text[len(prefix) :]
        findings.append(Finding(config_path, exc.line, text, "config", config_path))
        return Config()


class _Shown:
    """Paths as the user can open them: relative to the current directory when inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = Path.cwd().resolve()

    def __call__(self, rel: str) -> str:
        path = self.root / rel
        try:
            return path.relative_to(self.cwd).as_posix()
        except ValueError:
            return os.path.relpath(path, self.cwd) if self.root == self.cwd else str(path)


# --- manifests -----------------------------------------------------------------------------


def manifest_findings(root: Path, found: Discovery, shown: Any = None) -> list[Finding]:
    """Every problem in a discovery, on its own line. *shown* maps a repository-relative
    path to the path printed (default: unchanged)."""
    show = shown or (lambda rel: rel)
    findings = [
        Finding(show(issue.file), issue.line, issue.message, _issue_kind(issue.message), issue.file)
        for issue in found.errors
    ]
    broken: dict[str, list[ImageSite]] = {}
    for site in found.sites:
        if site.error:
            broken.setdefault(site.file, [])
    for site in found.sites:
        if site.file in broken:
            broken[site.file].append(site)
    for rel, sites in broken.items():
        for problem in _site_problems(root / rel, sites):
            findings.append(Finding(show(rel), file=rel, **problem))
    return findings


def manifest_warnings(found: Discovery, shown: Any = None) -> list[Finding]:
    """Sites left alone without an error (a marker naming a policy that does not exist)."""
    show = shown or (lambda rel: rel)
    return [
        Finding(
            show(site.file),
            site.line,
            site.warning,
            "marker",
            site.file,
            workload=site.workload,
            container=site.container,
        )
        for site in found.sites
        if site.warning
    ]


def _issue_kind(message: str) -> str:
    if "marker" in message:
        return "marker"
    if message.startswith("not valid YAML") or message == "not UTF-8 text":
        return "yaml"
    return "policy-file"


@dataclass
class _Doc:
    first: int
    last: int
    annotations: dict[str, Annotation]
    block_line: int | None
    depth: int
    labels: dict[str, Annotation] = field(default_factory=dict)  # Keel reads them too


def _site_problems(path: Path, sites: list[ImageSite]) -> list[dict[str, Any]]:
    """Finding fields (line, message, kind, workload, container) for one file's sites."""
    docs = _documents(path)
    members: dict[int, list[ImageSite]] = {}
    for site in sites:
        doc = _innermost(docs, site.line)
        members.setdefault(id(doc) if doc else 0, []).append(site)
    problems: list[dict[str, Any]] = []
    for key, group in members.items():
        doc = next((d for d in docs if id(d) == key), None)
        workload_errors = _workload_errors(doc, group) if doc is not None else []
        reported: set[str] = set()
        for site in group:
            if not site.error:
                continue
            own = _without(site.error, workload_errors)
            if own is None:  # the errors could not be told apart: report them as they are
                own, shared = site.error, []
            else:
                shared = [e for e in workload_errors if e in site.error]
            if own:
                problems.append(
                    {
                        "line": site.line,
                        "message": own,
                        "kind": _site_kind(own),
                        "workload": site.workload,
                        "container": site.container,
                    }
                )
            for error in shared:
                if error in reported:
                    continue
                reported.add(error)
                assert doc is not None
                line = _annotation_line(doc, error, site.container) or site.line
                problems.append(
                    {
                        "line": line,
                        "message": error,
                        "kind": "annotation",
                        "workload": site.workload,
                    }
                )
    return problems


def _without(error: str, workload_errors: list[str]) -> str | None:
    """*error* minus the workload's errors discovery appended to it; None if it does not end
    with them (then nothing is split)."""
    text = error
    for shared in reversed(workload_errors):
        if text == shared:
            text = ""
        elif text.endswith("; " + shared):
            text = text[: -len(shared) - 2]
        elif shared not in text:
            continue
        else:
            return None
    return text


def _site_kind(message: str) -> str:
    if "marker" in message or "image policy" in message:
        return "marker"
    if "polic" in message:
        return "annotation"
    return "image"


def _documents(path: Path) -> list[_Doc]:
    try:
        source = ys.load(path.read_bytes())
    except (OSError, ys.YamlSyntaxError):
        return []
    docs: list[_Doc] = []
    for node in source.docs:
        docs.append(_doc(node, 0))
        for item in ys.seq(ys.get(node, "items")):
            docs.append(_doc(item, 1))
    return docs


def _doc(node: Node, depth: int) -> _Doc:
    metadata = ys.get(node, "metadata")
    block = ys.get(metadata, "annotations")
    return _Doc(
        first=node.start_mark.line + 1,
        last=node.end_mark.line + 1,
        annotations=read_annotations(block),
        block_line=block.start_mark.line + 1 if isinstance(block, MappingNode) else None,
        depth=depth,
        labels=read_annotations(ys.get(metadata, "labels")),
    )


def _innermost(docs: list[_Doc], line: int) -> _Doc | None:
    inside = [d for d in docs if d.first <= line <= d.last]
    return max(inside, key=lambda d: d.depth, default=None)


def _workload_errors(doc: _Doc, sites: list[ImageSite]) -> list[str]:
    """The workload-wide annotation errors, as discovery's annotation reader finds them."""
    if not doc.annotations and not doc.labels:
        return []
    policies = AnnotationPolicies(doc.annotations, [s.container for s in sites], labels=doc.labels)
    for site in sites:
        policies.for_container(site.container, site.image)
    return list(policies.errors)


def _annotation_line(doc: _Doc, error: str, container: str) -> int | None:
    """The line of the annotation an error is about: the longest key it names, else the
    container's tag key for a policy problem, else the annotations block."""
    named = [key for key in doc.annotations if key in error]
    if named:
        return doc.annotations[max(named, key=len)].line
    labelled = [key for key in doc.labels if f"label {key}" in error]
    if labelled:
        return doc.labels[max(labelled, key=len)].line
    if error.startswith("container "):
        name = error[len("container ") :].partition(":")[0]
        for key in (
            f"{IMAGEBOT}tag.{name}",
            f"{FLUX}tag.{name}",
            f"{WEAVE}tag.{name}",
            f"{FILTER}{name}",
            f"{FLUX}tag_all",
            f"{WEAVE}tag_all",
            f"{ARGO}image-list",
        ):
            if key in doc.annotations:
                return doc.annotations[key].line
    if ARGO in error and f"{ARGO}image-list" in doc.annotations:
        return doc.annotations[f"{ARGO}image-list"].line
    return doc.block_line
