# Two targets do all the set-up on a fresh machine with Python 3.11+:
#   make run   - create .venv if missing, install, run the main job (lstm-bt backtest)
#   make test  - create .venv if missing, install with the dev extra, run the test suite
# Both install through constraints.txt: the exact versions the suite passed on (the ranges in
# pyproject.toml stay open for library users). `make constraints` regenerates it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2
export MPLBACKEND ?= Agg

CONSTRAINTS := constraints.txt

.PHONY: run test lint bench bench-2h clean constraints

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -c $(CONSTRAINTS) -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -c $(CONSTRAINTS) -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/lstm-bt backtest

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_backtrader.py
	$(BIN)/python benchmarks/bench_walkforward.py --scratch --workers 2
	$(BIN)/python benchmarks/bench_report.py

bench-2h: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_walkforward.py --repeats 1 --retrain-every 84 \
		--csv ../shared/data/btc_usdt_2h_binance.csv

# a fresh environment, unconstrained: the newest versions the ranges in pyproject.toml allow;
# run `make test` afterwards and commit constraints.txt only when it passes
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q '.[dev,cluster]'
	@( echo "# Versions the test suite passed with (make run / make test install through this file)."; \
	   echo "# Regenerate with 'make constraints' (a fresh venv, unconstrained install of .[dev,cluster])."; \
	   .venv-constraints/bin/python -m pip freeze | grep -v '^lstm-backtrader' ) > $(CONSTRAINTS)
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
