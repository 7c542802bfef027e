"""The run's summary.json: its exact bytes (content and key order) and the public names it kept
when it left page.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pytest

import lstm_backtrader.backtests.report as report_pkg
from lstm_backtrader.backtests.report import page, summary
from lstm_backtrader.backtests.report.summary import (
    SCHEMA,
    ReportInputs,
    is_plain_name,
    is_relative_link,
    load_summary,
    summary_dict,
    write_summary,
)


def _inputs() -> ReportInputs:
    """Every kind of value jsonable meets: NumPy scalars, NaN/inf, sets, paths, timestamps,
    dates, timedeltas, NaT, a digest column and non-ASCII text."""
    idx = pd.Index(["LSTM", "Buy & hold"], name="name")
    strategies = pd.DataFrame(
        {
            "total_return": [0.5, np.float64(1.25)],
            "sharpe": [np.nan, 1.5],
            "n_trades": [np.int64(3), 0],
        },
        index=idx,
    )
    folds = pd.DataFrame(
        {
            "fold": [0, 1],
            "start": pd.to_datetime(["2024-01-01", "2024-02-01"], utc=True),
            "rmse": [0.03, np.nan],
            "baseline_rmse": [0.025, 0.0],
            "model_hash": ["ab" * 32, None],
        }
    )
    return ReportInputs(
        title="Run — SR₀ <x>",
        config={"model": {"units": (50, 50), "dropout": float("inf"), "tags": {"b", "a"}},
                "path": PurePosixPath("data/btc.csv"), "flag": np.bool_(True)},
        data={"start": pd.Timestamp("2024-01-01", tz="UTC"), "end": dt.date(2024, 3, 1),
              "gap": pd.Timedelta(hours=4), "missing": pd.NaT, "bars": np.int32(60)},
        periods_per_year=365,
        strategies=strategies,
        forecast={"rmse_ratio": np.float32(0.5), "n": 59},
        significance={"strategy": "LSTM", "n_trials": 3, "dsr": None},
        folds=folds,
        notes=("costs: 0.1% a side", "ünïcode ≥"),
    )  # fmt: skip


#: summary_dict(_inputs(), ["equity", "folds"]) as the page.py of before the split wrote it:
#: the same keys in the same order, the same values.
EXPECTED = {
    "schema": "lstm-bt.report/1",
    "title": "Run — SR₀ <x>",
    "model_name": "LSTM",
    "baseline_name": "Persistence",
    "periods_per_year": 365.0,
    "data": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-03-01", "gap": 14400.0,
             "missing": "NaT", "bars": 60},
    "config": {"model": {"units": [50, 50], "dropout": None, "tags": ["a", "b"]},
               "path": "data/btc.csv", "flag": True},
    "strategies": {
        "columns": ["strategy", "total_return", "sharpe", "n_trades"],
        "rows": [
            {"strategy": "LSTM", "total_return": 0.5, "sharpe": None, "n_trades": 3},
            {"strategy": "Buy & hold", "total_return": 1.25, "sharpe": 1.5, "n_trades": 0},
        ],
    },
    "forecast": {"rmse_ratio": 0.5, "n": 59},
    "significance": [{"strategy": "LSTM", "n_trials": 3, "dsr": None}],
    "folds": {
        "columns": ["fold", "start", "rmse", "baseline_rmse", "model_hash", "rmse_ratio"],
        "rows": [
            {"fold": 0, "start": "2024-01-01T00:00:00+00:00", "rmse": 0.03, "baseline_rmse": 0.025,
             "model_hash": "ab" * 32, "rmse_ratio": 1.2},
            {"fold": 1, "start": "2024-02-01T00:00:00+00:00", "rmse": None, "baseline_rmse": 0.0,
             "model_hash": None, "rmse_ratio": None},
        ],
    },
    "tearsheet": "tearsheet.html",
    "tearsheet_notes": [],
    "images": ["equity", "folds"],
    "notes": ["costs: 0.1% a side", "ünïcode ≥"],
}  # fmt: skip


def test_summary_json_bytes_are_unchanged(tmp_path: Path) -> None:
    got = summary_dict(_inputs(), ["equity", "folds"])
    assert got == EXPECTED
    assert list(got) == list(EXPECTED)  # key order is part of the file
    path = write_summary(tmp_path / "summary.json", got)
    expected_text = json.dumps(EXPECTED, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    assert path.read_bytes() == expected_text.encode("utf-8")  # keys, order, UTF-8, newline
    assert "SR₀" in path.read_text(encoding="utf-8")  # not \u escapes
    assert load_summary(path) == EXPECTED
    # the same inputs twice give the same bytes
    again = write_summary(tmp_path / "again.json", summary_dict(_inputs(), ["equity", "folds"]))
    assert again.read_bytes() == path.read_bytes()


def test_public_names_stay_importable_from_page_and_package() -> None:
    assert page.__all__ == [
        "SCHEMA", "ReportInputs", "jsonable", "load_summary", "rebuild_index", "render_index",
        "summary_dict", "write_index", "write_report", "write_summary",
    ]  # fmt: skip
    for name in ("SCHEMA", "ReportInputs", "jsonable", "load_summary", "summary_dict",
                 "write_summary"):  # fmt: skip
        assert getattr(page, name) is getattr(summary, name), name
    for name in ("ReportInputs", "load_summary", "rebuild_index", "render_index", "summary_dict",
                 "write_index", "write_report", "write_summary"):  # fmt: skip
        assert getattr(report_pkg, name) is getattr(page, name), name
    assert SCHEMA == "lstm-bt.report/1"


@pytest.mark.parametrize(
    ("text", "name", "link"),
    [
        ("equity", True, True),
        ("equity_log.v2", True, True),
        ("sub/tearsheet.html", False, True),
        ("../x.html", False, False),
        ("/etc/passwd", False, False),
        ("https://example.com/x.html", False, False),
        ("javascript:alert(1)", False, False),
        ("a b", False, False),
        ("", False, False),
        (None, False, False),
    ],
)
def test_plain_names_and_relative_links(text: object, name: bool, link: bool) -> None:
    assert is_plain_name(text) is name
    assert is_relative_link(text) is link


def test_bad_names_are_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match="plain file stem"):
        summary_dict(_inputs(), ["../escape"])
    bad = ReportInputs(title="t", config={}, data={}, periods_per_year=365,
                       strategies=_inputs().strategies, tearsheet="../t.html")  # fmt: skip
    with pytest.raises(ValueError, match="relative"):
        summary_dict(bad)
