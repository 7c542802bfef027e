"""The status page of a paper session, ``paper/<name>/index.html``: the account, equity vs buy &
hold since the start, the last forecast with its fold and age, the folds met so far, recent orders
and data health, with a link to ``tearsheet.html`` once ``lstm-bt report`` has written it. Drawn
from ``templates/paper.html`` (the run page's layout and style) and replaced atomically after
every bar; the equity chart is an inline SVG (no script, no file)."""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.paper.report import TEARSHEET
from lstm_backtrader.backtests.report.render import kv_pairs, make_table
from lstm_backtrader.models.infra.fileio import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["equity_chart", "status_context", "write_status"]

RECENT_ORDERS = 20
_W, _H = 900, 260


def _short(when: Any) -> str:
    """A bar time for display: ``2025-07-13 00:00`` (UTC)."""
    return f"{pd.Timestamp(when):%Y-%m-%d %H:%M}"


def equity_chart(equity: pd.DataFrame, start: pd.Timestamp) -> dict[str, Any] | None:
    """Polyline points of the account's value and buy & hold from ``start`` on (``None``
    before two such bars)."""
    shown = equity[equity.index >= start]
    if len(shown) < 2:
        return None
    values = shown[["value", "buy_hold"]].to_numpy("float64")
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else 1.0
    n = len(shown)

    def points(col: int) -> str:
        return " ".join(
            f"{40 + i * (_W - 50) / (n - 1):.1f},{_H - 20 - (v - lo) / span * (_H - 40):.1f}"
            for i, v in enumerate(values[:, col])
        )

    return {
        "width": _W, "height": _H, "strategy": points(0), "buy_hold": points(1),
        "top": f"{hi:,.2f}", "bottom": f"{lo:,.2f}", "start": _short(start),
        "first": _short(shown.index[0]), "last": _short(shown.index[-1]),
    }  # fmt: skip


def status_context(
    title: str,
    equity: pd.DataFrame,
    state: dict[str, Any],
    folds: pd.DataFrame,
    orders: list[dict[str, Any]],
    health: list[dict[str, Any]],
    trade_from: pd.Timestamp,
    cash: float,
    tearsheet: str | None = None,
    switches: list[dict[str, Any]] | None = None,
    training: list[int] | None = None,
) -> dict[str, Any]:
    """The template's variables (every value a display text); ``tearsheet`` is the link to the
    paper period's tearsheet (``lstm-bt report``) when it exists; ``switches`` the recorded
    model switches (``switches.jsonl``; ``None``: each fold on its first bar) and ``training``
    the folds being trained in the worker."""
    last = equity.iloc[-1]
    bar = equity.index[-1]
    account = {
        "last bar (open time, UTC)": _short(bar),
        "cash": f"{last['cash']:,.2f}",
        "position (units)": f"{last['position']:.6g}",
        "value": f"{last['value']:,.2f}",
        "return since start": f"{last['value'] / cash - 1.0:+.2%}",
        "buy & hold return since start": f"{last['buy_hold'] / cash - 1.0:+.2%}",
        "open orders": state.get("open_orders"),
        "trading from": _short(trade_from),
        "bars in the journal": len(equity),
    }
    forecast = {
        "forecast (log return, next bar)": None
        if math.isnan(last["forecast"])
        else last["forecast"],
        "fold": int(last["fold"]),
        "age (bars since the model's cutoff)": int(last["age"]),
    }
    switched = {int(r["fold"]): r for r in switches or []}

    def took_over(fold: int, first: Any) -> str:
        """When the fold's model took over, and how many bars after its first bar."""
        rec = switched.get(fold)
        if rec is None or rec["t"] == rec["first"]:
            return _short(first)
        at = pd.Timestamp(rec["t"], unit="ms", tz="UTC")
        late = int(((equity.index >= pd.Timestamp(first)) & (equity.index < at)).sum())
        return f"{_short(at)} ({late} bar(s) later)"

    fold_rows = [
        (int(r["fold"]), _short(r["first_forecast"]),
         took_over(int(r["fold"]), r["first_forecast"]),
         f"{pd.Timestamp(r['train_start']).date()}..{pd.Timestamp(r['train_end']).date()}",
         "worker" if switched.get(int(r["fold"]), {}).get("how") == "async"
         else "cache" if r.get("cached") else "trained")
        for _, r in folds.iterrows()
    ]  # fmt: skip
    recent = [o for o in orders][-RECENT_ORDERS:][::-1]
    order_rows = [
        (_short(o["bar"]), o["kind"], o["side"], f"{o['size']:.6g}",
         "market" if o.get("price") is None else f"{o['price']:,.2f}", o["id"])
        for o in recent
    ]  # fmt: skip
    health_rows = [(h["bar"], h["kind"], h["detail"], h["seen"]) for h in health[::-1]]
    return {
        "title": title,
        "tearsheet": tearsheet,
        "subtitle": "Paper trading: nothing is sent to any exchange. Updated after bar "
        f"{_short(bar)} UTC.",
        "nav": [("account", "Account"), ("equity", "Equity"), ("forecast", "Forecast"),
                ("folds", "Retraining"), ("orders", "Orders"), ("health", "Data health")],
        "footer": ["State: journal.jsonl (every candle delivered), orders.jsonl, state.json, "
                   "equity.csv; resume by running the same command again."],
        "account": kv_pairs(account),
        "chart": equity_chart(equity, trade_from),
        "forecast": kv_pairs(forecast),
        "folds": make_table(
            ("Fold", "First bar", "Took over", "Trained on", "Model"), fold_rows
        ),
        "orders": make_table(("Bar", "Kind", "Side", "Size", "Price", "Id"), order_rows),
        "health": make_table(("Bar", "Event", "Detail", "Seen"), health_rows),
        "notes": [f"Last retrain: fold {fold_rows[-1][0]}, in use from {fold_rows[-1][2]} "
                  f"({fold_rows[-1][4]})." if fold_rows else "No model in use yet."]
                 + [f"Training fold {k} in a worker process; the model before goes on "
                    "forecasting until it is ready." for k in training or []],
    }  # fmt: skip


def write_status(session: Any, equity: pd.DataFrame, state: dict[str, Any], folds: Any) -> None:
    """Render and atomically replace ``index.html`` of a running session."""
    from lstm_backtrader.backtests.report.render import render_template

    src = session.session["source"]
    what = src.get("symbol") or src.get("file", "replay")
    context = status_context(
        f"Paper session {session.paper.name} — {what}",
        equity,
        state,
        folds if folds is not None else pd.DataFrame(),
        session.orders.records,
        state.get("health", []),
        pd.Timestamp(state["trade_from"]),
        session.cash,
        tearsheet=TEARSHEET if (session.folder / TEARSHEET).is_file() else None,
        switches=None if session.switches is None else session.switches.records,
        training=state.get("training"),
    )
    atomic_write_text(session.folder / "index.html", render_template("paper.html", **context))
