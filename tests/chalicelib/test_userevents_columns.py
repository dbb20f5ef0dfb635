"""The user data stream reads only ``userevents.REPORT_COLUMNS`` of an order's row:
every key the reports read is one of them, each of them is selected, and rows cut
down to them give the same reports (pure; no server)."""
from __future__ import annotations

from chalicelib import userevents
from tests.chalicelib.test_userevents import scenario_reports


class _Recording(dict):
    """A row that notes every key read from it."""

    read: set[str] = set()

    def __getitem__(self, key):
        _Recording.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        _Recording.read.add(key)
        return super().get(key, default)


def test_the_reports_read_only_the_selected_columns(monkeypatch):
    expected = scenario_reports()
    original = userevents.execution_reports

    def cut(spec, applied, fills, rows, event_time=None, lists=None):
        rows = {oid: _Recording({k: v for k, v in r.items() if k in userevents.REPORT_COLUMNS})
                for oid, r in rows.items()}
        return original(spec, applied, fills, rows, event_time, lists)

    monkeypatch.setattr(userevents, "execution_reports", cut)
    _Recording.read = set()
    assert scenario_reports() == expected
    assert _Recording.read and _Recording.read <= set(userevents.REPORT_COLUMNS)


def test_every_report_column_is_selected():
    selected = [c.split()[-1] for c in userevents._report_cols().split(", ")]
    assert sorted(selected) == sorted(userevents.REPORT_COLUMNS)
