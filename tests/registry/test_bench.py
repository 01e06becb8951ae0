"""The registry benchmark runs (on a small size: it is not a timed test)."""

from __future__ import annotations

from bench import __main__ as bench_main
from bench.registry_tags import measure


def test_registry_benchmark_measures_both_clients_on_the_same_lists():
    result = measure(repositories=5, tags=3, rounds=1)
    assert result.repositories == 5
    assert result.floor_requests == 5
    assert result.scanner_requests == 5  # no auth: one request per repository, like the floor
    assert result.scanner_seconds > 0
    assert result.floor_seconds > 0
    assert "x requests" in result.report()


def test_python_dash_m_bench_runs_the_registry_benchmark(capsys):
    assert bench_main.main(["registry_tags", "--quick", "--tags", "2"]) == 0
    out = capsys.readouterr().out
    assert "| registry: tag lists | 5 repos |" in out
    assert "| registry: tag lists, default config | 5 repos |" in out
