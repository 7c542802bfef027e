"""Paper trading (``lstm-bt paper``): the backtest's strategy on a live feed of closed candles,
a paper broker and event-sourced state that survives SIGKILL (``docs/paper.md``).

* :mod:`~lstm_backtrader.backtests.paper.config` — the ``[paper]`` section;
* :mod:`~lstm_backtrader.backtests.paper.sources` — the exchange poller and the replay source;
* :mod:`~lstm_backtrader.backtests.paper.journal` — the candle journal, order log, state file;
* :mod:`~lstm_backtrader.backtests.paper.session` — the session runner;
* :mod:`~lstm_backtrader.backtests.paper.status` — the status page.
"""
