"""Project-level fuzz test: malformed candle files and malformed configs, through the real CLI.

Every malformed input gets exit code 2 and one line naming the file, row or field — never a
traceback, never exit 0 with wrong output. (Files that are odd but valid — unsorted rows, exact
duplicates — are checked too: exit 0 with the right bar count.)
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index_label="timestamp")


def _good(n: int = 60) -> pd.DataFrame:
    return make_candles(n, seed=3)


def _set(row: int, col: str, value: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        frame = _good().astype(object)
        frame.iloc[row, frame.columns.get_loc(col)] = value
        path.write_text(_csv(frame))

    return write


def _text(text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(text.encode(encoding))


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _frame(transform: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    return lambda path: path.write_text(_csv(transform(_good())))


def _gz_truncated(path: Path) -> None:
    data = gzip.compress(_csv(_good(400)).encode())
    path.write_bytes(data[: len(data) // 2])


def _parquet_truncated(path: Path) -> None:
    buf = io.BytesIO()
    _good().to_parquet(buf)
    path.write_bytes(buf.getvalue()[:300])


def _parquet_wrong_columns(path: Path) -> None:
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).to_parquet(path)


def _shift_alternate(frame: pd.DataFrame) -> pd.DataFrame:
    idx = frame.index.to_series()
    idx.iloc[1::2] += pd.Timedelta(hours=5)
    return frame.set_axis(pd.DatetimeIndex(idx, name="timestamp"))


def _monthly(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis(
        pd.date_range("2020-01-01", periods=len(frame), freq="MS", tz="UTC", name="timestamp")
    )


def _sub_second(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis(
        pd.date_range("2020-01-01", periods=len(frame), freq="250ms", tz="UTC", name="timestamp")
    )


def _conflicting_duplicate(frame: pd.DataFrame) -> pd.DataFrame:
    dup = frame.iloc[[10]].copy()
    dup["close"] *= 1.01
    dup["high"] = np.maximum(dup["high"], dup["close"])
    return pd.concat([frame, dup])


def _high_below_low(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.iloc[7, out.columns.get_loc("high")] = out.iloc[7]["low"] * 0.9
    return out


def _close_above_high(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.iloc[8, out.columns.get_loc("close")] = out.iloc[8]["high"] * 1.1
    return out


HEADER = "timestamp,open,high,low,close,volume\n"
ROW = "2020-01-01,1,2,0.5,1.5,10\n"

#: name -> writer of a malformed candle file (the file name's suffix matters to the loader).
MALFORMED: dict[str, Callable[[Path], None]] = {
    "empty.csv": _text(""),
    "header_only.csv": _text(HEADER),
    "binary.csv": _bytes(bytes(range(256)) * 40),
    "truncated.csv.gz": _gz_truncated,
    "gzip_of_garbage.csv.gz": _bytes(gzip.compress(bytes(range(256)) * 10)),
    "utf16.csv": _text(_csv(_good()), "utf-16"),
    "latin1_header.csv": _text("tïmestamp,öpen,high,low,close,volume\n" + ROW * 3, "latin-1"),
    "semicolons.csv": _text(_csv(_good()).replace(",", ";")),
    "tabs.csv": _text(_csv(_good()).replace(",", "\t")),
    "no_close.csv": _frame(lambda f: f.drop(columns="close")),
    "other_columns.csv": _text("a,b,c\n1,2,3\n4,5,6\n"),
    "nan_close.csv": _set(5, "close", float("nan")),
    "inf_high.csv": _set(5, "high", float("inf")),
    "minus_inf_low.csv": _set(5, "low", float("-inf")),
    "overflow_price.csv": _frame(
        lambda f: f.assign(high=f["high"].where(f.index != f.index[9], 1e300))
    ),
    "negative_price.csv": _set(6, "low", -5.0),
    "zero_price.csv": _set(6, "open", 0.0),
    "negative_volume.csv": _set(6, "volume", -1.0),
    "high_below_low.csv": _frame(_high_below_low),
    "close_above_high.csv": _frame(_close_above_high),
    "text_volume.csv": _set(4, "volume", "abc"),
    "thousands_separator.csv": _set(4, "volume", "1,234.5"),
    "conflicting_duplicates.csv": _frame(_conflicting_duplicate),
    "irregular_grid.csv": _frame(_shift_alternate),
    "sub_second.csv": _frame(_sub_second),
    "monthly.csv": _frame(_monthly),
    "one_row.csv": _text(HEADER + ROW),
    "bad_timestamps.csv": _text(HEADER + ROW.replace("2020-01-01", "yesterday") * 5),
    "empty_timestamps.csv": _text(HEADER + ROW.replace("2020-01-01", "") * 5),
    "future_and_odd_grid.csv": _text(HEADER + ROW.replace("2020", "2300") + ROW),
    "two_centuries.csv": _text(HEADER + ROW.replace("2020", "1850") + ROW),
    "huge_single_column.csv": _text("x\n" + "1.0\n" * 100_000),
    "only_commas.csv": _text(",,,,,\n" * 50),
    "truncated.parquet": _parquet_truncated,
    "wrong_columns.parquet": _parquet_wrong_columns,
    "html_error_page.csv": _text("<html><body><h1>502 Bad Gateway</h1></body></html>\n"),
    "json_content.csv": _text('{"timestamp": [1, 2], "open": [1, 2]}\n'),
    "header_repeated_inside.csv": _text(HEADER + ROW + HEADER + ROW.replace("01-01", "01-02")),
    "nul_bytes.csv": _text(HEADER + "2020-01-01,1,2\x00,0.5,1.5,10\n" * 3),
    "one_huge_line.csv": _text("timestamp," + "x" * 1_000_000 + "\n"),
    "duplicated_overflow.csv": _text(
        HEADER
        + ROW
        + ROW.replace(",1.5,", ",1e300,").replace(",2,", ",1e300,")
        + ROW.replace("01-01", "01-02")
    ),
    "missing_values_row.csv": _text(HEADER + ROW + "2020-01-02,1,,0.5,1.5,10\n"),
    "epoch_garbage_mix.csv": _text(HEADER + "1577836800000,1,2,0.5,1.5,10\nxyz,1,2,0.5,1.5,10\n"),
}


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, lines[:6]
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_candle_file_is_one_line_with_exit_code_2(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    MALFORMED[name](path)
    for args in (["data", "info", str(path)], ["backtest", "--data", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args[:2], result.exit_code, result.output[-800:])
        line = _one_error_line(result.output)
        assert path.name in line, line  # names the file


def test_missing_file_and_a_folder_are_one_line(tmp_path: Path) -> None:
    for target in (tmp_path / "nope.csv", tmp_path):
        result = runner.invoke(app, ["data", "info", str(target)])
        assert result.exit_code == 2
        assert str(target) in _one_error_line(result.output)


@pytest.mark.parametrize(
    ("name", "transform", "bars"),
    [
        ("unsorted.csv", lambda f: f.sample(frac=1.0, random_state=2), 60),
        ("exact_duplicates.csv", lambda f: pd.concat([f, f.iloc[[3, 4]]]), 60),
        ("parquet_named_csv.csv", None, 60),  # the content decides, not the name
    ],
)
def test_odd_but_valid_files_report_the_right_bars(name, transform, bars, tmp_path) -> None:
    path = tmp_path / name
    if transform is None:
        _good().to_parquet(path)
    else:
        _frame(transform)(path)
    result = runner.invoke(app, ["data", "info", str(path)])
    assert result.exit_code == 0, result.output
    assert f"│ bars          │ {bars}" in result.output


#: (TOML text, what the one error line must name)
BAD_CONFIGS: list[tuple[str, str]] = [
    ("x = ", "not valid TOML"),
    ("[bogus]\n", "[bogus]"),
    ("[model]\nfoo = 1", "[model] foo"),
    ('[model]\nlookback = "60"', "[model] lookback"),
    ("[model]\nlookback = true", "[model] lookback"),
    ("[model]\nlookback = -3", "'lookback'"),
    ("[model]\ndropout = 1.0", "'dropout'"),
    ("[model]\nunits = []", "'units'"),
    ("[model]\nunits = [0]", "'units'"),
    ("[model]\nfeatures = []", "'features'"),
    ('[model]\nkind = "transformer"', "'kind'"),
    ("[model]\nhorizon = 0", "'horizon'"),
    ("[model]\nlearning_rate = 0", "'learning_rate'"),
    ("[model]\nepochs = 0", "'epochs'"),
    ('[model]\nbatch_size = "big"', "[model] batch_size"),
    ("[walkforward]\ntrain_bars = 0", "[walkforward] train_bars"),
    ("[walkforward]\nretrain_every = -5", "[walkforward] retrain_every"),
    ("[walkforward]\ngap = 0\n[model]\nhorizon = 2", "gap"),
    ("[strategy]\nsma_fast = 60", "[strategy] sma_fast"),
    ("[strategy]\nfee = 0.5", "[strategy] fee"),
    ("[strategy]\nstake = 0", "[strategy] stake"),
    ("[strategy]\ncash = -1", "[strategy] cash"),
    ("[strategy]\nvol_window = 1", "[strategy] vol_window"),
    ('[data]\nsource = "file"', "[data] path"),
    ('[data]\nsince = "not-a-date"', "[data] since"),
    ('[data]\nsince = "2021-01-01"\nuntil = "2020-01-01"', "[data] until"),
    ('[data]\nsource = "ftp"', "[data] source"),
    ("[model]\nlookback = 900", "[walkforward] train_bars"),
    ('[model]\ntarget = "price"', "'target'"),
    ("[model]\ntarget = 1", "[model] target"),
    ('[model]\ntarget = "volatility"\nvol_estimator = "rogers"', "'vol_estimator'"),
    ('[model]\ntarget = "direction"\ndirection_threshold = "cost"', "direction_threshold"),
    ('[model]\ntarget = "direction"\ndirection_threshold = nan', "'direction_threshold'"),
    ("[model]\ndirection_threshold = 0.01", "'direction_threshold'"),  # target return
    ('[model]\nvol_estimator = "parkinson"', "'vol_estimator'"),  # target return
    ('[model]\nkind = "har"', "'target'"),  # HAR forecasts volatility only
    ('[model]\nkind = "logistic"\ntarget = "volatility"', "'target'"),
    ("[strategy]\ntarget_vol = 0", "[strategy] target_vol"),
    ("[strategy]\nmax_leverage = -1", "[strategy] max_leverage"),
    ("[strategy]\nrebalance_band = 1.5", "[strategy] rebalance_band"),
    ("[strategy]\nprob_threshold = 1", "[strategy] prob_threshold"),
    ("[strategy]\nkelly_multiplier = 0", "[strategy] kelly_multiplier"),
    ("[intervals]\nlevel = 1.5", "[intervals] interval level"),
    ('[intervals]\nlevel = "high"', "[intervals] level"),
    ("[intervals]\nlevel = 0.9\nwindow = 1", "[intervals] interval window"),
    ('[intervals]\nlevel = 0.9\nmethod = "bayes"', "[intervals] interval method"),
    ("[intervals]\nlevel = 0.9\ngamma = 0", "[intervals] interval gamma"),
    ("[intervals]\nwidth = 2", "[intervals] width"),
    ('[[data.features]]\nname = "eth"\nsource = "web"\npath = "x"', "[[data.features]] #1 source"),
    ('[[data.features]]\nname = "eth"', "[[data.features]] #1 path"),
    ('[[data.features]]\nname = "eth"\npath = "x"\ncolour = 1', "[[data.features]] #1 colour"),
    ('[[data.features]]\nname = "ETH-1"\npath = "x"', "[[data.features]] #1 name"),
    ('[[data.features]]\npath = "x"', "[[data.features]] #1 name"),
    ('[[data.features]]\nname = "f"\nsource = "funding"', "[[data.features]] #1 symbol"),
    (
        '[[data.features]]\nname = "e"\nsource = "exchange"\nsymbol = "ETH/USDT"\ntimeframe = "1M"',
        "[[data.features]] #1 timeframe",
    ),  # fmt: skip
    ('[[data.features]]\nname = "e"\npath = "x"\nmax_age_bars = 0', "[[data.features]] #1 max_age"),
    ('[[data.features]]\nname = "e"\npath = 3', "[[data.features]] #1 path"),
    (
        '[[data.features]]\nname = "e"\npath = "x"\n[[data.features]]\nname = "e"\npath = "y"',
        "[[data.features]] #2 name",
    ),  # fmt: skip
    ("[data]\nfeatures = 3", "[data] features"),
    ("[data]\nfeatures = [1]", "[[data.features]] #1"),
]


@pytest.mark.parametrize(("text", "field"), BAD_CONFIGS)
def test_malformed_config_is_one_line_naming_the_field(text: str, field: str, tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = runner.invoke(app, ["backtest", "--config", str(path)])
    assert result.exit_code == 2, (result.exit_code, result.output[-800:])
    line = _one_error_line(result.output)
    assert str(path) in line and field in line, line


def test_bad_exogenous_file_or_column_is_one_line(tmp_path: Path) -> None:
    data, eth = tmp_path / "btc.csv", tmp_path / "eth.csv"
    data.write_text(_csv(_good(120)))
    eth.write_text(_csv(_good(120).iloc[::-1].pipe(lambda f: pd.concat([f, f.iloc[:1] * 1.01]))))
    head = f'[data]\nsource = "file"\npath = "{data}"\n[[data.features]]\nname = "eth"\n'
    for extra, field in (
        (f'path = "{eth}"\n', "eth.csv"),  # conflicting duplicate rows
        (f'path = "{tmp_path / "none.csv"}"\n', "none.csv"),
        (
            f'path = "{data}"\n[model]\nlookback = 8\nfeatures = ["log_return", "eth_close"]\n'
            "[walkforward]\ntrain_bars = 60\n",
            "eth_close",
        ),
    ):
        cfg = tmp_path / "c.toml"
        cfg.write_text(head + extra)
        result = runner.invoke(app, ["backtest", "--config", str(cfg)])
        assert result.exit_code == 2, result.output[-800:]
        line = _one_error_line(result.output)
        assert field in line, line
        if field == "eth_close":  # the available columns are named
            assert "eth_log_return" in line and "eth_hl_range" in line, line
        else:
            assert "[[data.features]] #1 (eth)" in line, line


def test_config_that_does_not_fit_its_data_fails_before_training(tmp_path: Path) -> None:
    data = tmp_path / "short.csv"
    data.write_text(_csv(_good(120)))
    for extra, field in (
        (
            "[walkforward]\ntrain_bars = 100\nretrain_every = 500\n",
            "retrain_every is 500 but the data has only 20 out-of-sample bars",
        ),
        ("[walkforward]\ntrain_bars = 60\n", "funding_rate"),
    ):
        cfg = tmp_path / "c.toml"
        features = 'features = ["log_return", "funding_rate"]\n' if field == "funding_rate" else ""
        head = f'[data]\nsource = "file"\npath = "{data}"\n[model]\nlookback = 8\n'
        cfg.write_text(head + features + extra)
        result = runner.invoke(app, ["backtest", "--config", str(cfg)])
        assert result.exit_code == 2, result.output[-800:]
        assert field in _one_error_line(result.output)
