"""Run configuration: TOML file, defaults, overrides, one-line errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_backtrader.backtests.config import RunConfig, load_config
from lstm_backtrader.models.infra.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def test_example_config_lists_every_default() -> None:
    assert load_config(REPO / "configs" / "example.toml") == RunConfig()
    text = (REPO / "configs" / "example.toml").read_text()
    for section, values in RunConfig().to_dict().items():
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
