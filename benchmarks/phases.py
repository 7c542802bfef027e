"""Where a walk-forward's wall time goes: training versus everything a chain could overlap.

:func:`timed_phases` wraps (for the duration of a ``with`` block, in this process) the
functions one LSTM fold calls and adds up their *exclusive* wall time (a wrapped call inside
another is taken out of the outer one's):

* ``training``: :meth:`Trainer.fit` (the epochs and validation passes, the only part a
  warm-started chain must run in order; the first fit also traces the training step);
* ``data``: the rest of :meth:`LSTMForecaster.fit` (features, scaling, windows, warm-start
  weights lookup), which does not depend on the previous fold's model;
* ``tf_setup``: getting TensorFlow and the process's trainer / predictor (import, network
  build, once per process and architecture);
* ``save``: :meth:`LSTMForecaster.save` (``.keras`` file and sidecar);
* ``inference``: :meth:`LSTMForecaster.predict` (the fold's forecasts);
* ``cache``: weight and slice hashes, cache keys, the fold cache's work folder, commit, publish.

Nothing in ``models/`` is edited: the wrappers are set on the classes and modules and removed
at the end of the block. Calls from other threads are not counted (the walk-forward makes
these calls from the thread running it).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

PHASES = ("training", "data", "tf_setup", "save", "inference", "cache")


def _wrap(
    owner: Any, name: str, phase: str, totals: dict[str, float], stack: list[list[float]]
) -> tuple[bool, Any]:
    """Set a timing wrapper of ``owner.name``; ``(it was owner's own attribute, original)``."""
    own = name in vars(owner)
    original = getattr(owner, name)
    home = threading.get_ident()

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != home:
            return original(*args, **kwargs)
        frame = [time.perf_counter(), 0.0]  # start, time in nested wrapped calls
        stack.append(frame)
        try:
            return original(*args, **kwargs)
        finally:
            stack.pop()
            elapsed = time.perf_counter() - frame[0]
            totals[phase] += elapsed - frame[1]
            if stack:
                stack[-1][1] += elapsed

    setattr(owner, name, timed)
    return own, original


@contextlib.contextmanager
def timed_phases() -> Iterator[dict[str, float]]:
    """Exclusive seconds spent in each of :data:`PHASES` while the block runs."""
    from lstm_backtrader.models import lstm, trainer, walkforward
    from lstm_backtrader.models.foldstore import FoldStore

    totals = dict.fromkeys(PHASES, 0.0)
    stack: list[list[float]] = []
    targets = [
        (trainer.Trainer, "fit", "training"),
        (lstm.LSTMForecaster, "fit", "data"),
        (trainer, "trainer_for", "tf_setup"),
        (trainer, "predictor_for", "tf_setup"),
        (lstm, "ensure_tf_usable", "tf_setup"),
        (lstm.LSTMForecaster, "save", "save"),
        (lstm.LSTMForecaster, "predict", "inference"),
        (lstm.LSTMForecaster, "model_hash", "cache"),
        (walkforward, "hash_candles", "cache"),
        (walkforward, "fold_key", "cache"),
        (FoldStore, "workdir", "cache"),
        (FoldStore, "commit", "cache"),
        (FoldStore, "publish", "cache"),
    ]
    saved = [
        (owner, name, _wrap(owner, name, phase, totals, stack)) for owner, name, phase in targets
    ]
    try:
        yield totals
    finally:
        for owner, name, (own, original) in reversed(saved):
            if own:
                setattr(owner, name, original)
            else:  # inherited: the base class's stays
                delattr(owner, name)
