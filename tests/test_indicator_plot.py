"""LSTMForecast in Backtrader's plot (a short legend, a zero line, only the forecast drawn) and
in its writers."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import backtrader as bt
import matplotlib
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=1, batch_size=32, dropout=0.0, seed=7)


class WithForecast(bt.Strategy):
    params = (("kw", None),)

    def __init__(self) -> None:
        self.ind = LSTMForecast(self.data, **self.p.kw)


@pytest.fixture(scope="module")
def candles():
    return make_candles(90, seed=51)


@pytest.fixture(scope="module")
def fitted(candles) -> LSTMForecaster:
    return LSTMForecaster.from_config(TINY).fit(candles.iloc[:40])


def _cerebro(candles, **kw) -> bt.Cerebro:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(WithForecast, kw=kw)
    return cerebro


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]


def test_plot_legend_is_short_with_a_zero_line(candles, fitted) -> None:
    matplotlib.use("Agg", force=True)
    import backtrader.plot  # noqa: F401  (selects TkAgg on import: Agg forced back below)

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    cerebro = _cerebro(candles, model=fitted)
    (strat,) = cerebro.run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures = cerebro.plot(iplot=False, volume=False, style="line")
    fig = figures[0][0]
    texts = _legend_texts(fig)
    (label,) = [t.splitlines() for t in texts if t.startswith("LSTM")]
    # the label, then the one line drawn with its last value: no parameters, no fold/age/gap
    assert label[0] == "LSTM (fixed)" and len(label) == 2, texts
    assert label[1].startswith("forecast ")
    assert all(len(t) < 40 for t in texts), texts
    assert not any(word in t for t in texts for word in ("fold", "age", "gap", "Config")), texts
    ax = next(a for a in fig.axes if a.get_legend() and "LSTM" in _legend_texts_of(a)[0])
    assert any(list(line.get_ydata()) == [0.0, 0.0] for line in ax.lines)  # the zero line
    # matplotlib >= 3.11: Backtrader hides the x date labels; shown again as the project does
    bottom = max(fig.axes, key=lambda a: -a.get_position().y0)
    bottom.tick_params(labelbottom=True)
    fig.savefig(io.BytesIO(), format="png")
    assert any(t.get_text() for t in bottom.get_xticklabels())
    plt.close("all")
    assert strat.ind.plotlabel() == "LSTM (fixed)"
    # a hidden line is shown for one indicator by its own plotlines, as in Backtrader
    strat.ind.plotlines.gap._plotskip = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = cerebro.plot(iplot=False, volume=False, style="line")[0][0]
    ax = next(a for a in fig.axes if a.get_legend() and "LSTM" in _legend_texts_of(a)[0])
    shown = [row.split()[0] for t in _legend_texts_of(ax) for row in t.splitlines()[-1:]]
    assert shown == ["forecast", "gap"]
    plt.close("all")


def _legend_texts_of(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().texts]


def test_walkforward_label(candles, tmp_path: Path) -> None:
    spec = WalkForwardSpec(train_bars=70, retrain_every=30, expanding=True)
    (strat,) = _cerebro(candles, forecaster=TINY, schedule=spec, cache_dir=tmp_path).run()
    assert strat.ind.plotlabel() == "LSTM (wf 70/30 expanding)"
    spec = WalkForwardSpec(train_bars=70, retrain_every=30)
    (strat,) = _cerebro(candles, forecaster=TINY, schedule=spec, cache_dir=tmp_path).run()
    assert strat.ind.plotlabel() == "LSTM (wf 70/30)"


def test_writer_with_the_indicator(candles, fitted, tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    cerebro = _cerebro(candles, model=fitted)
    cerebro.addwriter(bt.WriterFile, csv=True, out=str(out))
    (strat,) = cerebro.run()
    lines = out.read_text().splitlines()
    assert "candles" in lines[1]
    rows = [line for line in lines if line[:1].isdigit()]
    assert len(rows) == len(candles)
    assert "LSTMForecast" in out.read_text()  # the strategy's indicators are listed at the end
    # an indicator's lines go into the csv when its csv flag is set, as in Backtrader
    out2 = tmp_path / "run2.csv"

    class Csv(WithForecast):
        def __init__(self) -> None:
            super().__init__()
            self.ind.csv = True

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(Csv, kw={"model": fitted})
    cerebro.addwriter(bt.WriterFile, csv=True, out=str(out2))
    cerebro.run()
    header = out2.read_text().splitlines()[1].split(",")
    assert header[-11:] == ["LSTM", "len", "forecast", "fold", "age", "gap", "prob", "vol",
                           "lower", "upper", "spread"]  # fmt: skip
    assert strat.ind.fold[0] == 0.0


class TwoTargets(bt.Strategy):
    params = (("models", None),)

    def __init__(self) -> None:
        self.inds = [LSTMForecast(self.data, model=m) for m in self.p.models]


@pytest.mark.parametrize(("target", "label", "hline"), [
    ("direction", "P(up)", [0.5, 0.5]),
    ("volatility", "vol", None),
])  # fmt: skip
def test_target_lines_are_drawn_for_their_target_only(
    candles, fitted, target, label, hline
) -> None:
    """A direction model draws its probability (with a 0.5 line), a volatility model its
    volatility; a return model on the same chart still draws its forecast (the choice is
    the instance's own plotlines)."""
    matplotlib.use("Agg", force=True)
    import backtrader.plot  # noqa: F401

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    model = LSTMForecaster.from_config(TINY.replace(target=target)).fit(candles.iloc[:40])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(TwoTargets, models=[model, fitted])
    cerebro.run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = cerebro.plot(iplot=False, volume=False, style="line")[0][0]
    axes = [a for a in fig.axes if a.get_legend() and "LSTM" in _legend_texts_of(a)[0]]
    shown = [[row.split()[0] for row in _legend_texts_of(a)[0].splitlines()[1:]] for a in axes]
    assert shown == [[label], ["forecast"]]
    if hline is not None:
        assert any(list(line.get_ydata()) == hline for line in axes[0].lines)
    plt.close("all")
