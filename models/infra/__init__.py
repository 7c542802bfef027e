"""Infrastructure every package of lstm-backtrader uses (no TensorFlow, no Backtrader):

* :mod:`~lstm_backtrader.models.infra.errors` — :class:`InputError` and its kinds: the one-line
  errors the CLI prints with exit code 2;
* :mod:`~lstm_backtrader.models.infra.fileio` — atomic writes and SHA-256 hashing for every cache;
* :mod:`~lstm_backtrader.models.infra.executor` — serial, local-process and Dask executors for
  independent work (folds, sweep trials);
* :mod:`~lstm_backtrader.models.infra.versions` — installed package versions for manifests and
  cache keys.
"""
