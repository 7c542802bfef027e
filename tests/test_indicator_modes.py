"""LSTMForecast in every Backtrader run mode, checked the way Backtrader checks its own indicators.

Backtrader's ``tests/testcommon.py`` runs each indicator under every combination of ``preload``,
``runonce`` and ``exactbars`` (``runtest``) and its ``TestStrategy`` compares, at ``stop``, the
values at three check points — the last bar, the first bar with a value (the minimum period) and
the middle — as ``'%f'`` strings against expected ones (``tests/test_ind_sma.py``). Here the
expected values come from the batched engine (``WalkForward.run``, ``model.predict``) instead of
a table, the grid adds ``exactbars=1`` (where the lines keep only the last bars, so the values
are taken bar by bar as they pass) and every bar is compared too, not only the check points.

Fixed model and walk-forward (warm-started folds) x preload x runonce x exactbars 0, -1, -2, 1;
the feed has a hole (so the ``gap`` line is exercised) and a user's indicator over
``LSTMForecast``'s lines (an SMA of its forecast and a signal combining it with ``gap``) is
checked in the same runs; the same indicator holding its own ``LSTMForecast`` (a sub-indicator,
whose lines Backtrader bounds under ``exactbars``) is checked against runonce.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=2, batch_size=32, dropout=0.0, seed=7)
SPEC = WalkForwardSpec(train_bars=70, retrain_every=45)  # 2 folds, the second warm-started
PERIOD = 3  # of the user's SMA over the forecast
HOLE = (100, 105)  # bars dropped from the feed: a 5-day hole
MODES = [
    (preload, runonce, exactbars)
    for preload in (True, False)
    for runonce in (True, False)
    for exactbars in (0, -1, -2, 1)
]
LINES = ("forecast", "fold", "age", "gap", "prob", "vol", "lower", "upper", "spread", "smooth",
         "signal")  # fmt: skip
N_OWN = 9  # LSTMForecast's lines; the user's indicator's follow
KINDS = ["fixed", "walkforward", "wf-direction", "wf-volatility"]


def _txt(value: float) -> str:
    """A value as Backtrader's tests compare it."""
    return "%f" % value  # noqa: UP031 - testcommon.TestStrategy's own format


class ForecastSignal(bt.Indicator):
    """A user's indicator over LSTMForecast's lines (its data): the forecast's SMA, and 1.0
    where that SMA is positive and the forecast's window spans no hole."""

    lines = ("smooth", "signal")
    params = (("period", PERIOD),)

    def __init__(self) -> None:
        self.lines.smooth = bt.ind.SMA(self.data.forecast, period=self.p.period)
        self.lines.signal = bt.And(self.lines.smooth > 0.0, self.data.gap == 0.0)


class OwnForecastSignal(ForecastSignal):
    """The same, holding its own LSTMForecast (on a data feed) as a sub-indicator."""

    params = (("lstm", None),)

    def __init__(self) -> None:
        self.fc = LSTMForecast(self.data, **self.p.lstm)
        self.lines.smooth = bt.ind.SMA(self.fc.forecast, period=self.p.period)
        self.lines.signal = bt.And(self.lines.smooth > 0.0, self.fc.gap == 0.0)


class CheckStrategy(bt.Strategy):
    """testcommon.TestStrategy for LSTMForecast and ForecastSignal: check points at ``stop``."""

    params = (("kw", None),)

    def __init__(self) -> None:
        self.ind = LSTMForecast(self.data, **self.p.kw)
        self.user = ForecastSignal(self.ind)
        self.rows: list[list[float]] = []  # every bar's values, taken as the bar passes
        self.chkmin: int | None = None

    def _take(self) -> None:
        ind, user = self.ind, self.user
        self.rows.append([float(x[0]) for x in (*ind.lines, *user.lines)])

    def prenext(self) -> None:
        self._take()

    def nextstart(self) -> None:
        self.chkmin = len(self)
        super().nextstart()

    def next(self) -> None:
        self._take()

    def stop(self) -> None:
        length, mp = len(self.ind), self.chkmin
        self.chkpts = [0, -length + mp, (-length + mp) // 2]  # as testcommon.TestStrategy
        self.length = length
        self.at_stop: dict[str, list[str]] = {}
        if self.ind.lines.forecast.mode == self.ind.lines.forecast.UnBounded:
            for name, line in zip(LINES, (*self.ind.lines, *self.user.lines), strict=True):
                self.at_stop[name] = [_txt(line[chkpt]) for chkpt in self.chkpts]


def _expected_gap(index: pd.DatetimeIndex, window: int) -> np.ndarray:
    """1.0 where the ``window`` bars ending at t cross a hole: a plain loop, independent of
    the implementation."""
    out = np.zeros(len(index))
    for t in range(len(index)):
        steps = index[max(0, t - window + 1) : t + 1].to_series().diff()
        out[t] = float((steps > pd.Timedelta(days=1)).any())
    return out


def _target_lines(fc: np.ndarray, target: str) -> list[np.ndarray]:
    """The expected ``prob`` and ``vol`` lines: the probability itself, exp of the log
    volatility, NaN for the other targets."""
    nan = np.full(len(fc), np.nan)
    prob = fc if target == "direction" else nan
    vol = np.exp(fc) if target == "volatility" else nan
    return [prob, vol]


def _with_user(lines: list[np.ndarray], minperiod: int, target: str = "return") -> np.ndarray:
    """LSTMForecast's expected lines and the user's indicator's (NaN before its minimum period,
    which is LSTMForecast's + PERIOD - 1)."""
    fc, gap = lines[0], lines[3]
    nan = np.full(len(fc), np.nan)  # no intervals, one network: lower, upper, spread NaN
    lines = [*lines, *_target_lines(fc, target), nan, nan, nan]
    smooth = pd.Series(fc).rolling(PERIOD).mean().to_numpy()
    signal = ((smooth > 0.0) & (gap == 0.0)).astype(float)
    signal[: minperiod + PERIOD - 2] = np.nan
    return np.column_stack([*lines, smooth, signal])


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    bars = make_candles(165, seed=21)
    return bars.drop(bars.index[HOLE[0] : HOLE[1]])


@pytest.fixture(scope="module")
def fitted(candles: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster.from_config(TINY).fit(candles.iloc[:80])


@pytest.fixture(scope="module")
def fold_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mode-folds")


@pytest.fixture(scope="module")
def expected(candles: pd.DataFrame, fitted: LSTMForecaster, fold_cache: Path) -> dict:
    """Per kind: (kwargs, every bar's expected lines, minimum period of LSTMForecast)."""
    n = len(candles)
    context = fitted.context_bars
    gap = _expected_gap(candles.index, context)
    fc = fitted.predict(candles).to_numpy()
    fold = np.where(np.arange(n) >= context - 1, 0, -1)
    after_cutoff = np.cumsum(candles.index > fitted.train_range_[1])  # bars since the cutoff
    age = np.where(fold >= 0, after_cutoff, -1)
    wf = WalkForward(TINY, SPEC, cache_dir=fold_cache).run(candles)  # trains the folds once
    targets = {}
    for target in ("direction", "volatility"):
        cfg = TINY.replace(target=target)
        res = WalkForward(cfg, SPEC, cache_dir=fold_cache).run(candles)
        lines = [res.forecasts.to_numpy(), res.fold_id.to_numpy(), res.age.to_numpy(), gap]
        targets[f"wf-{target}"] = (
            {"forecaster": cfg, "schedule": SPEC, "cache_dir": fold_cache},
            _with_user(lines, SPEC.train_bars + 1, target),
            SPEC.train_bars + 1,
        )
    return {
        **targets,
        "fixed": ({"model": fitted}, _with_user([fc, fold, age, gap], context), context),
        "walkforward": (
            {"forecaster": TINY, "schedule": SPEC, "cache_dir": fold_cache},
            _with_user(
                [wf.forecasts.to_numpy(), wf.fold_id.to_numpy(), wf.age.to_numpy(), gap],
                SPEC.train_bars + 1,
            ),
            SPEC.train_bars + 1,
        ),
    }


def _runtest(candles: pd.DataFrame, preload: bool, runonce: bool, exactbars: int, **kw: Any):
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=runonce, exactbars=exactbars)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(CheckStrategy, kw=kw)
    (strat,) = cerebro.run()
    return strat


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("preload", "runonce", "exactbars"), MODES)
def test_every_run_mode_gives_the_batched_values(
    candles, expected, kind, preload, runonce, exactbars
) -> None:
    kw, want, minperiod = expected[kind]
    strat = _runtest(candles, preload, runonce, exactbars, **kw)
    rows = np.asarray(strat.rows)
    # Backtrader's own checks: length, minimum period, '%f' values at the check points
    assert strat.length == len(strat) == len(candles)
    assert strat.chkmin == minperiod + PERIOD - 1  # the strategy waits for the user's SMA
    assert strat.ind._minperiod == minperiod
    positions = [strat.length - 1 + chkpt for chkpt in strat.chkpts]
    for j, name in enumerate(LINES):
        want_txt = [_txt(want[p, j]) for p in positions]
        assert [_txt(rows[p, j]) for p in positions] == want_txt, (name, positions)
        if strat.at_stop:  # the lines hold every bar (exactbars < 1): read them as Backtrader
            assert strat.at_stop[name] == want_txt, name
    # and every bar, the warm-up included (fold and age -1 before the first model)
    np.testing.assert_allclose(rows, want, atol=1e-6, equal_nan=True)
    assert np.isfinite(rows[minperiod - 1 :, 0]).all()
    assert (rows[: minperiod - 1, 1:3] == -1).all()
    assert rows[:, 3].sum() > 0  # the hole shows in the gap line
    prob, vol = rows[minperiod - 1 :, 4], rows[minperiod - 1 :, 5]
    if kind == "wf-direction":
        assert ((prob > 0) & (prob < 1)).all() and np.isnan(vol).all()
    elif kind == "wf-volatility":
        # per-bar volatility of the synthetic candles: a fraction of a percent to a few percent
        assert ((vol > 1e-4) & (vol < 0.5)).all() and np.isnan(prob).all()
        np.testing.assert_allclose(np.log(vol), rows[minperiod - 1 :, 0], rtol=1e-12)
    else:
        assert np.isnan(prob).all() and np.isnan(vol).all()


class OwnSignalStrategy(bt.Strategy):
    params = (("kw", None),)

    def __init__(self) -> None:
        self.user = OwnForecastSignal(self.data, lstm=self.p.kw)
        self.rows: list[list[float]] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.rows.append([float(x[0]) for x in self.user.lines])


@pytest.mark.parametrize("kind", ["fixed", "walkforward"])
@pytest.mark.parametrize(
    ("runonce", "exactbars"), [(True, 0), (False, -1), (False, -2), (False, 1)]
)
def test_lstmforecast_inside_a_user_indicator(candles, expected, kind, runonce, exactbars) -> None:
    kw, want, _ = expected[kind]
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, exactbars=exactbars)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(OwnSignalStrategy, kw=kw)
    (strat,) = cerebro.run()
    np.testing.assert_allclose(np.asarray(strat.rows), want[:, N_OWN:], atol=1e-6, equal_nan=True)
