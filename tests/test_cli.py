"""The lstm-bt command line: real console script, one-line errors, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app

runner = CliRunner()


def _lstm_bt(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lstm-bt")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "lstm_backtrader.backtests.cli"]
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120, check=False)  # fmt: skip


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("fetch", "backtest", "data"):
        assert command in result.output


HEAVY = ("tensorflow", "keras", "ccxt")

NO_HEAVY_IMPORTS = textwrap.dedent(
    """
    import sys
    from typer.testing import CliRunner

    def heavy():
        return sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))

    import lstm_backtrader.backtests.cli as cli
    assert not heavy(), f"importing the cli loaded {heavy()}"
    runner = CliRunner()
    for args in (
        ["--help"], ["data", "--help"], ["data", "info", "--help"], ["fetch", "--help"],
        ["backtest", "--help"], ["report", "--help"], ["audit", "--help"], ["sweep", "--help"],
        ["data", "info", "--sample", "1d"],
    ):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 0, (args, result.output)
        assert not heavy(), f"lstm-bt {' '.join(args)} loaded {heavy()}"
    print("ok")
    """
)


def test_help_and_data_info_import_no_heavy_library() -> None:
    """The cli package, every --help and `data info` leave TensorFlow, Keras and ccxt unloaded."""
    proc = subprocess.run([sys.executable, "-c", NO_HEAVY_IMPORTS, *HEAVY], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_runs_as_a_module() -> None:
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.run([sys.executable, "-m", "lstm_backtrader.backtests.cli", "--help"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Usage: python -m lstm_backtrader.backtests.cli [OPTIONS] COMMAND" in proc.stdout
    for command in ("fetch", "backtest", "report", "audit", "sweep", "data"):
        assert command in proc.stdout


def test_data_info_on_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2021-01-01,10,12,9,11,5\n2021-01-02,11,13,10,12,6\n2021-01-04,12,14,11,13,7\n"
    )
    result = runner.invoke(app, ["data", "info", str(path)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "2021-01-01 → 2021-01-04" in result.output
    assert "1 (1 bars missing; largest 2 days" in result.output
    assert "validation: ok" in result.output


def test_data_info_on_the_sample() -> None:
    result = runner.invoke(app, ["data", "info", "--sample", "1d"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "2014-12-01 → 2019-10-17" in result.output
    assert "1,770" in result.output


def test_console_script_bad_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2021-01-01,10,9,9,11,5\n")
    proc = _lstm_bt("data", "info", str(path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}: 1 row(s) whose high/low do not contain")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["data", "info", "/no/such/file.csv"], "error: /no/such/file.csv: no such file"),
        (["data", "info", "--sample", "3m"], "error: no embedded sample for timeframe '3m'"),
        (["data", "info"], "error: give either a PATH or --sample 1d|1h"),
    ],
)
def test_user_errors_exit_2_without_traceback(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert expected in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_fetch_through_ccxt_from_the_loopback_exchange(tmp_path: Path) -> None:
    import ccxt

    from tests.fake_binance import FakeBinance

    with FakeBinance() as fake:
        urls = dict.fromkeys(ccxt.binance().urls["api"], fake.base_url)
        config = tmp_path / "exchange.json"
        config.write_text(
            json.dumps(
                {
                    "urls": {"api": urls},
                    "options": {"fetchMarkets": {"types": ["spot"]}},
                    "apiKey": "SECRET-KEY-123",
                    "rateLimit": 1,
                }
            )
        )
        out_file = tmp_path / "btc.parquet"
        args = ["fetch", "--since", "2024-01-01", "--cache-dir", str(tmp_path / "cache"),
                "--exchange-config", str(config), "--out", str(out_file)]  # fmt: skip
        result = runner.invoke(app, args, env={"COLUMNS": "160"})
        assert result.exit_code == 0, result.output
        assert "fetched candles" in result.output and "2024-01-01 →" in result.output
        assert "SECRET-KEY-123" not in result.output
        written = pd.read_parquet(out_file)
        assert written.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
        assert len(written) == len(fake.served_candles().loc["2024-01-01":])
        for f in (tmp_path / "cache").rglob("*"):
            assert not f.is_file() or b"SECRET-KEY-123" not in f.read_bytes()


def test_fetch_bad_exchange_config(tmp_path: Path) -> None:
    config = tmp_path / "x.json"
    config.write_text("{not json")
    result = runner.invoke(app, ["fetch", "--exchange-config", str(config)])
    assert result.exit_code == 2
    assert f"error: --exchange-config {config}: not valid JSON" in result.output


# --------------------------------------------------------------------------- issue 11
TF_NOISE = ("I0000", "E0000", "W0000", "absl::", "cuda", "oneDNN", "cpu_feature_guard")


def _tiny_run_config(tmp: Path) -> Path:
    from tests.conftest import make_candles

    data = tmp / "candles.csv"
    make_candles(160, seed=5).to_csv(data)
    cfg = tmp / "tiny.toml"
    cfg.write_text(
        f'[data]\nsource = "file"\npath = "{data}"\n'
        "[model]\nlookback = 8\nunits = [4]\nepochs = 1\nbatch_size = 32\n"
        "[walkforward]\ntrain_bars = 100\nretrain_every = 30\n"
    )
    return cfg


def test_backtest_output_is_our_own_lines_and_v_shows_tensorflow(tmp_path: Path) -> None:
    cfg = _tiny_run_config(tmp_path)
    env_args = ("--config", str(cfg), "--cache-dir", str(tmp_path / "c"),
                "--reports-dir", str(tmp_path / "r"))  # fmt: skip
    quiet = _lstm_bt("backtest", *env_args)
    assert quiet.returncode == 0, quiet.stderr
    noise = [
        ln for ln in (quiet.stdout + quiet.stderr).splitlines() if any(n in ln for n in TF_NOISE)
    ]
    assert not noise, noise
    assert "Margin" not in quiet.stderr and "rejected" not in quiet.stderr
    assert "done in " in quiet.stdout
    loud = _lstm_bt("-v", "backtest", *env_args, "--from-scratch")  # new folds: TF runs again
    assert loud.returncode == 0, loud.stderr
    assert any(n in loud.stderr for n in TF_NOISE), "with -v TensorFlow's own lines are shown"


def test_internal_error_is_one_line_with_exit_code_3(monkeypatch: pytest.MonkeyPatch) -> None:
    from lstm_backtrader.backtests.data import files

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something\nunexpected")

    monkeypatch.setattr(files, "load_ohlcv", broken)
    result = runner.invoke(app, ["data", "info", "--sample", "1d"])
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error: RuntimeError: something ")
    assert "Traceback" not in result.output


def test_report_names_the_corrupt_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"schema": "lstm-bt.report/1", "strategies": ')
    (run / "equity.csv").write_text("timestamp,LSTM\n2020-01-01,1\n")
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {run / 'summary.json'}: corrupt (not valid JSON at line 1, column 46); "
        "rerun the backtest to write it again"
    )


@pytest.mark.parametrize("points", ["0", "-2"])
def test_audit_points_below_one_is_an_input_error(points: str) -> None:
    result = runner.invoke(app, ["audit", "--points", points])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: --points is {points}: check at least 1 cut point"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["fetch", "--since", "2022-13-45"], "--since"),
        (["fetch", "--until", "not-a-date"], "--until"),
        (["backtest", "--since", "not-a-date"], "[data] since"),
        (["audit", "--since", "2022-13-45"], "[data] since"),
    ],
)
def test_bad_dates_are_one_line_naming_the_field(args: list[str], field: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{field} is '{args[-1]}', not a date: use a date like" in lines[0]
