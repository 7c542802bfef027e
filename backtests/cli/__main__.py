"""``python -m lstm_backtrader.backtests.cli``: the ``lstm-bt`` command line."""

from __future__ import annotations

from lstm_backtrader.backtests.cli import main

if __name__ == "__main__":
    main()
