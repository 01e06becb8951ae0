"""The cycle benchmark runs end to end (one round each: it is not a timed test)."""

from __future__ import annotations

import pytest

from bench import cycle


@pytest.mark.slow
def test_every_cycle_case_updates_the_whole_fleet_and_warm_ones_ask_the_registry_nothing():
    rows = {row.case: row for row in cycle.rows(["--quick"])}
    assert list(rows) == [
        "cycle cold",
        "cycle warm (new process)",
        "cycle warm (new process, every file touched)",
        "cycle warm (imagebot run)",
    ]
    assert rows["cycle cold"].note.startswith("100 requests (floor 100), 1000 updates")
    for case, row in rows.items():
        assert (row.imagebot or 0) > 0, case
        assert (row.floor or 0) > 0, case
        if case != "cycle cold":
            assert row.note == "0 requests (floor 0), 1000 updates", case
    assert rows["cycle warm (new process, every file touched)"].target is None
