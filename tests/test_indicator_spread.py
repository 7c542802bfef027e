"""Ensembles and Monte-Carlo dropout in ``LSTMForecast``: ``forecast``, ``spread``, ``lower``
and ``upper`` bar by bar equal the batched engine's in every run mode.

Bar by bar the indicator gets every member's fold model (the batched engine's member i, through
the fold cache) and forecasts each bar with each of them (MC dropout: that bar's own masks,
which depend on the seed, sample, layer and the bar's time only — checked here: one window
alone gives the batched values). Truncation: altering every bar after T leaves every value up
to T unchanged, in once() and next(). A CLI run's forecasts.csv holds the same values as the
indicator run bar by bar over the run's data with the run's config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import IntervalSpec
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.mcdropout import mc_dropout_last, mc_dropout_predict
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles, splice_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=5, units=(4,), epochs=1, batch_size=32, dropout=0.2, seed=4)
SPEC = WalkForwardSpec(train_bars=50, retrain_every=35)  # 2 folds, the second warm-started
INTERVALS = IntervalSpec(level=0.8, window=12, method="aci", gamma=0.05)
MODES = [(p, r, e) for p in (True, False) for r in (True, False) for e in (0, -1, -2, 1)]
CASES = {"ensemble": TINY.replace(ensemble=2), "mc-dropout": TINY.replace(mc_dropout=3)}
LINES = ("forecast", "spread", "lower", "upper", "fold")


class Take(bt.Strategy):
    params = (("kw", None), ("out", None))

    def __init__(self) -> None:
        self.fc = LSTMForecast(self.data, **self.p.kw)

    def prenext(self) -> None:
        self.p.out.append([float(getattr(self.fc.lines, n)[0]) for n in LINES])

    def next(self) -> None:
        self.prenext()


def _run(
    candles: pd.DataFrame, kw: dict[str, Any], replay: bool = False, **cerebro_kw: Any
) -> np.ndarray:
    rows: list[list[float]] = []
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kw)
    if replay:
        cerebro.replaydata(candles_feed(candles), timeframe=bt.TimeFrame.Days, compression=1)
    else:
        cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(Take, kw=kw, out=rows)
    cerebro.run()
    return np.asarray(rows)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    bars = make_candles(110, seed=17)
    return bars.drop(bars.index[70:72])  # a hole: its scores stay unknown in both paths


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spread-folds")


@pytest.fixture(scope="module")
def reference(candles: pd.DataFrame, cache: Path) -> dict[str, tuple[dict, np.ndarray]]:
    out = {}
    for name, cfg in CASES.items():
        res = WalkForward(cfg, SPEC, cache_dir=cache, intervals=INTERVALS).run(candles)
        want = np.column_stack([res.forecasts, res.spread, res.lower, res.upper, res.fold_id])
        spread = want[SPEC.train_bars :, 1]
        assert (spread >= 0).all() and (spread > 0).mean() > 0.8  # a spread on forecast bars
        assert np.isfinite(want[:, 2]).sum() > 20  # and intervals on many
        kw = {"forecaster": cfg, "schedule": SPEC, "cache_dir": cache, "intervals": INTERVALS}
        out[name] = (kw, want)
    return out


def test_mc_dropout_masks_do_not_depend_on_the_batch() -> None:
    """A window's MC forecast and spread are the same alone, in a batch, or in a batch that
    starts elsewhere: its masks depend on (seed, sample, layer, bar) only."""
    bars = make_candles(80, seed=2)
    model = LSTMForecaster.from_config(TINY.replace(units=(4, 4))).fit(bars.iloc[:50])
    mean, spread = mc_dropout_predict(model, bars, 4)
    ctx = model.context_bars
    later_mean, later_spread = mc_dropout_predict(model, bars.iloc[25:], 4)
    done = slice(ctx - 1, None)  # the later slice's own warm-up aside
    np.testing.assert_allclose(later_mean[done], mean.iloc[25:][done], rtol=0, atol=1e-6)
    np.testing.assert_allclose(later_spread[done], spread.iloc[25:][done], rtol=0, atol=1e-6)
    for t in (ctx - 1, 40, 79):
        one = mc_dropout_last(model, bars.iloc[t - ctx + 1 : t + 1], 4)
        np.testing.assert_allclose(one, (mean.iloc[t], spread.iloc[t]), rtol=0, atol=1e-6)
    assert (spread.dropna() > 0).all() and mean.notna().sum() == 80 - ctx + 1
    # another seed, other masks
    other, _ = mc_dropout_predict(model, bars, 4, seed=5)
    assert not np.allclose(other.dropna(), mean.dropna())


#: Every mode for the ensemble; for MC dropout (S passes per bar bar by bar: ~3 s a mode) the
#: batched path and one mode of each bar-by-bar kind (unbounded, bounded, fully bounded).
MODE_CASES = [(*m, "ensemble") for m in MODES] + [
    (*m, "mc-dropout") for m in ((True, True, 0), (True, False, 0), (False, True, -1),
                                 (False, False, 1))
]  # fmt: skip


@pytest.mark.parametrize(("preload", "runonce", "exactbars", "case"), MODE_CASES)
def test_spread_and_intervals_equal_in_every_mode(
    candles, reference, case, preload, runonce, exactbars
) -> None:
    kw, want = reference[case]
    got = _run(candles, kw, preload=preload, runonce=runonce, exactbars=exactbars)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("case", list(CASES))
def test_spread_and_intervals_on_a_replayed_feed(candles, reference, case) -> None:
    kw, want = reference[case]
    got = _run(candles, kw, replay=True, preload=False, runonce=False)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("runonce", [True, False])
def test_truncation_of_spread_and_intervals(candles, reference, runonce) -> None:
    kw, _ = reference["ensemble"]
    t = 85
    full = _run(candles, kw, preload=runonce, runonce=runonce)
    cut = _run(splice_candles(candles, t), kw, preload=runonce, runonce=runonce)
    np.testing.assert_array_equal(cut[: t + 1], full[: t + 1])
    assert not np.allclose(cut[t + 3 :, :4], full[t + 3 :, :4], equal_nan=True)


CLI_CONFIG = """
[data]
source = "sample"
sample = "1d"
since = "2018-01-01"
until = "2018-12-01"
[model]
lookback = 6
units = [4]
epochs = 1
dropout = 0.2
mc_dropout = 3
[walkforward]
train_bars = 200
retrain_every = 60
[intervals]
level = 0.9
window = 30
"""


def test_indicator_lines_equal_the_cli_forecasts_csv(tmp_path: Path) -> None:
    from lstm_backtrader.backtests.cli import app
    from lstm_backtrader.backtests.config import load_config
    from lstm_backtrader.backtests.simulation import load_candles, make_walkforward

    path = tmp_path / "run.toml"
    path.write_text(CLI_CONFIG, encoding="utf-8")
    cache = tmp_path / "cache"
    args = ["backtest", "--config", str(path), "--cache-dir", str(cache),
            "--reports-dir", str(tmp_path / "reports")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output[-2000:]
    csv = pd.read_csv((tmp_path / "reports" / "latest").resolve() / "forecasts.csv", index_col=0)
    config = load_config(path)
    candles, _ = load_candles(config.data)
    wf = make_walkforward(config, cache)
    got = _run(candles, {"walkforward": wf}, preload=False, runonce=False, exactbars=1)
    lines = pd.DataFrame(got, columns=list(LINES), index=candles.index.strftime("%Y-%m-%d"))
    csv.index = pd.to_datetime(csv.index, utc=True).strftime("%Y-%m-%d")
    assert len(csv) > 100 and csv["lower"].notna().sum() > 50
    for column in ("forecast", "spread", "lower", "upper"):
        mine = lines.loc[csv.index, column].to_numpy()
        np.testing.assert_allclose(mine, csv[column].to_numpy(), rtol=0, atol=1e-6,
                                   equal_nan=True, err_msg=column)  # fmt: skip
