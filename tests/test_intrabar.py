"""[data] intrabar: realised variance per main bar from a higher-frequency candle file
(backtests/data/intrabar.py), its join in load_candles, bad files and configs (one line, exit
code 2), and the truncation test of every volatility forecaster on ``vol_estimator = 'realized'``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.config import DataConfig, RunConfig, load_config
from lstm_backtrader.backtests.data.intrabar import (
    CLOSE_TOLERANCE,
    check_intrabar_grid,
    join_intrabar,
    realized_variance,
)
from lstm_backtrader.backtests.simulation import load_candles
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import DataError, InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.targets import target_fwd_logvol
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import BTC_1D, BTC_2H

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()
DAY = pd.Timedelta(days=1)


def intrabar_from_returns(rets: np.ndarray, start: str, freq: str, price: float = 100.0):
    """Valid intrabar candles whose close-to-close log returns are ``rets`` (the first candle
    opens and closes at ``price``, so ``rets[0]`` is unused)."""
    close = price * np.exp(np.cumsum(np.concatenate([[0.0], rets[1:]])))
    open_ = np.concatenate([[price], close[:-1]])
    index = pd.date_range(start, periods=len(rets), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.001,
         "low": np.minimum(open_, close) * 0.999, "close": close, "volume": 1.0},
        index=index,
    )  # fmt: skip


def random_intrabar(n: int, seed: int, start: str = "2020-01-01", freq: str = "6h", price=1e4):
    rng = np.random.default_rng(seed)
    return intrabar_from_returns(rng.normal(0.0, 0.01, n), start, freq, price)


def to_main(intra: pd.DataFrame, step: str = "1D") -> pd.DataFrame:
    """The main bars of ``intra`` (open time labels): first open, max high, min low, last close."""
    agg = intra.resample(step, label="left", closed="left")
    return pd.DataFrame(
        {"open": agg["open"].first(), "high": agg["high"].max(), "low": agg["low"].min(),
         "close": agg["close"].last(), "volume": agg["volume"].sum()}
    ).dropna()  # fmt: skip


def hand_example() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three days of 6h candles after one candle of the previous evening (which carries the
    first return's previous close)."""
    rets = np.array([0.0, 0.01, -0.02, 0.03, 0.0, 0.05, -0.05, 0.01, 0.01, 0.1, 0.0, 0.0, 0.0])
    intra = intrabar_from_returns(rets, "2023-12-31 18:00", "6h")
    return to_main(intra).iloc[1:], intra


# ------------------------------------------------------------------ aggregation


def test_realized_variance_is_the_sum_of_squared_intrabar_returns() -> None:
    main, intra = hand_example()
    found = realized_variance(main, intra)
    # day 1: 0.01² + 0.02² + 0.03² + 0 ; day 2: 2 × 0.05² + 2 × 0.01² ; day 3: 0.1²
    np.testing.assert_allclose(found.realized_var.to_numpy(), [0.0014, 0.0052, 0.01], rtol=1e-9)
    assert found.realized_var.name == "realized_var" and found.per_bar == 4
    assert found.timeframe == "6h" and len(found.incomplete) == 0 and len(found.mismatches) == 0
    assert found.checked == 3 and found.largest_mismatch < 1e-12


@pytest.mark.parametrize(
    ("drop", "nan_days"),
    [
        ("2023-12-31 18:00", [0]),  # day 1's first return has no previous close
        ("2024-01-02 06:00", [1]),  # a hole inside day 2 only
        ("2024-01-02 18:00", [1, 2]),  # day 2's last candle: day 3's first return too
        ("2024-01-03 18:00", [2]),  # the very last candle
    ],
)
def test_incomplete_coverage_is_nan_never_rescaled(drop: str, nan_days: list[int]) -> None:
    main, intra = hand_example()
    intra = intra.drop(pd.Timestamp(drop, tz="UTC"))
    rv = realized_variance(main, intra).realized_var.to_numpy()
    expected = np.array([0.0014, 0.0052, 0.01])
    expected[nan_days] = np.nan
    np.testing.assert_allclose(rv, expected, rtol=1e-9)


def test_non_finite_intrabar_price_makes_its_bars_nan() -> None:
    main, intra = hand_example()
    intra.loc[pd.Timestamp("2024-01-01 12:00", tz="UTC"), "close"] = np.inf
    found = realized_variance(main, intra)
    assert np.isnan(found.realized_var.iloc[0]) and np.isfinite(found.realized_var.iloc[1:]).all()


def test_gaps_are_reported_in_a_log_line_and_the_source(caplog: pytest.LogCaptureFixture,
                                                       tmp_path: Path) -> None:  # fmt: skip
    intra = random_intrabar(4 * 40 + 1, seed=3, start="2023-12-31 18:00")
    main = to_main(intra).iloc[1:]
    holes = [pd.Timestamp(t, tz="UTC") for t in ("2024-01-05 06:00", "2024-01-20 12:00")]
    path = tmp_path / "intra.csv"
    intra.drop(holes).to_csv(path)
    with caplog.at_level(logging.WARNING):
        joined, info = join_intrabar(main, path, {"source": "file"})
    assert joined["realized_var"].isna().sum() == 2
    assert joined["realized_var"].isna().to_numpy().nonzero()[0].tolist() == [4, 19]
    assert info["intrabar_incomplete_bars"] == 2 and info["intrabar"] == str(path)
    assert info["intrabar_incomplete_first"] == "2024-01-05, 2024-01-20"
    assert info["intrabar_timeframe"] == "6h (4 per bar)" and info["source"] == "file"
    line = next(r.getMessage() for r in caplog.records if "realized_var" in r.getMessage())
    assert str(path) in line and "2 of 40 bar(s)" in line and "2024-01-05" in line
    pd.testing.assert_frame_equal(joined.drop(columns="realized_var"), main)  # prices untouched


def test_close_mismatches_are_reported_and_wholesale_ones_refused(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    intra = random_intrabar(4 * 30 + 1, seed=4, start="2023-12-31 18:00")
    main = to_main(intra).iloc[1:]
    path = tmp_path / "intra.csv"
    intra.to_csv(path)
    off = main.copy()
    off.iloc[7, off.columns.get_loc("close")] *= 1.0 + 10 * CLOSE_TOLERANCE
    off.iloc[7, off.columns.get_loc("high")] *= 1.01
    with caplog.at_level(logging.WARNING):
        joined, info = join_intrabar(off, path, {})
    assert info["intrabar_close_mismatches"] == 1
    assert info["intrabar_close_mismatch_first"] == main.index[7].strftime("%Y-%m-%d")
    assert any("differs from the bar's close" in r.getMessage() for r in caplog.records)
    assert joined["realized_var"].notna().all()  # reported, the values stay as they are
    # another venue's closes: every bar differs by a small basis -> reported, not refused
    rng = np.random.default_rng(0)
    venue = main.assign(close=main["close"] * np.exp(rng.normal(0.0, 2e-4, len(main))))
    found = realized_variance(venue, intra)
    assert len(found.mismatches) == found.checked == len(main)
    # main bars labelled by their close time: every close is a day off -> refused (a leak)
    shifted = main.set_axis(main.index + DAY)
    with pytest.raises(DataError, match="as much as a typical bar's move") as err:
        realized_variance(shifted, intra, source="intra.csv")
    assert "intra.csv" in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ bad grids and files


def _daily() -> pd.DataFrame:
    return to_main(random_intrabar(4 * 20, seed=5))


@pytest.mark.parametrize(
    ("intra", "match"),
    [
        (random_intrabar(30, seed=1, freq="1D"), "not finer than the main data's 1d"),
        (random_intrabar(300, seed=1, freq="2D"), "not finer than the main data's 1d"),
        (random_intrabar(100, seed=1, freq="7h"), "7h does not divide the main data's 1d"),
        (random_intrabar(100, seed=1, start="2021-01-01"), "no overlap with the main data"),
        (random_intrabar(100, seed=1, start="2020-01-01 03:00"), "straddle the main bars"),
    ],
)
def test_bad_grids_are_one_line_naming_the_file(intra: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataError, match=match) as err:
        check_intrabar_grid(_daily(), intra, "intra.csv")
    assert str(err.value).startswith("intra.csv: ") and "\n" not in str(err.value)


def _cli_error(config: Path) -> str:
    result = runner.invoke(app, ["backtest", "--config", str(config)])
    assert result.exit_code == 2, (result.exit_code, result.output[-800:])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines[:6]
    assert "Traceback" not in result.output
    return lines[0]


def _intra_file(tmp_path: Path, name: str, frame: pd.DataFrame | None = None) -> Path:
    path = tmp_path / name
    (random_intrabar(4 * 20, seed=5) if frame is None else frame).to_csv(path)
    return path


BAD_FILES = {
    "coarse.csv": lambda p: random_intrabar(30, seed=1, freq="1D").to_csv(p),
    "seven_hours.csv": lambda p: random_intrabar(100, seed=1, freq="7h").to_csv(p),
    "elsewhere.csv": lambda p: random_intrabar(100, seed=1, start="2021-01-01").to_csv(p),
    "shifted.csv": lambda p: random_intrabar(100, seed=1, start="2020-01-01 03:00").to_csv(p),
    "not_candles.csv": lambda p: p.write_text("a,b\n1,2\n"),
    "nan_row.csv": lambda p: p.write_text(
        "timestamp,open,high,low,close,volume\n2020-01-01,1,2,0.5,1.5,1\n2020-01-01 06:00,1,,0.5,1,1\n"
    ),
    "absent.csv": None,
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_intrabar_file_through_the_cli_is_one_line_exit_2(name: str, tmp_path: Path) -> None:
    main = tmp_path / "main.csv"
    _daily().to_csv(main)
    intra = tmp_path / name
    if BAD_FILES[name] is not None:
        BAD_FILES[name](intra)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[data]\nsource = "file"\npath = "{main}"\nintrabar = "{intra}"\n'
        '[model]\ntarget = "volatility"\nvol_estimator = "realized"\nlookback = 5\n'
        "[walkforward]\ntrain_bars = 40\nretrain_every = 10\n"
    )
    assert name in _cli_error(cfg)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[model]\ntarget = "volatility"\nvol_estimator = "realized"', "[data] intrabar"),
        ('[data]\nintrabar = ""', "[data] intrabar"),
        ("[data]\nintrabar = 3", "[data] intrabar"),
        ('[model]\nvol_estimator = "realized"', "'vol_estimator'"),  # target return
    ],
)
def test_bad_intrabar_config_is_one_line_naming_the_field(text: str, field: str, tmp_path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    line = _cli_error(cfg)
    assert str(cfg) in line and field in line, line


def test_an_intrabar_file_the_run_does_not_read_is_logged(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="lstm_backtrader.backtests.config"):
        RunConfig(data=DataConfig(intrabar="x.csv"), model=ForecasterConfig(target="volatility"))
    assert any("unused" in r.getMessage() and "x.csv" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lstm_backtrader.backtests.config"):
        cfg = ForecasterConfig(target="volatility", vol_estimator="realized")
        RunConfig(data=DataConfig(intrabar="x.csv"), model=cfg)
    assert not caplog.records


def test_intrabar_is_left_out_of_the_config_dict_while_unset(tmp_path: Path) -> None:
    assert "intrabar" not in RunConfig().to_dict()["data"]
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nintrabar = "x.csv"\n[model]\ntarget = "volatility"\n'
                   'vol_estimator = "realized"\n')  # fmt: skip
    loaded = load_config(cfg)
    assert loaded.to_dict()["data"]["intrabar"] == "x.csv"
    assert loaded.with_overrides({"model": {"seed": 3}}).data.intrabar == "x.csv"


def test_load_candles_joins_realized_var(tmp_path: Path) -> None:
    intra = random_intrabar(4 * 30 + 1, seed=6, start="2023-12-31 18:00")
    main = tmp_path / "main.csv"
    to_main(intra).iloc[1:].to_csv(main)
    path = _intra_file(tmp_path, "intra.csv", intra)
    candles, source = load_candles(DataConfig(source="file", path=str(main), intrabar=str(path)))
    expected = realized_variance(candles.drop(columns="realized_var"), intra).realized_var
    pd.testing.assert_series_equal(candles["realized_var"], expected, check_freq=False)
    assert candles["realized_var"].notna().all() and source["intrabar_incomplete_bars"] == 0
    plain, plain_source = load_candles(DataConfig(source="file", path=str(main)))
    assert "realized_var" not in plain.columns and "intrabar" not in plain_source


def test_bar_variance_without_the_column_says_what_is_needed() -> None:
    from lstm_backtrader.models.targets import bar_variance

    with pytest.raises(InputError, match=r"\[data\] intrabar"):
        bar_variance(_daily(), "realized")


# ------------------------------------------------------------------ truncation

N_DAYS, PER_DAY, TRAIN, EVERY, T = 150, 4, 80, 25, 120
LSTM = dict(lookback=8, units=(4,), epochs=2, batch_size=32, validation_fraction=0.1, seed=1)
VOL = dict(target="volatility", vol_estimator="realized")
CONFIGS = {
    "lstm": ForecasterConfig(**LSTM, **VOL),  # type: ignore[arg-type]
    # realized_var as an input too: bar t's value is known at bar t's close
    "lstm-rv-feature": ForecasterConfig(
        **LSTM,
        features=("log_return", "realized_var"),
        **VOL,  # type: ignore[arg-type]
    ),
    "har": ForecasterConfig(kind="har", **VOL),  # type: ignore[arg-type]
    "ewma": ForecasterConfig(kind="ewma", lookback=20, **VOL),  # type: ignore[arg-type]
    "garch": ForecasterConfig(kind="garch", lookback=20, **VOL),  # type: ignore[arg-type]
    "persistence": ForecasterConfig(kind="persistence", **VOL),  # type: ignore[arg-type]
}


def _joined(intra: pd.DataFrame) -> pd.DataFrame:
    main = to_main(intra).iloc[1:]
    return main.assign(realized_var=realized_variance(main, intra).realized_var)


@pytest.fixture(scope="module")
def series() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The joined frame, and the same with every main and intrabar bar after day T changed."""
    intra = random_intrabar(PER_DAY * (N_DAYS + 1), seed=7, start="2019-12-31")
    keep = PER_DAY * (T + 2)  # the day before the first main bar, then days 0..T
    other = random_intrabar(
        len(intra) - keep + 1, seed=8, price=float(intra["close"].iloc[keep - 1])
    )
    spliced = pd.concat([intra.iloc[:keep], other.iloc[1:].set_axis(intra.index[keep:])])
    return _joined(intra), _joined(spliced)


def test_spliced_series_differs_after_t_only(series) -> None:
    full, spliced = series
    assert len(full) == N_DAYS and full["realized_var"].notna().all()
    pd.testing.assert_frame_equal(full.iloc[: T + 1], spliced.iloc[: T + 1])
    assert (full["realized_var"].iloc[T + 1 :] != spliced["realized_var"].iloc[T + 1 :]).all()
    assert (full["close"].iloc[T + 1 :] != spliced["close"].iloc[T + 1 :]).all()
    label = target_fwd_logvol(full, 1, "realized")
    assert label.iloc[T] == pytest.approx(0.5 * np.log(full["realized_var"].iloc[T + 1]))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_truncation_invariance_on_realized_variance(series, name: str) -> None:
    full, spliced = series
    spec = WalkForwardSpec(train_bars=TRAIN, retrain_every=EVERY, warm_start=True,
                           warm_start_epochs=1)  # fmt: skip
    runs = [WalkForward(CONFIGS[name], spec).run(frame) for frame in
            (full, full.iloc[: T + 1], spliced)]  # fmt: skip
    base = runs[0].forecasts
    assert base.iloc[TRAIN:].notna().all() and base.iloc[:TRAIN].isna().all()
    for other in runs[1:]:
        pd.testing.assert_series_equal(
            other.forecasts.iloc[: T + 1], base.iloc[: T + 1], check_exact=True, check_freq=False
        )


def test_realized_and_range_estimators_differ(series) -> None:
    full, _ = series
    har = {
        est: WalkForward(
            ForecasterConfig(kind="har", target="volatility", vol_estimator=est),
            WalkForwardSpec(train_bars=TRAIN, retrain_every=EVERY),
        )
        .run(full)
        .forecasts
        for est in ("realized", "garman_klass")
    }
    assert not np.allclose(har["realized"].iloc[TRAIN:], har["garman_klass"].iloc[TRAIN:])


# ------------------------------------------------------------------ real data


def test_real_btc_daily_from_2h_candles() -> None:
    if not (BTC_1D.exists() and BTC_2H.exists()):
        pytest.skip(f"real BTC data not found at {BTC_1D.parent} (only beside the dev repo)")
    candles, info = load_candles(DataConfig(source="file", path=str(BTC_1D), intrabar=str(BTC_2H)))
    rv = candles["realized_var"]
    assert info["intrabar_timeframe"] == "2h (12 per bar)"
    assert info["intrabar_incomplete_bars"] == int(rv.isna().sum())
    assert info["intrabar_close_mismatches"] == 0  # one exchange: the closes agree exactly
    assert rv.isna().mean() < 0.02  # a handful of days with exchange outages
    daily_vol = float(np.sqrt(rv.median()))
    assert 0.01 < daily_vol < 0.06


def test_the_audit_noise_variant_replaces_realised_variance_with_positive_values() -> None:
    from lstm_backtrader.backtests.audit import noise_after
    from tests.conftest import make_candles

    frame = make_candles(50, seed=2)
    frame["realized_var"] = 0.0004
    noisy = noise_after(frame, 30)
    assert (noisy["realized_var"].iloc[:31] == 0.0004).all()  # up to T: untouched
    after = noisy["realized_var"].iloc[31:]
    assert (after > 0).all() and (after != 0.0004).all()
