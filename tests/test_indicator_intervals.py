"""``LSTMForecast``'s ``lower``/``upper`` lines (conformal intervals) and ``spread`` line.

The batched engine (``WalkForward.run`` with ``intervals=``) is the reference: in every run mode
(preload x runonce x exactbars, and replay) the lines equal its ``lower``/``upper`` bar for bar,
for a return and a volatility target, split and ACI, on a feed with a hole; bar by bar, changing
every bar after T leaves every interval up to T unchanged (the interval at t uses errors of
forecasts realised by t only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import IntervalSpec
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles, splice_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=6, units=(4,), epochs=1, batch_size=32, dropout=0.0, seed=3)
SPEC = WalkForwardSpec(train_bars=60, retrain_every=50)
HOLE = (90, 94)
MODES = [(p, r, e) for p in (True, False) for r in (True, False) for e in (0, -1, -2, 1)]
CASES = {
    "return-split": (TINY, IntervalSpec(level=0.8, window=15)),
    "return-h2-aci": (TINY.replace(horizon=2), IntervalSpec(level=0.8, window=15, method="aci",
                                                             gamma=0.05)),
    "volatility": (TINY.replace(target="volatility"), IntervalSpec(level=0.9, window=20)),
}  # fmt: skip


class Take(bt.Strategy):
    """Every bar's lines, taken as the bar passes (works with exactbars=1 too)."""

    params = (("kw", None), ("out", None))

    def __init__(self) -> None:
        self.fc = LSTMForecast(self.data, **self.p.kw)

    def prenext(self) -> None:
        self.p.out.append([float(self.fc.lower[0]), float(self.fc.upper[0]),
                           float(self.fc.forecast[0]), float(self.fc.spread[0])])  # fmt: skip

    def next(self) -> None:
        self.prenext()


def _run(candles: pd.DataFrame, kw: dict[str, Any], *, preload: bool = True,
         runonce: bool = True, exactbars: int = 0, replay: bool = False) -> np.ndarray:  # fmt: skip
    rows: list[list[float]] = []
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=runonce, exactbars=exactbars)
    feed = candles_feed(candles)
    if replay:
        cerebro.replaydata(feed, timeframe=bt.TimeFrame.Days, compression=1)
    else:
        cerebro.adddata(feed)
    cerebro.addstrategy(Take, kw=kw, out=rows)
    cerebro.run()
    return np.asarray(rows)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    bars = make_candles(150, seed=13)
    return bars.drop(bars.index[HOLE[0] : HOLE[1]])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interval-folds")


@pytest.fixture(scope="module")
def reference(candles: pd.DataFrame, cache: Path) -> dict[str, tuple[dict, np.ndarray]]:
    out = {}
    for name, (cfg, spec) in CASES.items():
        res = WalkForward(cfg, SPEC, cache_dir=cache, intervals=spec).run(candles)
        lines = np.column_stack([res.lower, res.upper])
        assert np.isfinite(lines).all(axis=1).sum() > 30  # intervals exist on many bars
        kw = {"forecaster": cfg, "schedule": SPEC, "cache_dir": cache, "intervals": spec}
        out[name] = (kw, lines)
    return out


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("preload", "runonce", "exactbars"), MODES)
def test_interval_lines_equal_the_batched_engine_in_every_mode(
    candles, reference, case, preload, runonce, exactbars
) -> None:
    kw, want = reference[case]
    got = _run(candles, kw, preload=preload, runonce=runonce, exactbars=exactbars)
    np.testing.assert_allclose(got[:, :2], want, rtol=0, atol=1e-6, equal_nan=True)
    assert np.isnan(got[:, 3]).all()  # one network, no MC dropout: no spread


def test_interval_lines_on_a_replayed_feed(candles, reference) -> None:
    kw, want = reference["return-split"]
    got = _run(candles, kw, preload=False, runonce=False, replay=True)
    np.testing.assert_allclose(got[:, :2], want, rtol=0, atol=1e-6, equal_nan=True)


def test_bar_by_bar_intervals_use_the_past_only(candles, reference) -> None:
    kw, _ = reference["return-h2-aci"]
    full = _run(candles, kw, preload=False, runonce=False)
    t = 120
    cut = _run(splice_candles(candles, t), kw, preload=False, runonce=False)
    np.testing.assert_array_equal(cut[: t + 1], full[: t + 1])
    assert not np.allclose(cut[t + 3 :, :2], full[t + 3 :, :2], equal_nan=True)


def test_direction_and_fixed_models_have_no_interval(candles, cache) -> None:
    cfg = TINY.replace(target="direction")
    kw = {"forecaster": cfg, "schedule": SPEC, "cache_dir": cache,
          "intervals": IntervalSpec(level=0.9, window=10)}  # fmt: skip
    for runonce in (True, False):
        got = _run(candles, kw, preload=runonce, runonce=runonce)
        assert np.isnan(got[:, :2]).all() and np.isfinite(got[:, 2]).sum() > 50
    wf = WalkForward(TINY, SPEC, cache_dir=cache)
    with pytest.raises(InputError, match="walkforward= and intervals="):
        _run(candles, {"walkforward": wf, "intervals": IntervalSpec(level=0.9)})


def test_spread_line_of_an_ensemble_in_runonce(candles, cache) -> None:
    cfg = TINY.replace(ensemble=2)
    wf = WalkForward(cfg, SPEC, cache_dir=cache)
    res = wf.run(candles)
    got = _run(candles, {"walkforward": wf})
    np.testing.assert_allclose(got[:, 3], res.spread.to_numpy(), rtol=0, atol=1e-9, equal_nan=True)
    assert (got[SPEC.train_bars + 5 :, 3] > 0).all()
