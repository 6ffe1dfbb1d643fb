# Two commands do all the set-up on a fresh machine: `make bench` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Benchmarks only: a current numpy is slowed by these; tests and CI keep them.
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

.PHONY: setup test test-main test-kernels bench bench-quick lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench,torch]"
	touch $(STAMP)

# The main suite and the kernels' second checks run side by side: they share
# no cache, and most of their time is numba compiling on one core each (on the
# 2-core CI machine, 12.0 min one after the other). Each one's output is
# printed whole when it ends.
test: setup
	$(MAKE) --no-print-directory -j2 --output-sync=target test-main test-kernels

test-main: setup
	$(PY) -m pytest -q

# Compiled code is checked again: once interpreted (out-of-bounds and coverage),
# once compiled with bounds checks.
test-kernels: setup
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q -m kernel -p no:cacheprovider
	NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(CURDIR)/.numba-boundscheck-cache $(PY) -m pytest -q -m kernel -p no:cacheprovider

bench: setup
	$(BENCH_ENV) $(PY) -m bench

bench-quick: setup
	$(BENCH_ENV) $(PY) -m bench --quick

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .numba-boundscheck-cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
