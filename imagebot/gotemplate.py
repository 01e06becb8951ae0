"""The part of Go's ``text/template`` that Flux commit message templates use, in Python.

Flux renders ``ImageUpdateAutomation.spec.git.commit.messageTemplate`` with Go's
``text/template``; users copy the templates from Flux's documentation::

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

Supported, with Go's meaning: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming,
comments, fields and map keys (``.A.B``, ``$x.Kind``, ``.Values.env``), methods without
arguments (``.Changed.Changes``), variables (``$``, ``$x := ...``), ``range`` (over lists and
maps in sorted key order, one or two variables, ``else``), ``if``/``else if``/``else``,
``with``, pipelines (``x | f``), string and number literals, and the functions ``len``,
``print``, ``println``, ``printf`` (``%s %v %d %q``), ``upper``, ``lower``, ``trim``,
``trimPrefix``, ``trimSuffix``, ``replace``, ``join``, ``first``, ``last``, ``eq``, ``ne``,
``not``, ``and``, ``or``. Anything else
(``define``/``template``/``block``, parentheses, other functions) is a :class:`TemplateError`
naming it and its line, never silently wrong.

A template comes from a repository, so it is hostile: its size, nesting, the work it may do
(``MAX_STEPS``, nested ranges included) and the text it may produce are bounded, and data is
reached only through the fields :func:`render` is given (:class:`GoStruct` attributes listed
in ``fields``), never through Python attributes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TEMPLATE_BYTES = 16 << 10
MAX_DEPTH = 32
MAX_STEPS = 100_000
MAX_OUTPUT = 64 << 10
NO_VALUE = "<no value>"


class TemplateError(Exception):
    """A template that cannot be parsed or run; the message names the line."""


class GoStruct:
    """A value with Go fields (``fields``: names readable from a template) and Go's printed
    form (``__str__``). Methods listed in ``methods`` are called without arguments."""

    fields: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def sort_key(self) -> tuple[Any, ...]:
        return tuple(str(getattr(self, f)) for f in self.fields)


# --- parsing -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
      | (?P<number>-?\d+)
      | (?P<declare>:=|=)
      | (?P<pipe>\|)
      | (?P<comma>,)
      | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str
    text: str


@dataclass
class _Pipeline:
    line: int
    commands: list[list[_Token]]
    declare: list[str] = field(default_factory=list)  # variables set by := / =


@dataclass
class _Node:
    kind: str  # text | out | range | if | with | set
    line: int
    text: str = ""
    pipe: _Pipeline | None = None
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _lex(template: str) -> list[tuple[str, str, int]]:
    """(kind, text, line): "text" pieces and "action" bodies, trims applied. One pass: each
    action ends at the first ``}}`` after its ``{{`` (linear in the template's length)."""
    if len(template.encode()) > MAX_TEMPLATE_BYTES:
        raise TemplateError(f"template is over {MAX_TEMPLATE_BYTES} bytes")
    out: list[tuple[str, str, int]] = []
    pos = 0
    trim_next = False
    while True:
        start = template.find("{{", pos)
        text = template[pos:] if start == -1 else template[pos:start]
        inner = ""
        if start != -1:
            end = template.find("}}", start + 2)
            if end == -1:
                line = template.count("\n", 0, start) + 1
                raise TemplateError(f"line {line}: unclosed action")
            inner = template[start + 2 : end]
            if inner[:1] == "-" and inner[1:2] in _SPACE:
                text = text.rstrip(_SPACE)
                inner = inner[2:]
        if trim_next:
            text = text.lstrip(_SPACE)
        if text:
            out.append(("text", text, template.count("\n", 0, pos) + 1))
        if start == -1:
            return out
        trim_next = inner[-1:] == "-" and inner[-2:-1] in _SPACE and len(inner) >= 2
        if trim_next:
            inner = inner[:-2]
        body = inner.strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            out.append(("action", body, template.count("\n", 0, start) + 1))
        pos = end + 2


_SPACE = " \t\r\n"


def _tokens(body: str, line: int) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(body):
        kind = match.lastgroup
        if kind is None:
            continue
        text = match.group(kind)
        if kind == "other":
            raise TemplateError(f"line {line}: unexpected {text!r} in {{{{ {body} }}}}")
        tokens.append(_Token(kind, text))
    return tokens


def _pipeline(tokens: list[_Token], line: int) -> _Pipeline:
    declare: list[str] = []
    if any(t.kind == "declare" for t in tokens):
        at = next(i for i, t in enumerate(tokens) if t.kind == "declare")
        names = [t for t in tokens[:at] if t.kind != "comma"]
        if not names or any(t.kind != "var" or "." in t.text for t in names) or len(names) > 2:
            raise TemplateError(f"line {line}: bad variable declaration")
        declare = [t.text for t in names]
        tokens = tokens[at + 1 :]
    commands: list[list[_Token]] = [[]]
    for token in tokens:
        if token.kind == "pipe":
            commands.append([])
        elif token.kind == "comma":
            raise TemplateError(f"line {line}: unexpected ','")
        else:
            commands[-1].append(token)
    if any(not c for c in commands):
        raise TemplateError(f"line {line}: missing value in pipeline")
    return _Pipeline(line, commands, declare)


_BLOCKS = ("range", "if", "with")
_UNSUPPORTED = ("define", "template", "block", "break", "continue")


def parse(template: str) -> list[_Node]:
    """The template as nodes; :class:`TemplateError` naming the line when it is not one."""
    pieces = _lex(template)
    root: list[_Node] = []
    stack: list[tuple[_Node, list[_Node]]] = []
    current = root
    for kind, text, line in pieces:
        if kind == "text":
            current.append(_Node("text", line, text=text))
            continue
        tokens = _tokens(text, line)
        if not tokens:
            raise TemplateError(f"line {line}: empty action")
        head = tokens[0].text if tokens[0].kind == "word" else ""
        if head in _UNSUPPORTED:
            raise TemplateError(f"line {line}: {{{{ {head} }}}} is not supported here")
        if head in _BLOCKS:
            if len(stack) >= MAX_DEPTH:
                raise TemplateError(f"line {line}: nested deeper than {MAX_DEPTH}")
            node = _Node(head, line, pipe=_pipeline(tokens[1:], line))
            current.append(node)
            stack.append((node, current))
            current = node.body
        elif head == "else":
            if not stack or stack[-1][0].kind not in _BLOCKS or current is stack[-1][0].orelse:
                raise TemplateError(f"line {line}: {{{{ else }}}} outside range/if/with")
            node = stack[-1][0]
            current = node.orelse
            if len(tokens) > 1:
                if tokens[1].text != "if" or node.kind != "if":
                    raise TemplateError(f"line {line}: only 'else if' may follow else")
                inner = _Node("if", line, pipe=_pipeline(tokens[2:], line))
                current.append(inner)
                current = inner.body
                stack.append((inner, _CHAINED))  # closed by the outer if's {{ end }}
        elif head == "end":
            if not stack:
                raise TemplateError(f"line {line}: {{{{ end }}}} without a block")
            while stack and stack[-1][1] is _CHAINED:
                stack.pop()
            _node, current = stack.pop()
        else:
            pipe = _pipeline(tokens, line)
            current.append(_Node("set" if pipe.declare else "out", line, pipe=pipe))
    if stack:
        raise TemplateError(f"line {stack[-1][0].line}: {{{{ {stack[-1][0].kind} }}}} never ends")
    return root


_CHAINED: list[_Node] = []


# --- running -----------------------------------------------------------------------------


def _length(value: Any) -> int:
    if isinstance(value, str | Sequence | Mapping):
        return len(value)
    raise TemplateError(f"len of {type(value).__name__}")


def _truth(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | str | Sequence | Mapping):
        return bool(value)
    return True


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _length,
    "print": lambda *args: _sprint(args),
    "println": lambda *args: " ".join(show(a) for a in args) + "\n",
    "printf": lambda fmt, *args: _sprintf(show(fmt), args),
    "upper": lambda s: show(s).upper(),
    "lower": lambda s: show(s).lower(),
    "trim": lambda s: show(s).strip(),
    "trimPrefix": lambda prefix, s: show(s).removeprefix(show(prefix)),
    "trimSuffix": lambda suffix, s: show(s).removesuffix(show(suffix)),
    "replace": lambda old, new, s: show(s).replace(show(old), show(new)),
    "join": lambda sep, items: show(sep).join(show(i) for i in items),
    "first": lambda items: items[0] if items else None,
    "last": lambda items: items[-1] if items else None,
    "eq": lambda a, *rest: any(a == b for b in rest),
    "ne": lambda a, b: a != b,
    "not": lambda a: not _truth(a),
    "and": lambda *args: next((a for a in args if not _truth(a)), args[-1]),
    "or": lambda *args: next((a for a in args if _truth(a)), args[-1]),
}


def _sprint(args: Sequence[Any]) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += show(arg)
    return out


_VERB = re.compile(r"%([-+# 0]*\d*(?:\.\d+)?)([svdq%])")


def _sprintf(fmt: str, args: Sequence[Any]) -> str:
    """Go's ``fmt.Sprintf`` for ``%s``, ``%v``, ``%d``, ``%q`` and ``%%``."""
    values = iter(args)

    def verb(match: re.Match[str]) -> str:
        flags, kind = match.group(1), match.group(2)
        if kind == "%":
            return "%"
        value = next(values, None)
        if value is None:
            return f"%!{kind}(MISSING)"
        if kind == "q":
            text = '"' + show(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif kind == "d" and isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        else:
            text = show(value)
        width = flags.lstrip("-+# 0")
        if width.isdigit():
            text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
        return text

    return _VERB.sub(verb, fmt)


def show(value: Any) -> str:
    """A value as Go's ``fmt`` prints it in a template."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: _order(kv[0]))
        return "map[" + " ".join(f"{show(k)}:{show(v)}" for k, v in items) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(show(v) for v in value) + "]"
    return str(value)


def _order(key: Any) -> Any:
    return key.sort_key() if isinstance(key, GoStruct) else key


@dataclass
class _Run:
    root: Any
    steps: int = 0
    size: int = 0
    out: list[str] = field(default_factory=list)

    def emit(self, text: str, line: int) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"line {line}: the message grows past {MAX_OUTPUT} characters")
        self.out.append(text)

    def tick(self, line: int) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateError(f"line {line}: the template takes more than {MAX_STEPS} steps")

    def block(self, nodes: list[_Node], dot: Any, env: dict[str, Any]) -> None:
        for node in nodes:
            self.tick(node.line)
            if node.kind == "text":
                self.emit(node.text, node.line)
            elif node.kind == "out":
                assert node.pipe is not None
                self.emit(show(self.pipe(node.pipe, dot, env)), node.line)
            elif node.kind == "set":
                assert node.pipe is not None
                env[node.pipe.declare[0]] = self.pipe(node.pipe, dot, env)
            elif node.kind == "if":
                assert node.pipe is not None
                scope = dict(env)
                value = self.pipe(node.pipe, dot, env)
                if node.pipe.declare:
                    scope[node.pipe.declare[0]] = value
                self.block(node.body if _truth(value) else node.orelse, dot, scope)
            elif node.kind == "with":
                assert node.pipe is not None
                value = self.pipe(node.pipe, dot, env)
                if _truth(value):
                    scope = dict(env)
                    if node.pipe.declare:
                        scope[node.pipe.declare[0]] = value
                    self.block(node.body, value, scope)
                else:
                    self.block(node.orelse, dot, dict(env))
            elif node.kind == "range":
                self.range(node, dot, env)

    def range(self, node: _Node, dot: Any, env: dict[str, Any]) -> None:
        assert node.pipe is not None
        value = self.pipe(node.pipe, dot, env)
        if value is None:
            items: list[tuple[Any, Any]] = []
        elif isinstance(value, Mapping):
            items = sorted(value.items(), key=lambda kv: _order(kv[0]))
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(max(0, min(value, MAX_STEPS)))]
        else:
            raise TemplateError(f"line {node.line}: range can't iterate over {show(value)}")
        if not items:
            self.block(node.orelse, dot, dict(env))
            return
        names = node.pipe.declare
        for key, item in items:
            self.tick(node.line)
            scope = dict(env)
            if len(names) == 1:
                scope[names[0]] = item
            elif len(names) == 2:
                scope[names[0]], scope[names[1]] = key, item
            self.block(node.body, item, scope)

    def pipe(self, pipe: _Pipeline, dot: Any, env: dict[str, Any]) -> Any:
        value: Any = _MISSING
        for command in pipe.commands:
            value = self.command(command, dot, env, value, pipe.line)
        return value

    def command(
        self, tokens: list[_Token], dot: Any, env: dict[str, Any], piped: Any, line: int
    ) -> Any:
        head = tokens[0]
        if head.kind == "word" and head.text not in ("true", "false", "nil"):
            function = _FUNCTIONS.get(head.text)
            if function is None:
                raise TemplateError(f"line {line}: function {head.text!r} is not supported")
            args = [self.operand(t, dot, env, line) for t in tokens[1:]]
            if piped is not _MISSING:
                args.append(piped)
            try:
                return function(*args)
            except TemplateError:
                raise
            except (TypeError, IndexError) as exc:
                raise TemplateError(f"line {line}: {head.text}: {exc}") from None
        if len(tokens) > 1 or piped is not _MISSING:
            raise TemplateError(f"line {line}: {head.text} is not a function")
        return self.operand(head, dot, env, line)

    def operand(self, token: _Token, dot: Any, env: dict[str, Any], line: int) -> Any:
        if token.kind == "string":
            return _unquote(token.text, line)
        if token.kind == "number":
            return int(token.text)
        if token.kind == "word":
            return {"true": True, "false": False, "nil": None}.get(token.text)
        if token.kind == "var":
            name, _, rest = token.text.partition(".")
            if name == "$":
                base = self.root
            elif name in env:
                base = env[name]
            else:
                raise TemplateError(f"line {line}: undefined variable {name}")
            return self.fields(base, rest.split(".") if rest else [], line)
        if token.kind == "field":
            names = [n for n in token.text.split(".") if n]
            return self.fields(dot, names, line)
        raise TemplateError(f"line {line}: unexpected {token.text!r}")

    def fields(self, value: Any, names: list[str], line: int) -> Any:
        for name in names:
            self.tick(line)
            if isinstance(value, Mapping):
                value = value.get(name)
            elif isinstance(value, GoStruct) and name in value.fields:
                value = getattr(value, name)
            elif isinstance(value, GoStruct) and name in value.methods:
                value = getattr(value, name)()
            else:
                kind = type(value).__name__ if not isinstance(value, GoStruct) else "struct"
                raise TemplateError(f"line {line}: can't evaluate field {name} in type {kind}")
        return value


_MISSING = object()
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "r": "\r"}


def _unquote(text: str, line: int) -> str:
    if text.startswith("`"):
        return text[1:-1]

    def escape(match: re.Match[str]) -> str:
        char = match.group(1)
        if char not in _ESCAPES:
            raise TemplateError(f"line {line}: unsupported escape \\{char}")
        return _ESCAPES[char]

    return re.sub(r"\\(.)", escape, text[1:-1])


def render(template: str, data: Mapping[str, Any]) -> str:
    """*template* run over *data* (its top-level fields); :class:`TemplateError` if not."""
    nodes = parse(template)
    run = _Run(data)
    run.block(nodes, data, {"$": data})
    return "".join(run.out)


__all__ = ["MAX_OUTPUT", "MAX_STEPS", "GoStruct", "TemplateError", "parse", "render", "show"]
