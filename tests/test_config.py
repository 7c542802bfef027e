"""Run configuration: TOML file, defaults, overrides, one-line errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_backtrader.backtests.config import RunConfig, load_config
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import IntervalSpec
from lstm_backtrader.models.infra.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def test_example_config_lists_every_default() -> None:
    assert load_config(REPO / "configs" / "example.toml") == RunConfig()
    text = (REPO / "configs" / "example.toml").read_text()
    everything = RunConfig(
        model=ForecasterConfig(target="volatility"), intervals=IntervalSpec(level=0.9)
    ).to_dict()
    everything["model"].update(ensemble=1, mc_dropout=0)  # left out of the dict while off
    for section, values in everything.items():
        assert f"[{section}]" in text
        for name in values:
            assert f"{name} =" in text, f"[{section}] {name} is not documented in example.toml"


def test_file_values_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[model]\nunits = [8, 4]\nlookback = 20\n[walkforward]\nretrain_every = 7\n'
                    '[strategy]\nfee = 0\n')  # fmt: skip
    cfg = load_config(path)
    assert cfg.model.units == (8, 4) and cfg.model.lookback == 20
    assert cfg.walkforward.retrain_every == 7 and cfg.strategy.fee == 0.0
    assert cfg.data == RunConfig().data
    over = cfg.with_overrides({"walkforward": {"train_bars": 100, "gap": None}, "data": {}})
    assert over.walkforward.train_bars == 100 and over.walkforward.retrain_every == 7
    assert RunConfig.from_dict(over.to_dict()) == over


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[walkforward]\nretrain_every = "x"',
            "[walkforward] retrain_every is 'x': expected an integer",
        ),
        ("[strategy]\nfoo = 1", "unknown field [strategy] foo; known: allow_short"),
        ("[bogus]\n", "unknown section [bogus]; known: data, model, walkforward, strategy"),
        ("[model]\ndropout = 2.0", "[model] config field 'dropout' is 2.0: use 0 <= dropout < 1"),
        ('[data]\nsource = "file"', "[data] path is missing"),
        ("[model]\nunits = [8, true]", "[model] units is [8, True]: expected a list of int"),
        ("[strategy]\nsma_fast = 60", "[strategy] sma_fast (60) must be below sma_slow (50)"),
        ("x = ", "not valid TOML"),
        ("[strategy]\nsma_fast = 0", "[strategy] sma_fast is 0: use an integer >= 1"),
        ("[strategy]\nvol_window = 1", "[strategy] vol_window is 1: volatility needs >= 2"),
        ("[strategy]\nstop_loss = 1.5", "[strategy] stop_loss is 1.5: use 0 < stop_loss < 1"),
        ("[strategy]\nvol_target = 0", "[strategy] vol_target is 0.0: use a positive"),
        ("[strategy]\nentry = nan", "[strategy] entry is nan: use a finite number"),
        ("[walkforward]\ngap = 0\n[model]\nhorizon = 3", "gap is 0 but the horizon is 3"),
        (
            "[model]\nlookback = 800",
            "[walkforward] train_bars is 730: with lookback 800, horizon 1 and gap 1 a fold has 0 "
            "labelled training windows; use train_bars >= 821 or a shorter lookback",
        ),
        ("[walkforward]\nwarm_start = 1", "[walkforward] warm_start is 1: expected true/false"),
        (
            '[data]\nsince = "2022-13-45"',
            "[data] since is '2022-13-45', not a date: use a date like",
        ),
        (
            '[data]\nuntil = "not-a-date"',
            "[data] until is 'not-a-date', not a date: use a date like",
        ),
        (
            '[data]\nsince = "2021-01-01"\nuntil = "2020-01-01"',
            "[data] until (2020-01-01) is not after since (2021-01-01): the range is empty",
        ),
    ],
)
def test_bad_config_one_line_error_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_config_that_does_not_fit_the_data_is_refused_before_training() -> None:
    config = RunConfig.from_dict({"walkforward": {"train_bars": 100, "retrain_every": 301}})
    with pytest.raises(
        InputError, match="retrain_every is 301 but btc.csv has only 300 out-of-sample bars"
    ):
        config.check_data(400, "btc.csv")
    with pytest.raises(InputError, match="train_bars is 100 but btc.csv has only 90 bars"):
        config.check_data(90, "btc.csv")
    # one model for the whole out-of-sample period is a valid static split
    RunConfig.from_dict({"walkforward": {"train_bars": 100, "retrain_every": 300}}).check_data(
        400, "btc.csv"
    )
    # the audit's cuts are shorter than the run's data: only train_bars must fit them
    config.check_data(250, "a cut", whole=False)


def test_lookback_boundary_is_exact() -> None:
    """train_bars just large enough passes; one bar less is refused (no off-by-one)."""
    ok = RunConfig.from_dict({"model": {"lookback": 800}, "walkforward": {"train_bars": 821}})
    assert ok.walkforward.train_bars == 821
    with pytest.raises(InputError, match="has 19 labelled training windows"):
        RunConfig.from_dict({"model": {"lookback": 800}, "walkforward": {"train_bars": 820}})


def test_target_settings_are_read_and_the_direction_threshold_follows_the_costs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.toml"
    path.write_text('[model]\ntarget = "direction"\n[strategy]\nfee = 0.002\nslippage = 0.001\n')
    cfg = load_config(path)
    assert cfg.model.direction_threshold == pytest.approx(0.006)  # 2 x (fee + slippage)
    # a cost override moves a threshold that followed the cost, never an explicit one
    assert cfg.with_overrides({"strategy": {"fee": 0.0}}).model.direction_threshold == 0.002
    path.write_text('[model]\ntarget = "direction"\ndirection_threshold = 0.0\n')
    explicit = load_config(path)
    assert explicit.model.direction_threshold == 0.0
    assert explicit.with_overrides({"strategy": {"fee": 0.01}}).model.direction_threshold == 0.0
    path.write_text('[model]\ntarget = "volatility"\nvol_estimator = "parkinson"\n')
    assert load_config(path).model.vol_estimator == "parkinson"
    # a return run's config (manifest, sweep trial id) does not list the targets' settings
    assert "target_vol" not in RunConfig().to_dict()["strategy"]
    assert "target_vol" in load_config(path).to_dict()["strategy"]
