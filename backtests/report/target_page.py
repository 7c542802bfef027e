"""The run page's diagnostics of a direction or volatility forecast, from ``summary.json``.

The summary's ``target`` block (:func:`lstm_backtrader.backtests.targets.target_diagnostics`)
holds the model's scores against each of the target's baselines; :func:`target_section`
turns it into one table (a row per baseline: each loss of the model and of the baseline,
their ratio and the Diebold–Mariano p-value of the per-bar loss differential) and a verdict
in words, for the ``run.html`` template.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lstm_backtrader.backtests.report import render
from lstm_backtrader.backtests.report.render import format_value, make_table

logger = logging.getLogger(__name__)

#: target -> (loss key, label) pairs shown, the first one the verdict's.
LOSSES: dict[str, tuple[tuple[str, str], ...]] = {
    "direction": (("log_loss", "Log loss"), ("brier", "Brier")),
    "volatility": (("qlike", "QLIKE"), ("mse_log_var", "MSE log var")),
}

_DM_KEYS = {"log_loss": "dm_log_loss", "brier": "dm_brier", "qlike": "dm_qlike",
            "mse_log_var": "dm_mse_log_var"}  # fmt: skip


def _verdict(target: str, comparisons: Mapping[str, Any], model: str) -> str:
    """The first baseline's comparison on the first loss, in words."""
    if not comparisons:
        return ""
    base, m = next(iter(comparisons.items()))
    key, label = LOSSES[target][0]
    ratio = render.as_number(m.get(f"{key}_ratio"))
    if ratio is None:
        return ""
    p = render.as_number((m.get(_DM_KEYS[key]) or {}).get("p_value"))
    sig = "significant" if p is not None and p < 0.05 else "not significant"
    better = "lower (better)" if ratio < 1 else "higher (worse)"
    text = (
        f"{model}'s {label} is {ratio:.3f}× {base}'s: {better}; Diebold–Mariano p = "
        f"{format_value(p, 'p')}, {sig} at the 5% level."
    )
    if target == "direction":
        rate = render.as_number(m.get("base_rate"))
        if rate is not None:
            text += f" “Up” (after costs) happened on {rate * 100:.1f}% of the scored bars."
    return text


def target_section(summary: Mapping[str, Any], model: str) -> dict[str, Any] | None:
    """The target block of the summary as a table and a verdict (``None``: no such block).

    Parameters
    ----------
    summary
        A run summary (:func:`~lstm_backtrader.backtests.report.summary.summary_dict`).
    model
        The model's display name.

    Returns
    -------
    dict or None
        ``target``, ``n`` (bars scored), ``table``
        (:class:`~lstm_backtrader.backtests.report.render.Table`) and ``verdict``.
    """
    block = summary.get("target")
    if not block or block.get("target") not in LOSSES:
        return None
    target = str(block["target"])
    comparisons = block.get("comparisons") or {}
    header = ["Compared with"]
    for _, label in LOSSES[target]:
        header += [
            f"{label} {model}", f"{label} baseline", f"Ratio (< 1: {model} better)", "DM p-value",
        ]  # fmt: skip
    rows = []
    for base, m in comparisons.items():
        row = [str(base)]
        for key, _ in LOSSES[target]:
            dm = m.get(_DM_KEYS[key]) or {}
            row += [
                format_value(m.get(key), "ratio3"),
                format_value(m.get(f"baseline_{key}"), "ratio3"),
                format_value(m.get(f"{key}_ratio"), "ratio3"),
                format_value(dm.get("p_value"), "p"),
            ]
        rows.append(row)
    return {
        "target": target,
        "n": block.get("n"),
        "table": make_table(header, rows),
        "verdict": _verdict(target, comparisons, model),
    }


__all__ = ["LOSSES", "target_section"]
