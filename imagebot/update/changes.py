"""From resolutions to new file contents, a diff, a commit message and a pull request text.

Pure: reads the files concerned, never writes them. The Git writer commits the returned
contents; the dry run prints the diff.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import string
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagebot.errors import ConfigError
from imagebot.manifests import Edit, rewrite
from imagebot.manifests.argowrite import WriteEdit, write_back
from imagebot.manifests.namespaces import CLUSTER
from imagebot.manifests.yamlsource import blob_id
from imagebot.update.resolve import Problem, Resolution

DEFAULT_MESSAGE = "{subject}\n\n{changes}\n"
DEFAULT_TITLE = "{subject}"

#: Fields a commit message or PR title template may use, with what they hold.
TEMPLATE_FIELDS: dict[str, str] = {
    "subject": "a one-line summary: 'Update podinfo to 6.5.1', 'Update redis to 7.2.5 and "
    "7.4.1 in 2 places' or 'Update 3 images'",
    "changes": "one line per change: 'file: kind/namespace/name container old -> new'",
    "count": "how many image values changed",
    "images": "the images changed, comma-separated (as written in the manifests)",
    "repository": "the repository's name (repositories[].name, or from its URL)",
    "branch": "the branch being updated",
}


@dataclass
class ChangeSet:
    """New contents for the files an update touches, and what was applied or refused."""

    files: dict[str, bytes] = field(default_factory=dict)
    old: dict[str, bytes] = field(default_factory=dict)
    applied: list[Resolution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: Per file, a holder for its diff text once computed: shared with the rewrite cache
    #: (:func:`reusing_rewrites`), so that a rewrite reused from the last cycle is not
    #: diffed again. Only used while the file's old and new bytes are the ones it was for.
    diffs: dict[str, _DiffMemo] = field(default_factory=dict, repr=False, compare=False)

    def diff(self) -> str:
        """A unified diff of every changed file, as `git diff` would show it."""
        out: list[str] = []
        for path in sorted(self.files):
            old, new = self.old[path], self.files[path]
            memo = self.diffs.get(path)
            if memo is None or memo.old != old or memo.new != new:
                out.append(file_diff(path, old, new))
                continue
            if memo.text is None:
                memo.text = file_diff(path, old, new)
            out.append(memo.text)
        return "".join(out)


def file_diff(path: str, old: bytes, new: bytes) -> str:
    """One file's part of :meth:`ChangeSet.diff`."""
    lines = _unified_diff(
        old.decode("utf-8", "replace").splitlines(keepends=True),
        new.decode("utf-8", "replace").splitlines(keepends=True),
        f"a/{path}",
        f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(eq=False)
class _DiffMemo:
    """A file's diff, computed at most once for these old and new bytes."""

    old: bytes
    new: bytes
    text: str | None = None


def _unified_diff(old: list[str], new: list[str], a: str, b: str) -> list[str]:
    """A unified diff with 3 lines of context, as ``difflib.unified_diff`` writes it.

    An image update rewrites values in place and never adds or removes a line: then each
    changed line is shown where it is (a run of them as its ``-`` lines, then its ``+``
    lines), without matching the whole file. Otherwise difflib's own answer."""
    if len(old) != len(new):
        return list(difflib.unified_diff(old, new, a, b))
    changed = [i for i, (x, y) in enumerate(zip(old, new, strict=True)) if x != y]
    if not changed:
        return []
    lines = [f"--- {a}\n", f"+++ {b}\n"]
    groups: list[list[int]] = [[changed[0]]]
    for i in changed[1:]:
        if i - groups[-1][-1] - 1 > 6:  # over twice the context apart: a hunk of its own
            groups.append([i])
        else:
            groups[-1].append(i)
    for group in groups:
        start, stop = max(group[0] - 3, 0), min(group[-1] + 4, len(old))
        lines.append(f"@@ -{_range(start, stop)} +{_range(start, stop)} @@\n")
        i = start
        while i < stop:
            if old[i] == new[i]:
                lines.append(" " + old[i])
                i += 1
                continue
            run = i
            while run < stop and old[run] != new[run]:
                run += 1
            lines.extend("-" + line for line in old[i:run])
            lines.extend("+" + line for line in new[i:run])
            i = run
    return lines


def _range(start: int, stop: int) -> str:
    """A unified diff's line range, as difflib writes it."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if not length else start + 1},{length}"


@dataclass(frozen=True)
class _Rewritten:
    content: bytes
    notes: tuple[str, ...]
    errors: tuple[str, ...]
    applied: frozenset[int]  # indices into the edits
    diff: _DiffMemo  # the old bytes (the blob's) and the diff once shown


#: (file, blob id of its bytes, every edit's site id, parts and new values) -> the rewrite.
RewriteCache = dict[tuple[object, ...], _Rewritten]


def _rewrite_key(path: str, edits: list[Edit]) -> tuple[object, ...] | None:
    if any(e.site.blob is None for e in edits):
        return None
    return (
        path,
        edits[0].site.blob,
        tuple((e.site.id, tuple(e.site.parts), e.new_tag, e.new_digest, e.new_name) for e in edits),
    )


@dataclass(frozen=True)
class _Reuse:
    cache: RewriteCache
    blobs: Mapping[str, str] | None  # path -> Git blob id of the files unchanged in the checkout


_REUSE: contextvars.ContextVar[_Reuse | None] = contextvars.ContextVar(
    "imagebot_rewrite_cache", default=None
)


@contextlib.contextmanager
def reusing_rewrites(cache: RewriteCache, blobs: Mapping[str, str] | None = None) -> Iterator[None]:
    """Within the block, :func:`build_changes` reuses and refills *cache* (the update cycle
    keeps one per checkout, so that a cycle that plans the same rewrites as the last one,
    e.g. while its pull request is open, does not parse those files again).

    With *blobs* (``Workspace.blobs()``: what Git knows to be in the checkout), a file whose
    blob is the one the cached rewrite was made from is not even read again: the cache holds
    its bytes. Without them, or for any other file, the file is read and its bytes hashed."""
    token = _REUSE.set(_Reuse(cache, blobs))
    try:
        yield
    finally:
        _REUSE.reset(token)


def build_changes(root: Path, resolutions: Sequence[Resolution]) -> ChangeSet:
    """Rewrite every file with updates; a refused edit fails its site, the rest still apply.

    Inside :func:`reusing_rewrites`, a file whose bytes and edits are the ones of the previous
    call is not rewritten again; only what this call used is kept."""
    reuse = _REUSE.get()
    out = ChangeSet()
    used: RewriteCache = {}
    by_file: dict[str, list[Resolution]] = defaultdict(list)
    for res in resolutions:
        if res.changed:
            by_file[res.site.file].append(res)
    for path, every in sorted(by_file.items()):
        group = [r for r in every if r.site.writeback is None]
        targeted = [r for r in every if r.site.writeback is not None]
        content: bytes | None = None
        if targeted:  # Argo CD write-back targets: the file is always read (it may not exist)
            try:
                content = _read_or_refuse(root, path, every, out)
            except _Unreadable:
                continue
            if content is None:
                _refuse_missing(path, group, out)
                _write_targets(path, None, targeted, out)
                continue
            if not group:
                _write_targets(path, content, targeted, out)
                continue
        edits = [Edit(r.site, r.new_tag, r.new_digest, r.new_name) for r in group]
        key = _rewrite_key(path, edits) if reuse is not None else None
        done = reuse.cache.get(key) if reuse is not None and key is not None else None
        if (
            done is None
            or reuse is None
            or reuse.blobs is None
            or reuse.blobs.get(path) != edits[0].site.blob
        ):
            if content is None:
                try:
                    content = _read_or_refuse(root, path, group, out)
                except _Unreadable:
                    continue
                if content is None:
                    _refuse_missing(path, group, out)
                    continue
            same = key is not None and edits[0].site.blob == blob_id(content)
            if done is None or not same:
                result = rewrite(content, edits)
                applied = {id(edit.site) for edit in result.applied}
                done = _Rewritten(
                    result.content,
                    tuple(result.notes),
                    tuple(result.errors),
                    frozenset(i for i, e in enumerate(edits) if id(e.site) in applied),
                    _DiffMemo(content, result.content),
                )
            if key is not None and same:  # kept only for the bytes the key names
                used[key] = done
        else:  # Git says the file still holds the bytes this rewrite was made from
            content = done.diff.old
            used[key] = done  # type: ignore[index]
        for i, res in enumerate(group):
            if i in done.applied:
                out.applied.append(res)
        for i, res in enumerate(group):
            if i not in done.applied:
                _refuse(res, _error_for(res, list(done.errors)), out)
        if done.content != content:
            out.files[path] = done.content
            out.old[path] = content
            out.diffs[path] = done.diff
        out.notes.extend(f"{path}: {note}" for note in done.notes)
        if targeted:
            _write_targets(path, out.files.get(path, content), targeted, out, old=content)
    if reuse is not None:
        reuse.cache.clear()
        reuse.cache.update(used)
    return out


class _Unreadable(Exception):
    """The file exists but cannot be read; its resolutions were refused."""


def _read_or_refuse(
    root: Path, path: str, resolutions: Sequence[Resolution], out: ChangeSet
) -> bytes | None:
    """:func:`_read_target`; when the file cannot be read, each of *resolutions* is refused
    with the reason and :class:`_Unreadable` raised."""
    try:
        return _read_target(root, path)
    except OSError as exc:
        for res in resolutions:
            _refuse(res, f"{path}: cannot read: {exc.strerror}", out)
        raise _Unreadable(path) from None


def _refuse_missing(path: str, resolutions: Sequence[Resolution], out: ChangeSet) -> None:
    for res in resolutions:
        _refuse(res, f"{path}: cannot read: no such file", out)


def _read_target(root: Path, path: str) -> bytes | None:
    """A file's bytes; None when it does not exist (an Argo CD write-back creates it). Only
    regular files inside *root* are read."""
    full = root / path
    if not full.exists() and not full.is_symlink():
        return None
    if full.is_symlink() or not full.resolve().is_relative_to(root.resolve()):
        raise OSError(0, "a symlink, or not inside the repository")
    return full.read_bytes()


def _write_targets(
    path: str,
    content: bytes | None,
    group: Sequence[Resolution],
    out: ChangeSet,
    *,
    old: bytes | None = None,
) -> None:
    """Write where Argo CD Image Updater writes (``site.writeback``): the file is edited in
    place, or created when *content* is None (its old bytes are then empty)."""
    edits = []
    for res in group:
        site = res.site
        assert site.writeback is not None
        label = f"{site.file}: {site.workload} {site.container}"
        tag = res.new_tag or site.tag
        edits.append(WriteEdit(site.writeback, tag, res.new_digest, label))
    result = write_back(content, edits)
    for i, res in enumerate(group):
        if i in result.applied:
            out.applied.append(res)
        else:
            prefix = edits[i].label
            message = next((e for e in result.errors if e.startswith(prefix)), None)
            _refuse(res, message or f"{prefix}: not written", out)
    base = old if old is not None else (content or b"")
    if result.applied and result.content != (content or b""):
        out.files[path] = result.content
        out.old[path] = base
    elif content is None:
        out.files.pop(path, None)
    out.notes.extend(result.notes)


def _error_for(res: Resolution, errors: list[str]) -> str:
    """The rewriter's message for this site (its messages start with file, line, workload)."""
    site = res.site
    prefix = f"{site.file}:{site.line}: {site.workload} container {site.container}"
    for message in errors:
        if message.startswith(prefix):
            return message
    return errors[0] if errors else f"{prefix}: the rewriter did not apply the change"


def _refuse(res: Resolution, message: str, out: ChangeSet) -> None:
    res.status = "error"
    res.reason = message
    res.problem = Problem("rewrite", res.site.id, message)
    out.problems.append(res.problem)


def change_line(res: Resolution) -> str:
    """``file: kind/namespace/name container old -> new`` (digests shortened); the namespace
    is where the workload lands (``Deployment/default/carts``), ``-`` for cluster-scoped."""
    site = res.site
    namespace = site.landing_namespace.replace(CLUSTER, "-")
    workload = f"{site.kind}/{namespace}/{site.name}"
    line = f"{site.file}: {workload} {site.container} {change_text(res)}"
    held = res.held
    if held is not None:  # a newer tag waits at a supply-chain gate: say why this one
        line += f" ({held.tag} held: {held.reason})"
    return line


def change_text(res: Resolution) -> str:
    """``old -> new``: tags (and short digests), whole references when a Flux marker renames
    the image."""
    return f"{_version(res, old=True)} -> {_version(res)}"


def _version(res: Resolution, *, old: bool = False) -> str:
    """The tag (and short digest) before or after; with the image name when a Flux marker
    renames it (``image:v1.0.0 -> index.repo.fake/updated:v1.0.1``)."""
    tag = res.site.tag if old else res.new_tag
    digest = res.site.digest if old else res.new_digest
    text = tag or "(none)"
    if res.new_name is not None:
        name = _image_name(res) if old else res.new_name
        text = name + (f":{tag}" if tag else "")
    if digest and (old or res.new_digest):
        text += f"@{digest[:19]}"
    return text


def template_fields(
    applied: Sequence[Resolution], *, repository: str, branch: str
) -> dict[str, Any]:
    images = list(dict.fromkeys(_image_name(r) for r in applied))
    if len(applied) == 1:
        target = _version(applied[0]) if applied[0].new_name else applied[0].new_tag
        subject = f"Update {images[0]} to {target}"
    elif len(images) == 1:
        # One image moved in several places, maybe to different tags: name every tag.
        tags = _and(list(dict.fromkeys(str(r.new_tag) for r in applied)))
        subject = f"Update {images[0]} to {tags} in {len(applied)} places"
    else:
        subject = f"Update {len(applied)} images"
    return {
        "subject": subject,
        "changes": "\n".join(change_line(r) for r in applied),
        "count": len(applied),
        "images": ", ".join(images),
        "repository": repository,
        "branch": branch,
    }


def _and(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _image_name(res: Resolution) -> str:
    image = res.site.image
    return image.familiar_name if image is not None else res.site.reference_text


def render(template: str, fields: Mapping[str, Any], *, key: str) -> str:
    """Fill a user's template; an unknown field is a config error naming it."""
    try:
        return _Formatter().format(template, **fields)
    except KeyError as exc:
        raise ConfigError(
            f"unknown field {{{exc.args[0]}}} in template",
            key=key,
            hint="fields: " + ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS),
        ) from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"invalid template: {exc}", key=key) from None


class _Formatter(string.Formatter):
    """str.format without attribute or index access: a template cannot reach into objects."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            raise ValueError(f"field {{{field_name}}} is not a plain name")
        return super().get_field(field_name, args, kwargs)


def commit_message(
    applied: Sequence[Resolution], *, template: str | None, repository: str, branch: str
) -> str:
    fields = template_fields(applied, repository=repository, branch=branch)
    message = render(template or DEFAULT_MESSAGE, fields, key="commit.message")
    return message if message.endswith("\n") else message + "\n"


def pull_request_text(
    applied: Sequence[Resolution], *, title_template: str | None, repository: str, branch: str
) -> tuple[str, str]:
    """Title and Markdown body: a table of every change with its policy and registry."""
    fields = template_fields(applied, repository=repository, branch=branch)
    title = render(title_template or DEFAULT_TITLE, fields, key="pull_request.title")
    rows = [
        "| file | workload | container | image | old | new | policy | registry |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in applied:
        site = res.site
        rows.append(
            f"| `{site.file}` | `{site.workload}` | `{site.container}` | "
            f"`{_image_name(res)}` | `{_version(res, old=True)}` | `{_version(res)}` | "
            f"`{res.policy or '-'}` | {res.registry or '-'} |"
        )
    body = (
        f"imagebot updates {fields['count']} image value(s) on `{branch}`.\n\n"
        + "\n".join(rows)
        + "\n\nEach change edits only the image value; every other byte of the files is "
        "unchanged. This pull request is updated by imagebot on every cycle and closed when "
        "its changes are no longer wanted.\n"
    )
    return title.strip().splitlines()[0] if title.strip() else fields["subject"], body
