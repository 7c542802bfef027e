"""Extra candle columns (beyond OHLCV) through feeds and ``LSTMForecast``.

A forecaster may use as a feature any numeric column of the candle frame (an exogenous series,
a realised variance, a user's causal indicator). ``candles_feed`` carries each one as an extra
Backtrader line; ``LSTMForecast`` reads the ones its model needs from the feed in ``once()``
(the feed frame) and in ``next()`` (its bar tail), so every run mode gives the batched engine's
values. A user's own feed class with the line works the same; a missing line, a column name
Backtrader cannot take, or a resampled feed (Backtrader's resampler builds OHLCV only) is one
InputError line. The feature here is computed in the test from past closes only (a lagged
rolling mean of log returns), and the truncation test alters it after T too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed, feed_stamps
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles, splice_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

COLUMN = "ma_lag"
CFG = ForecasterConfig(
    lookback=6, units=(4,), epochs=2, batch_size=32, dropout=0.0, seed=3,
    features=("log_return", COLUMN),
)  # fmt: skip
SPEC = WalkForwardSpec(train_bars=60, retrain_every=40)  # 2 folds, the second warm-started
MODES = [
    (preload, runonce, exactbars)
    for preload in (True, False)
    for runonce in (True, False)
    for exactbars in (0, -1, -2, 1)
]
LINES = ("forecast", "fold", "age")


def with_feature(candles: pd.DataFrame) -> pd.DataFrame:
    """``candles`` with ``ma_lag``: the mean of the 5 log returns ending at the previous bar
    (bars <= t - 1 only)."""
    ret = np.log(candles["close"]).diff()
    return candles.assign(**{COLUMN: ret.rolling(5).mean().shift(1)})


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return with_feature(make_candles(130, seed=5))


@pytest.fixture(scope="module")
def fold_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("column-folds")


@pytest.fixture(scope="module")
def expected(candles: pd.DataFrame, fold_cache: Path) -> np.ndarray:
    res = WalkForward(CFG, SPEC, cache_dir=fold_cache).run(candles)
    return np.column_stack([res.forecasts, res.fold_id, res.age]).astype(float)


class Record(bt.Strategy):
    params = (("kw", None), ("lines", LINES))

    def __init__(self) -> None:
        self.ind = LSTMForecast(self.data, **self.p.kw)
        self.rows: list[list[float]] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.rows.append([float(getattr(self.ind.lines, n)[0]) for n in self.p.lines])


def _run(feed: Any, kw: dict, lines: tuple[str, ...] = LINES, **cerebro_kw: Any) -> np.ndarray:
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kw)
    cerebro.adddata(feed)
    cerebro.addstrategy(Record, kw=kw, lines=lines)
    (strat,) = cerebro.run()
    return np.asarray(strat.rows)


def test_candles_feed_carries_extra_numeric_columns(candles) -> None:
    frame = candles.assign(note="x")  # a non-numeric column is not a line
    feed = candles_feed(frame)
    assert COLUMN in feed.getlinealiases() and "note" not in feed.getlinealiases()
    seen: list[float] = []

    class Read(bt.Strategy):
        def next(self) -> None:
            seen.append(float(self.data.ma_lag[0]))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    cerebro.addstrategy(Read)
    cerebro.run()
    np.testing.assert_array_equal(seen, candles[COLUMN].to_numpy(), strict=False)
    # a frame of OHLCV only gives a plain PandasData, as before
    assert type(candles_feed(make_candles(5))) is bt.feeds.PandasData


@pytest.mark.parametrize(
    ("column", "word"),
    [("eth ret", "identifier"), ("2h_var", "identifier"), ("openinterest", "clashes"),
     ("datetime", "clashes"), ("lines", "clashes")],
)  # fmt: skip
def test_bad_column_names_are_one_input_error(column, word) -> None:
    frame = make_candles(5).assign(**{column: 1.0})
    with pytest.raises(InputError, match=word) as err:
        candles_feed(frame)
    assert repr(column) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("preload", "runonce", "exactbars"), MODES)
def test_feature_column_equal_in_every_mode(
    candles, expected, fold_cache, preload, runonce, exactbars
) -> None:
    kw = {"forecaster": CFG, "schedule": SPEC, "cache_dir": fold_cache}
    got = _run(candles_feed(candles), kw, preload=preload, runonce=runonce, exactbars=exactbars)
    np.testing.assert_allclose(got, expected, atol=1e-6, equal_nan=True)
    assert np.isfinite(got[SPEC.train_bars :, 0]).all()


def test_the_column_changes_the_forecast(candles, expected, fold_cache) -> None:
    """The feature is really read: another column gives other forecasts."""
    other = candles.assign(**{COLUMN: candles[COLUMN] * -3.0})
    kw = {"forecaster": CFG, "schedule": SPEC, "cache_dir": fold_cache}
    got = _run(candles_feed(other), kw, runonce=False)
    done = np.isfinite(expected[:, 0])
    assert not np.allclose(got[done, 0], expected[done, 0])


class EthData(bt.feeds.PandasData):
    """A user's own feed class with the extra line."""

    lines = (COLUMN,)
    params = ((COLUMN, COLUMN),)


@pytest.mark.parametrize("runonce", [True, False])
def test_a_users_pandasdata_subclass(candles, expected, fold_cache, runonce) -> None:
    frame = candles.copy()
    frame.index = feed_stamps(frame.index.tz_localize(None), pd.Timedelta(days=1))
    feed = EthData(dataname=frame, timeframe=bt.TimeFrame.Days, openinterest=None)
    kw = {"forecaster": CFG, "schedule": SPEC, "cache_dir": fold_cache}
    got = _run(feed, kw, runonce=runonce, exactbars=1 if not runonce else 0)
    np.testing.assert_allclose(got, expected, atol=1e-6, equal_nan=True)


def test_missing_column_names_it_and_the_feed_lines(candles, fold_cache) -> None:
    kw = {"forecaster": CFG, "schedule": SPEC, "cache_dir": fold_cache}
    with pytest.raises(InputError) as err:
        _run(candles_feed(candles.drop(columns=[COLUMN])), kw)
    msg = str(err.value)
    assert repr(COLUMN) in msg and "close" in msg and "volume" in msg and "\n" not in msg


def test_resampled_feed_with_a_column_is_refused(candles, fold_cache) -> None:
    kw = {"forecaster": CFG, "schedule": SPEC, "cache_dir": fold_cache}
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.replaydata(candles_feed(candles), timeframe=bt.TimeFrame.Days)
    cerebro.addstrategy(Record, kw=kw)
    with pytest.raises(InputError, match="resample"):
        cerebro.run()


@pytest.mark.parametrize("runonce", [True, False])
def test_truncation_with_a_feature_column(candles, fold_cache, runonce) -> None:
    """Bars (and the column) after T altered: every value up to T identical, both paths."""
    t = 100
    base = make_candles(130, seed=5)
    spliced = with_feature(splice_candles(base, t))
    spliced.loc[spliced.index[t + 1 :], COLUMN] = 0.05  # the column itself changed after T too
    kw = {"forecaster": CFG, "schedule": SPEC, "cache_dir": fold_cache}
    full = _run(candles_feed(candles), kw, runonce=runonce)
    cut = _run(candles_feed(spliced), kw, runonce=runonce)
    np.testing.assert_array_equal(full[: t + 1], cut[: t + 1])
    assert not np.array_equal(full[t + 1 :, 0], cut[t + 1 :, 0])


def test_volatility_target_with_a_column_and_intervals(candles, fold_cache) -> None:
    """The column also reaches a volatility model and the bar-by-bar intervals (the realised
    targets computed from the tail, which holds the column too)."""
    from lstm_backtrader.models.conformal import IntervalSpec

    cfg = CFG.replace(target="volatility")
    spec = IntervalSpec(level=0.8, window=10)
    res = WalkForward(cfg, SPEC, cache_dir=fold_cache, intervals=spec).run(candles)
    kw = {"forecaster": cfg, "schedule": SPEC, "cache_dir": fold_cache, "intervals": spec}
    want = np.column_stack([res.forecasts, res.lower, res.upper])
    for runonce, exactbars in ((True, 0), (False, 1)):
        got = _run(candles_feed(candles), kw, runonce=runonce, preload=runonce,
                   exactbars=exactbars, lines=("forecast", "lower", "upper"))  # fmt: skip
        np.testing.assert_allclose(got, want, atol=1e-6, equal_nan=True)
    assert np.isfinite(want[:, 1]).sum() > 20
