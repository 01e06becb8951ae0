"""Which checkout, which workload: the questions every person-facing operation asks first.

A person names a workload as fluxctl did (``demo:deployment/podinfo``, ``deployment/podinfo``,
or ``podinfo`` where reading is enough) and, optionally, a repository (a checkout path or a
Git URL). This module answers both for the command line and the web alike:

- :func:`local_checkout` / :func:`checkout`: the directory a read reads (a local checkout as
  it is, or the bot's synced clone of a URL) with its configured settings;
- :func:`pick_repository`: the one repository an edit changes;
- :func:`select_workload` (reads) and :func:`find_target` (edits): the workload's sites, or an
  :class:`~imagebot.errors.InvalidInput` naming the candidates.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagebot.errors import ConfigError, InvalidInput, ManifestError

if TYPE_CHECKING:
    from imagebot.config import Config, RepositoryConfig
    from imagebot.manifests import Discovery, ImageSite
    from imagebot.manifests.annotate import WorkloadDoc


# --- naming a workload ----------------------------------------------------------------------

_WORKLOAD = re.compile(
    r"(?:(?P<ns>[^:/\s]+):)?(?P<kind>[A-Za-z][A-Za-z0-9]*)/(?P<name>[^:\s]+)|(?P<alone>[^:/\s]+)"
)


@dataclass(frozen=True)
class WorkloadId:
    """A workload as the user names it: ``namespace:kind/name`` (fluxctl's resource ID, the
    kind in any case), ``kind/name``, or (where allowed) ``name`` alone.

    A manifest without a namespace is named by the namespace it lands in (a kustomization's,
    the repository's ``default_namespace``, else ``default``); the names imagebot printed
    before, ``<cluster>:`` and ``default:``, still find it.
    """

    namespace: str | None
    kind: str | None  # lowercase
    name: str

    @classmethod
    def parse(cls, text: str, *, name_alone: bool = False) -> WorkloadId:
        """InvalidInput for anything else; a bare name only with *name_alone* (read-only
        commands take it; the editing commands want the kind, as fluxctl did)."""
        hint = (
            "write it as namespace:kind/name, e.g. demo:deployment/podinfo, or kind/name "
            "when only one namespace has it"
            + (", or name when only one workload has it" if name_alone else "")
        )
        match = _WORKLOAD.fullmatch(text.strip())
        if match is None:
            raise InvalidInput(f"cannot read workload {text!r}", hint=hint)
        if match["alone"] is not None:
            if not name_alone:
                raise InvalidInput(f"workload {text!r} lacks its kind", hint=hint)
            return cls(None, None, match["alone"])
        return cls(match["ns"], match["kind"].lower(), match["name"])

    def matches(self, site: ImageSite) -> bool:
        if site.name != self.name:
            return False
        if self.kind is not None and site.kind.lower() != self.kind:
            return False
        if self.namespace is None or site.namespace == self.namespace:
            return True
        if site.namespace is not None:
            return False
        # imported here: ``imagebot.manifests`` loads the YAML stack, which --help must not
        from imagebot.manifests.namespaces import CLUSTER, DEFAULT_NAMESPACE

        return self.namespace in (site.landing_namespace, CLUSTER, DEFAULT_NAMESPACE)

    def __str__(self) -> str:
        if self.kind is None:
            return self.name
        short = f"{self.kind}/{self.name}"
        return f"{self.namespace}:{short}" if self.namespace else short


def workload_forms(site: ImageSite) -> tuple[str, str, str]:
    """How a workload may be named: ``ns:kind/name``, ``kind/name`` and ``name``."""
    kind = site.kind.lower() or "document"
    return site.workload, f"{kind}/{site.name}", site.name


def select_workload(sites: Sequence[ImageSite], text: str) -> list[ImageSite]:
    """The sites of the workload *text* names (any :class:`WorkloadId` spelling, ``name``
    included). Raises :class:`InvalidInput` naming the candidates."""
    wanted = WorkloadId.parse(text, name_alone=True)
    found = [site for site in sites if wanted.matches(site)]
    workloads = sorted({site.workload for site in found})
    if len(workloads) > 1:
        raise InvalidInput(
            f"{text!r} names {len(workloads)} workloads: {', '.join(workloads)}",
            hint="name one as namespace:kind/name",
        )
    if not found:
        # Compare like with like (full name, kind/name or name), suggest full names.
        form = 0 if wanted.namespace else 1 if wanted.kind else 2
        named: dict[str, str] = {}
        for site in sites:
            named.setdefault(workload_forms(site)[form], site.workload)
        close = difflib.get_close_matches(text.strip(), sorted(named), n=3, cutoff=0.5)
        suggestions = list(dict.fromkeys(named[c] for c in close))
        hint = (
            f"did you mean {' or '.join(suggestions)}?"
            if suggestions
            else "`imagebot list-images` lists every workload and container"
        )
        raise InvalidInput(f"no workload {text!r} in the manifests", hint=hint)
    return found


# --- which checkout ----------------------------------------------------------------------


def local_checkout(config: Config, repo: Path | None) -> tuple[Path, RepositoryConfig | None]:
    """The checkout a read-only command reads, and its configured settings.

    Without ``--repo``: the one configured repository with a ``path``, else the current
    directory. Settings (include, exclude, policy_dirs) come from the config entry whose
    path is that directory.
    """
    local = [(Path(r.path).expanduser(), r) for r in config.repositories if r.path]
    if repo is None:
        if len(local) == 1:
            path, settings = local[0]
            if not path.is_dir():
                raise ConfigError(
                    f"the configured repository path {path} is not a directory",
                    file=config.source,
                    key="repositories[].path",
                    hint="fix the path in the config file, or pass --repo PATH",
                )
            return path, settings
        repo = Path(os.curdir)
    if not repo.exists():
        raise InvalidInput(
            f"{repo}: no such directory", hint="pass --repo PATH of a GitOps checkout"
        )
    if not repo.is_dir():
        raise InvalidInput(
            f"{repo}: not a directory", hint="pass --repo the checkout's top directory"
        )
    wanted = repo.resolve()
    for path, settings in local:
        if path.resolve() == wanted:
            return repo, settings
    return repo, None


@contextlib.contextmanager
def checkout(config: Config, target: str | None) -> Iterator[tuple[Path, RepositoryConfig | None]]:
    """The directory to read: a local checkout as it is (:func:`local_checkout`), or the
    bot's synced clone of a Git URL in the state directory."""
    from imagebot.gitops import Workspace, is_remote_url
    from imagebot.update import repository_for_target

    if target is None or not is_remote_url(target):
        yield local_checkout(config, Path(target) if target else None)
        return
    repo = repository_for_target(config, target)[0]
    with Workspace.open(repo, config.resolved_state_dir()) as ws:
        ws.sync()
        yield ws.root, repo


def read_checkout(root: Path, settings: RepositoryConfig | None) -> Discovery:
    """Every image site under *root*, read with the repository's include, exclude,
    policy_dirs and max_file_bytes as an update cycle reads them (discovery's defaults
    without settings)."""
    from imagebot.manifests import discover

    if settings is None:
        return discover(root)
    return discover(
        root,
        include=settings.include,
        exclude=settings.exclude,
        policy_dirs=settings.policy_dirs,
        max_file_bytes=settings.max_file_bytes,
        default_namespace=settings.default_namespace,
        repo_urls=[settings.url] if settings.url else (),
    )


def pick_repository(config: Config, target: str | None, branch: str | None) -> RepositoryConfig:
    """The one repository an edit changes: ``target`` (a path or URL, from the config when it
    is listed there), else the config's only repository, else the current directory. One
    that is not in the config is written directly (no pull request settings to follow)."""
    from imagebot.update import repository_for_target

    if target is None and not config.repositories:
        target = "."
    repos = repository_for_target(config, target, branch=branch)
    if len(repos) != 1:
        names = ", ".join(r.display_name for r in repos)
        raise ConfigError(
            f"the config lists {len(repos)} repositories ({names})",
            hint="pass --repo PATH|URL to choose one",
        )
    repo = repos[0]
    from_config = any(repo.url == r.url and repo.path == r.path for r in config.repositories)
    if not from_config:
        repo = replace(repo, write_mode="direct")
    return repo


# --- the workload an edit changes ----------------------------------------------------------


@dataclass
class Target:
    """The workload an edit changes: its file, its document and its image sites."""

    id: str  # as imagebot prints it: namespace:kind/name
    file: str
    #: The object holding its metadata; None for images without one (kustomize ``images:``,
    #: Compose services, chart values): those can be released but not annotated.
    doc: WorkloadDoc | None
    sites: list[ImageSite]

    @property
    def line(self) -> int:
        return self.doc.line if self.doc is not None else min(s.line for s in self.sites)

    @property
    def default_namespace(self) -> str | None:
        """What discovery gave its sites: pass it on when reading its file alone."""
        return self.sites[0].default_namespace if self.sites else None

    def annotated(self) -> WorkloadDoc:
        """The document whose annotations govern it; ManifestError when there is none."""
        if self.doc is None:
            raise ManifestError(
                f"{self.id} has no metadata to write annotations in", file=self.file
            )
        return self.doc

    @property
    def annotations(self) -> dict[str, Any]:
        return self.annotated().annotations

    @property
    def containers(self) -> list[str]:
        return list(dict.fromkeys(site.container for site in self.sites))

    def site(self, container: str) -> ImageSite:
        found = [s for s in self.sites if s.container == container]
        if not found:
            raise InvalidInput(
                f"{self.id} has no container {container!r}",
                hint=f"its containers: {', '.join(self.containers)}",
            )
        if len(found) > 1:
            lines = ", ".join(str(s.line) for s in found)
            raise InvalidInput(
                f"{self.id}: container {container!r} is written more than once "
                f"({self.file} lines {lines})"
            )
        return found[0]


def find_target(
    discovery: Discovery, root: Path, wanted: WorkloadId, *, file: str | None
) -> Target:
    """The one workload *wanted* names; InvalidInput (with the candidates) otherwise."""
    from imagebot.manifests.annotate import find_workloads

    sites = [s for s in discovery.sites if wanted.matches(s) and (file is None or s.file == file)]
    if not sites:
        known = sorted({s.workload for s in discovery.sites})
        close = difflib.get_close_matches(str(wanted), known, n=3, cutoff=0.8)
        where = f" in {file}" if file else ""
        raise InvalidInput(
            f"no workload {wanted}{where} with container images in the repository",
            hint=f"did you mean {', '.join(close)}?" if close else "see imagebot list-images",
        )
    groups: dict[tuple[str, str], list[ImageSite]] = {}
    for site in sites:
        groups.setdefault((site.file, site.workload), []).append(site)
    if len(groups) > 1:
        listed = "; ".join(f"{w} in {f}" for f, w in sorted(groups))
        ids = {w for _, w in groups}
        hint = "pass --file to choose one" if len(ids) == 1 else "name the namespace as well"
        raise InvalidInput(f"{wanted} names more than one workload: {listed}", hint=hint)
    (path, workload), group = next(iter(groups.items()))
    if any(site.writeback is not None for site in group):
        origin = group[0].source.removeprefix("argocd-image-updater:")
        raise InvalidInput(
            f"{workload} is an Argo CD Application followed through Argo CD Image Updater "
            f"settings ({origin}); imagebot does not lock, release or change it here",
            hint="edit those settings, or the image where the application's source sets it",
        )
    docs = [
        d
        for d in find_workloads((root / path).read_bytes(), path)
        if d.kind == group[0].kind and d.name == group[0].name and d.namespace == group[0].namespace
    ]
    if len(docs) > 1:
        raise ManifestError(
            f"{workload} is defined {len(docs)} times in this file (lines "
            f"{', '.join(str(d.line) for d in docs)}); edit it by hand",
            file=path,
        )
    return Target(workload, path, docs[0] if docs else None, group)


def pick_containers(
    target: Target, containers: Iterable[str], every: bool, *, allow_all: bool = True
) -> list[str]:
    """The containers named (each must exist), or every one with *every*; a workload with one
    container needs neither. *allow_all*: whether to suggest every container in the hint."""
    names = list(dict.fromkeys(containers))
    if every and names:
        raise InvalidInput("give --container or --all-containers, not both")
    if every:
        return target.containers
    if not names:
        if len(target.containers) == 1:
            return target.containers
        raise InvalidInput(
            f"{target.id} has {len(target.containers)} containers; say which",
            hint=f"--container {' / '.join(target.containers)}"
            + (", or --all-containers" if allow_all else ""),
        )
    for name in names:
        target.site(name)
    return names


def repository_named(config: Config, name: str) -> RepositoryConfig:
    """The configured repository called *name* (its ``display_name``); InvalidInput if none."""
    for repo in config.repositories:
        if repo.display_name == name:
            return repo
    known = ", ".join(r.display_name for r in config.repositories) or "none"
    raise InvalidInput(f"no repository {name!r} in the config", hint=f"configured: {known}")


def workload_sites(config: Config, repo: RepositoryConfig, workload: str) -> list[ImageSite]:
    """The sites of one workload of a configured repository, read from its checkout (the
    bot's clone, synced first, or the local path as it is)."""
    from imagebot.gitops import Workspace

    with Workspace.open(repo, config.resolved_state_dir()) as ws:
        if ws.kind == "clone":
            ws.sync()
        found = read_checkout(ws.root, repo)
    return select_workload(found.sites, workload)
