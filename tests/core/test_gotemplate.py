"""The Go text/template subset Flux commit templates use: Go's output, and hostile
templates stopped with a message naming the line."""

from __future__ import annotations

import pytest

from imagebot.gotemplate import MAX_OUTPUT, MAX_STEPS, GoStruct, TemplateError, render


class Obj(GoStruct):
    fields = ("Kind", "Name")

    def __init__(self, kind: str, name: str) -> None:
        self.Kind, self.Name = kind, name

    def __str__(self) -> str:
        return f"{self.Kind}/{self.Name}"


def test_text_without_actions_is_itself():
    assert render("Update from image update automation", {}) == (
        "Update from image update automation"
    )


def test_trim_markers_eat_the_whitespace_on_their_side_only():
    data = {"Files": {"b.yaml": 1, "a.yaml": 2}}
    template = "Files:\n{{ range $f, $_ := .Files -}}\n- {{ $f }}\n{{ end -}}\n\nDone\n"
    assert render(template, data) == "Files:\n- a.yaml\n- b.yaml\nDone\n"


def test_a_map_is_ranged_in_sorted_key_order_and_a_list_in_order():
    data = {"M": {Obj("Deployment", "b"): ["x"], Obj("Deployment", "a"): ["y", "z"]}}
    template = "{{ range $o, $cs := .M }}{{ $o.Name }}:{{ range $cs }}{{ . }}{{ end }} {{ end }}"
    assert render(template, data) == "a:yz b:x "


def test_fields_methods_and_variables_reach_only_what_is_declared():
    class Result(GoStruct):
        fields = ("Count",)
        methods = ("Items",)
        Count = 2

        def Items(self) -> list[str]:
            return ["a", "b"]

        def secret(self) -> str:
            return "no"

    assert render("{{ .R.Count }} {{ len .R.Items }} {{ $.R.Count }}", {"R": Result()}) == "2 2 2"
    with pytest.raises(TemplateError, match="line 1: can't evaluate field secret"):
        render("{{ .R.secret }}", {"R": Result()})
    with pytest.raises(TemplateError, match="can't evaluate field __class__"):
        render("{{ .R.__class__ }}", {"R": Result()})


def test_if_else_if_else_and_with_choose_as_go_does():
    template = "{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}{{ with .V }}={{ . }}{{ end }}"
    assert render(template, {"A": "", "B": [1], "V": "v"}) == "b=v"
    assert render(template, {"A": 0, "B": {}, "V": ""}) == "c"


def test_missing_map_keys_print_no_value_and_functions_pipe():
    data = {"Values": {"env": "prod"}}
    assert render("{{ .Values.env | upper }} {{ .Values.nope }}", data) == "PROD <no value>"
    assert render('{{ join ", " .L }} {{ trimPrefix "v" "v1.2" }}', {"L": ["a", "b"]}) == (
        "a, b 1.2"
    )


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("a\n{{ range .X }}", "line 2: {{ range }} never ends"),
        ("{{ end }}", "line 1: {{ end }} without a block"),
        ('{{ template "x" }}', "{{ template }} is not supported"),
        ("{{ exec .X }}", "function 'exec' is not supported"),
        ("{{ (.X) }}", "unexpected '('"),
        ("x {{ .X", "unclosed action"),
        ('{{ "\\q" }}', "unsupported escape"),
    ],
)
def test_what_it_cannot_run_is_an_error_naming_the_line(template, words):
    with pytest.raises(TemplateError, match=words.replace("(", r"\(").replace("{", r"\{")):
        render(template, {"X": [1]})


def test_nested_ranges_stop_at_the_step_budget():
    loops = "{{ range $.N }}" * 3 + "{{ end }}" * 3
    with pytest.raises(TemplateError, match=f"more than {MAX_STEPS} steps"):
        render(loops, {"N": 1000})


def test_a_message_stops_at_the_output_cap():
    with pytest.raises(TemplateError, match=f"past {MAX_OUTPUT} characters"):
        render("{{ range $.N }}" + "x" * 1000 + "{{ end }}", {"N": 1000})


def test_a_template_over_the_size_cap_is_refused_before_parsing():
    with pytest.raises(TemplateError, match="over 16384 bytes"):
        render("x" * 20000, {})


def test_deep_nesting_is_refused():
    with pytest.raises(TemplateError, match="nested deeper than 32"):
        render("{{ if 1 }}" * 40 + "{{ end }}" * 40, {})


def test_print_println_and_printf_format_as_gos_fmt_does():
    data = {"C": [{"Old": "6.0.0", "New": "7.0.0"}]}
    template = "{{range .C}}{{print .Old}} -> {{println .New}}{{end}}"
    assert render(template, data) == "6.0.0 -> 7.0.0\n"
    assert render('{{ print 1 2 "a" 3 }}', {}) == "1 2a3"
    assert render('{{ printf "%s=%d %q|%4s|%-3s|%%" "a" 3 "x" "ab" "c" }}', {}) == (
        'a=3 "x"|  ab|c  |%'
    )
