"""TensorFlow and Keras, imported once and — when asked — quietly.

Importing TensorFlow on a CPU machine prints native start-up lines (absl's "All log messages
before absl::InitializeLog()", oneDNN and CUDA-driver notices, ``failed call to cuInit``) on
the process's stderr file descriptor, past Python's ``sys.stderr`` and past every environment
variable TensorFlow documents. With ``LSTM_BT_QUIET_TF=1`` (the ``lstm-bt`` command sets it
unless ``-v`` is given; worker processes inherit it) the first import runs with file
descriptor 2 pointed at ``/dev/null`` and TensorFlow's C++ log level at 3, so the user sees only
the tool's own lines. Every TensorFlow/Keras import of the package goes through :func:`load_tf`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

#: Environment variable: ``1`` silences TensorFlow's native start-up output.
QUIET_ENV = "LSTM_BT_QUIET_TF"

_LOCK = threading.Lock()

#: Set in a child process forked after TensorFlow was imported: TensorFlow's threads and locks
#: do not survive ``fork`` (Backtrader's ``optstrategy`` forks its workers), so any use there
#: can hang forever; :func:`ensure_tf_usable` refuses it with the fix instead.
_FORKED_AFTER_TF = False

FORK_MESSAGE = (
    "TensorFlow was already used in the parent process when this worker was forked (e.g. by "
    "cerebro.optstrategy with maxcpus > 1); it cannot run here and would hang. Fix: call "
    "multiprocessing.set_start_method('spawn') at the start of your script (under "
    "if __name__ == '__main__':), or run the optimisation with maxcpus=1"
)


def _after_fork_in_child() -> None:
    global _FORKED_AFTER_TF
    if "tensorflow" in sys.modules:
        _FORKED_AFTER_TF = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def ensure_tf_usable() -> None:
    """Raise a one-line error, naming the fix, in a process forked after TensorFlow loaded.

    Raises
    ------
    InputError
        In such a forked child (TensorFlow would hang there).
    """
    if _FORKED_AFTER_TF:
        from lstm_backtrader.models.infra.errors import InputError

        raise InputError(FORK_MESSAGE)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (restored afterwards)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tf() -> tuple[Any, Any]:
    """``(tensorflow, keras)``, imported on first use (quietly under ``LSTM_BT_QUIET_TF=1``).

    Raises
    ------
    InputError
        In a process forked after TensorFlow was loaded (see :func:`ensure_tf_usable`).
    """
    ensure_tf_usable()
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return sys.modules["tensorflow"], sys.modules["keras"]
    with _LOCK:
        quiet = os.environ.get(QUIET_ENV) == "1"
        if quiet:  # also hides "failed call to cuInit" at the first operation
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        else:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with _native_stderr_silenced() if quiet else contextlib.nullcontext():
            import keras
            import tensorflow
        if quiet:
            logging.getLogger("absl").setLevel(logging.ERROR)
            tensorflow.get_logger().setLevel(logging.ERROR)
    return tensorflow, keras


class _RetracingFilter(logging.Filter):
    """Drops TF's "triggered tf.function retracing" warning: the shared inference function
    of a user's network (``[model] builder``) is traced once per input shape it meets, which
    TF may report as retracing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing_warning() -> None:
    """Install :class:`_RetracingFilter` on TensorFlow's logger (once)."""
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _RetracingFilter) for f in tf_logger.filters):
        tf_logger.addFilter(_RetracingFilter())
