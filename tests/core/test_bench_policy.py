"""The policy and start-up benchmarks run and agree with their floors (on a small size: they
are not timed tests; ``./dev bench`` measures)."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main
from bench import policy as policy_bench
from bench import startup as startup_bench


def test_every_policy_case_picks_what_its_floor_picks():
    rows = policy_bench.rows(["--tags", "3000", "--rounds", "1"])

    assert len(rows) == len(policy_bench.cases(3000))
    assert all(row.imagebot > 0 and row.floor > 0 for row in rows)  # measure() checks the tags


def test_the_policy_floors_are_fooled_by_nothing_a_registry_lists():
    for case in policy_bench.cases(3000):
        assert case.floor(case.candidates) not in ("latest", None)


@pytest.mark.slow
def test_the_startup_benchmark_compares_each_command_with_the_same_floor():
    rows = startup_bench.rows(["--rounds", "1"])

    assert [row.case for row in rows] == [
        f"start-up: {name}" for name, _, _ in startup_bench.cases()
    ]
    assert len({row.floor for row in rows}) == 1


def test_python_dash_m_bench_refuses_an_unknown_benchmark(capsys):
    assert bench_main.main(["nonsense"]) == 2
    assert "unknown benchmark" in capsys.readouterr().out
