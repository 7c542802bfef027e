"""Exception types shared by the whole project.

Every error caused by the user's input (a file, a config, a saved model) derives from
:class:`InputError`. Its message is one line that names the file, row or field at fault and
says what to do; the CLI prints it without a traceback and exits non-zero.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: the message is a complete, one-line explanation."""


class DataError(InputError):
    """A candle file, download or cache entry that cannot be used as it is."""


class ModelFileError(InputError):
    """A saved model that is missing, truncated or from an incompatible version."""
