"""The as-of join of exogenous series (backtests/data/exogenous.py): values known at or before
each main bar's close only, across timeframes, gaps, early ends and irregular funding events;
bad input refused; and the join's truncation audit, which catches a series shifted one bar
into the future."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.audit import audit_exogenous
from lstm_backtrader.backtests.config import FeatureSeriesConfig
from lstm_backtrader.backtests.data.exogenous import (
    ExogenousSeries,
    asof_join,
    join_exogenous,
    series_features,
)
from lstm_backtrader.backtests.data.exogenous_load import add_exogenous
from lstm_backtrader.models.features import hl_range, log_return
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import make_candles

COLS = ("eth_log_return", "eth_hl_range", "eth_log_volume_change")


def _reference(main: pd.DataFrame, exog: pd.DataFrame, exog_step: str, max_bars: int = 2):
    """Brute force: per main bar, the last exogenous bar closed by its close (or NaN)."""
    main_step = main.index[1] - main.index[0]
    step = pd.Timedelta(exog_step)
    rets, ranges = log_return(exog).to_numpy(), hl_range(exog).to_numpy()
    out = []
    for t in main.index:
        close = t + main_step
        done = np.flatnonzero(exog.index + step <= close)
        if not len(done) or close - (exog.index[done[-1]] + step) > max_bars * step:
            out.append((np.nan, np.nan))
        else:
            out.append((rets[done[-1]], ranges[done[-1]]))
    return np.array(out)


@pytest.mark.parametrize(
    ("main_freq", "exog_freq", "exog_start"),
    [("1D", "2h", "2019-12-25"), ("2h", "1D", "2019-12-28"), ("1D", "1D", "2020-01-10")],
)
def test_join_uses_bars_closed_by_the_main_close(main_freq, exog_freq, exog_start) -> None:
    main = make_candles(60, freq=main_freq, start="2020-01-01")
    exog = make_candles(900, seed=3, freq=exog_freq, start=exog_start, price=300.0)
    joined, (report,) = join_exogenous(main, [ExogenousSeries("eth", "candles", exog)])
    pd.testing.assert_frame_equal(joined[list(main.columns)], main)  # main columns untouched
    ref = _reference(main, exog, exog_freq)
    np.testing.assert_array_equal(joined[list(COLS[:2])].to_numpy(), ref)
    assert report.no_coverage == int(np.isnan(ref[:, 1]).sum())  # NaN only at the start here
    assert report.stale == 0 and report.gaps == 0
    if exog_freq == "2h":  # the 2h bar ending exactly at the daily close is used (<=)
        day0 = main.index[0]
        at = exog.index.get_loc(day0 + pd.Timedelta("22h"))
        assert joined["eth_log_return"].iloc[0] == log_return(exog).iloc[at]
    if main_freq == "2h":  # 2h main bar 10:00-12:00 on day D sees the daily bar of D-1
        t = main.index.get_loc(pd.Timestamp("2020-01-02 10:00", tz="UTC"))
        d = exog.index.get_loc(pd.Timestamp("2020-01-01", tz="UTC"))
        assert joined["eth_hl_range"].iloc[t] == hl_range(exog).iloc[d]


def test_gaps_and_an_early_end_are_reported_not_filled(caplog) -> None:
    main = make_candles(40, start="2020-01-01")
    exog = make_candles(60, seed=3, start="2019-12-20", price=300.0)
    holed = exog.drop(exog.index[20:24]).iloc[:-30]  # 4 bars missing, ends 2020-01-18
    joined, (report,) = join_exogenous(main, [ExogenousSeries("eth", "candles", holed)])
    ref = _reference(main, holed, "1D")
    np.testing.assert_array_equal(joined[list(COLS[:2])].to_numpy(), ref)
    assert report.gaps == 1 and report.ends_early
    assert report.stale == int(np.isnan(ref[:, 0]).sum()) > 0  # the hole's tail and the end
    assert joined["eth_log_return"].iloc[-1] != joined["eth_log_return"].iloc[-1]  # NaN
    assert "gap(s)" in caplog.text and "before the main data" in caplog.text
    assert report.to_dict()["stale_bars"] == report.stale


def test_funding_events_at_irregular_times() -> None:
    main = make_candles(10, start="2024-01-01")
    times = pd.to_datetime(
        ["2024-01-01 16:00:00.004", "2024-01-02 00:00:00.000", "2024-01-02 08:00:00.001"],
        utc=True,
    )
    rates = pd.DataFrame({"funding_rate": [1e-4, 2e-4, 3e-4]}, index=times)
    joined, (report,) = join_exogenous(main, [ExogenousSeries("fund", "funding", rates)])
    col = joined["fund_funding_rate"].to_numpy()
    # day 1 closes 2024-01-02 00:00: the event stamped exactly then is known, 08:00 is not
    assert col[0] == 2e-4
    assert col[1] == 3e-4  # 08:00 event, 16 h old at the close: within 2 x 8 h
    assert np.isnan(col[2:]).all() and report.stale == 8 and report.ends_early
    late = rates.copy()
    late.index = late.index + pd.Timedelta(milliseconds=7)  # stamped 7 ms late
    joined, _ = join_exogenous(main, [ExogenousSeries("fund", "funding", late)])
    assert joined["fund_funding_rate"].iloc[0] == 1e-4  # not known by the close yet


def test_bad_input_is_refused(tmp_path: Path) -> None:
    main = make_candles(30)
    exog = make_candles(30, seed=3)
    for bad, msg in (
        (exog.iloc[::-1], "not sorted"),
        (pd.concat([exog, exog.iloc[:1]]), "duplicate"),
    ):
        with pytest.raises(InputError, match=msg):
            join_exogenous(main, [ExogenousSeries("eth", "candles", bad)])
    with pytest.raises(InputError, match="already exists"):
        join_exogenous(main.assign(eth_hl_range=1.0), [ExogenousSeries("eth", "candles", exog)])
    # a bad file: refused by the candle loader, named by its [[data.features]] entry
    path = tmp_path / "eth.csv"
    text = exog.reset_index().to_csv(index=False).splitlines()
    text.insert(5, text[3].replace(text[3].split(",")[4], "1.0"))  # a conflicting duplicate
    path.write_text("\n".join(text))
    entry = FeatureSeriesConfig(name="eth", source="file", path=str(path))
    with pytest.raises(InputError, match=r"\[\[data.features\]\] #1 \(eth\).*eth.csv"):
        add_exogenous(main, [entry])


def test_files_joined_through_the_loader(tmp_path: Path) -> None:
    main = make_candles(50)
    exog = make_candles(80, seed=3, freq="12h", start="2019-12-25")
    path = tmp_path / "eth.csv"
    exog.reset_index().to_csv(path, index=False)
    joined, info = add_exogenous(
        main, [FeatureSeriesConfig(name="eth", source="file", path=str(path))]
    )
    assert info["exogenous_columns"] == list(COLS)
    direct, _ = join_exogenous(main, [ExogenousSeries("eth", "candles", exog)])
    pd.testing.assert_frame_equal(joined, direct, check_freq=False)


def test_asof_join_statuses() -> None:
    known = pd.DataFrame(
        {"x": [1.0, 2.0]}, index=pd.to_datetime(["2020-01-02", "2020-01-05"], utc=True)
    )
    closes = pd.DatetimeIndex(
        pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"], utc=True)
    )
    values, status = asof_join(closes, known, pd.Timedelta("1D"))
    assert status.tolist() == [1, 0, 2, 0]
    np.testing.assert_array_equal(values["x"].to_numpy(), [np.nan, 1.0, np.nan, 2.0])


def _leaky_join(main, series):
    """A deliberately wrong join: each series shifted one bar into the future (its values
    used one bar before they are known)."""
    shifted = []
    for s in series:
        frame = s.frame.copy()
        frame.index = frame.index - s.step()
        shifted.append(ExogenousSeries(s.name, s.kind, frame, s.max_age_bars))
    return join_exogenous(main, shifted)


@pytest.mark.parametrize("exog_freq", ["1D", "8h"])
def test_truncation_audit_passes_and_catches_a_shifted_series(exog_freq) -> None:
    main = make_candles(80, start="2020-01-01")
    eth = ExogenousSeries(
        "eth", "candles", make_candles(300, seed=3, freq=exog_freq, start="2019-12-20")
    )
    times = pd.date_range("2019-12-20", periods=300, freq="8h", tz="UTC") + pd.Timedelta("3ms")
    fund = ExogenousSeries("fund", "funding", pd.DataFrame(
        {"funding_rate": np.random.default_rng(1).normal(1e-4, 1e-4, 300)}, index=times))  # fmt: skip
    points = [30, 50, 70]
    honest = audit_exogenous(main, [eth, fund], points)
    assert len(honest) == 3 and all(c.identical for c in honest)
    for series in ([eth], [fund]):
        leaky = audit_exogenous(main, series, points, join=_leaky_join)
        assert not any(c.identical for c in leaky)
        assert f"{series[0].name}_" in leaky[0].first_difference


def test_series_features_on_the_series_grid() -> None:
    exog = make_candles(20, seed=3, freq="2h")
    f = series_features(ExogenousSeries("eth", "candles", exog))
    assert list(f.columns) == list(COLS)
    assert (f.index == exog.index + pd.Timedelta("2h")).all()  # known at the bar's close


def test_example_config_parses() -> None:
    from lstm_backtrader.backtests.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "exogenous.toml")
    assert [(f.name, f.source) for f in cfg.data.features] == [
        ("eth", "exchange"),
        ("btcperp", "funding"),
    ]
    assert {"eth_log_return", "btcperp_funding_rate", "dow_sin"} <= set(cfg.model.features)


def test_audit_noise_variant_alters_joined_columns_after_t() -> None:
    from lstm_backtrader.backtests.audit import noise_after

    main = make_candles(40)
    joined, _ = join_exogenous(
        main, [ExogenousSeries("eth", "candles", make_candles(60, seed=3, start="2019-12-20"))]
    )
    noisy = noise_after(joined, 25)
    pd.testing.assert_frame_equal(noisy.iloc[:26], joined.iloc[:26])
    assert not np.isclose(noisy["eth_hl_range"].iloc[26:], joined["eth_hl_range"].iloc[26:]).any()


def test_the_run_audit_rechecks_the_join(tmp_path: Path) -> None:
    from lstm_backtrader.backtests.audit import audit
    from lstm_backtrader.backtests.config import RunConfig

    make_candles(200, seed=2).to_csv(tmp_path / "btc.csv")
    make_candles(500, seed=3, freq="12h", start="2019-12-20").to_csv(tmp_path / "eth.csv")
    config = RunConfig.from_dict({
        "data": {"source": "file", "path": str(tmp_path / "btc.csv"),
                 "features": [{"name": "eth", "path": str(tmp_path / "eth.csv")}]},
        "model": {"kind": "persistence"},
        "walkforward": {"train_bars": 100, "retrain_every": 50},
    })  # fmt: skip
    from lstm_backtrader.backtests.simulation import load_candles

    candles, source = load_candles(config.data)
    assert source["exogenous_columns"] == list(COLS)

    def uses_eth(c: pd.DataFrame) -> pd.Series:  # causal in the joined columns
        return c["eth_log_return"].fillna(0.0)

    checks = audit(candles, config, points=[150], forecast_fn=uses_eth)
    assert [c.variant for c in checks] == ["exogenous", "cut", "noise"]
    assert all(c.identical for c in checks), [c.first_difference for c in checks]
    leaky = audit(candles, config, points=[150],
                  forecast_fn=lambda c: c["eth_log_return"].shift(-1).fillna(0.0))  # fmt: skip
    assert [c.identical for c in leaky] == [True, False, False]  # the join is fine, the use not
