"""``lstm_backtrader.backtests.sweep.spec``: a bad sweep file is one ``error:`` line naming the
file and the key, exit code 2, through ``lstm-bt sweep``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app

cli = CliRunner()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[grid]\n"model.unitz" = [[4]]\n',
            "[grid] key 'model.unitz': unknown field [model] unitz",
        ),
        ('[grid]\n"strategy.entry" = []\n', "[grid] strategy.entry is an empty list"),
        ('[grid]\n"model.seed" = [1, 2]\n', "list the seeds in 'seeds = [...]'"),
        ('[grid]\n"data.path" = ["x.csv"]\n', "vary the data with [[assets]]"),
        ('[grid]\n"model.units" = [4, 8]\n', "[grid] model.units=4: [model] units is 4"),
        ("seedz = [1]\n", "unknown key 'seedz'"),
        ("seeds = [1, 1]\n", "seeds [1, 1] repeat a value"),
        ('mode = "list"\n', "mode = 'list' needs one or more [[trials]] tables"),
        ('base = "missing.toml"\n', "missing.toml: config file not found"),
        ('[[assets]]\nname = "x"\nsampel = "1d"\n', "[[assets]] #1: unknown field [data] sampel"),
        ("[grid\n", "not valid TOML"),
    ],
)
def test_bad_sweep_file_is_one_line_exit_2(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    result = cli.invoke(app, ["sweep", "--config", str(path), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and str(path) in lines[0]
    assert expected in lines[0]
