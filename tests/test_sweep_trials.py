"""``lstm_backtrader.backtests.sweep.trials``: a sweep file expands into assets × parameter
combinations × seeds, in grid and in list mode."""

from __future__ import annotations

from pathlib import Path

from lstm_backtrader.backtests.sweep import expand_trials, load_sweep


def test_grid_expands_to_product_times_seeds_times_assets(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text("[model]\nseed = 7\nepochs = 3\n")
    (tmp_path / "s.toml").write_text(
        'base = "base.toml"\nseeds = [1, 2, 3]\n'
        '[grid]\n"model.units" = [[16], [32, 32]]\n'
        "[grid.strategy]\nentry = [0.0, 0.001, 0.002]\n"
        '[[assets]]\nname = "a"\npath = "a.csv"\n[[assets]]\nsample = "1d"\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    trials = expand_trials(sweep)
    assert len(trials) == 2 * 3 * 3 * 2
    assert [a.name for a in sweep.assets] == ["a", "sample 1d"]
    assert sweep.assets[0].data.source == "file"
    assert sweep.assets[0].data.path == str(tmp_path / "a.csv")  # relative to the sweep file
    combos = {(t.asset, t.config.model.units, t.config.strategy.entry, t.seed) for t in trials}
    assert len(combos) == len(trials)
    assert {t.config.model.seed for t in trials} == {1, 2, 3}
    assert all(t.config.model.seed == t.seed for t in trials)
    assert {t.config.model.units for t in trials} == {(16,), (32, 32)}
    assert all(t.config.model.epochs == 3 for t in trials)  # from the base file
    assert trials[0].params == (("model.units", (16,)), ("strategy.entry", 0.0))
    # trials differing only by seed share a group
    assert len({t.group for t in trials}) == 2 * 3 * 2


def test_list_mode_and_default_asset(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        'mode = "list"\nseeds = [5, 6]\n'
        '[[trials]]\n"model.units" = [8]\n'
        '[[trials]]\n"walkforward.warm_start" = false\n[trials.model]\nunits = [4, 4]\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    trials = expand_trials(sweep)
    assert len(trials) == 2 * 2
    assert sweep.param_keys == ("model.units", "walkforward.warm_start")
    assert [a.name for a in sweep.assets] == ["sample 1d"]  # the base's [data]
    assert trials[0].params == (("model.units", (8,)), ("walkforward.warm_start", True))
    assert trials[-1].config.model.units == (4, 4) and not trials[-1].config.walkforward.warm_start
