# Two commands do all the set-up on a fresh machine: `make bench` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Benchmarks only: a current numpy is slowed by these; tests and CI keep them.
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

.PHONY: setup test test-all-sklearn test-main test-kernels test-side test-newest test-oldest \
	smoke-on smoke-installed test-versions bench bench-quick lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench,torch]"
	touch $(STAMP)

# Two tracks, one per core. On one, the main suite on the default scikit-learn,
# then the parity grid and scikit-learn's estimator checks against each other
# supported release (test-versions, which finds the kernels test-main compiled
# in the checkout's numba cache). On the other, the kernels' second checks and
# then the smoke suite on the newest Python (caches of their own). Most of the
# time is numba compiling, on one core each. Each track's output is printed
# whole when it ends.
test: setup
	$(MAKE) --no-print-directory -j2 --output-sync=target test-all-sklearn test-side

test-all-sklearn: setup
	$(MAKE) --no-print-directory test-main
	$(MAKE) --no-print-directory test-versions

test-side: setup
	$(MAKE) --no-print-directory test-kernels
	$(MAKE) --no-print-directory test-newest
	$(MAKE) --no-print-directory test-oldest

test-main: setup
	$(PY) -m pytest -q

# Compiled code is checked again: once interpreted (out-of-bounds and coverage),
# once compiled with bounds checks.
test-kernels: setup
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q -m kernel -p no:cacheprovider
	NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(CURDIR)/.numba-boundscheck-cache $(PY) -m pytest -q -m kernel -p no:cacheprovider

# Smoke suites on the newest CPython besides the default (python3.14, 3.13 or
# 3.12) and on the oldest supported (python3.10), each found on PATH, else the
# newest patch release under pyenv's versions (each candidate is run once, as
# pyenv's shims fail for versions pyenv has not enabled). The wheel built from
# this tree is installed into .venv-pyXY with its dependencies from the
# package index (on 3.10 that resolves to scikit-learn 1.7 and numpy 2.2); a
# parity subset, scikit-learn's estimator checks and tests/smoke_installed.py
# run against it, from this tree's tests (appended to sys.path after
# site-packages, pyproject's pythonpath emptied, and run by the pytest script,
# which puts no working directory on sys.path: the installed fastmlp is the
# one imported). Pick others with
# `make test-newest NEWEST_PYTHON=/path/to/python3.X` (OLDEST_PYTHON likewise).
find_python = $(shell for v in $(1); do \
	for p in $$(command -v python$$v) \
	    $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python$$v 2>/dev/null | grep -v 't/bin/' | sort -rV); do \
	"$$p" -c 'import sys; sys.exit(sys.implementation.name != "cpython")' \
	    >/dev/null 2>&1 && echo "$$p" && exit 0; \
	done; done)
NEWEST_PYTHON ?= $(call find_python,3.14 3.13 3.12)
OLDEST_PYTHON ?= $(call find_python,3.10)
SMOKE_TESTS := tests/smoke_installed.py tests/test_estimator_checks.py tests/test_parity.py
SMOKE_SELECT := installed or estimator_checks or digits_default \
	or relu and (multiclass or regression)

test-newest: setup
	@$(MAKE) --no-print-directory smoke-on SMOKE_PYTHON="$(NEWEST_PYTHON)" \
	    SMOKE_NAME=test-newest SMOKE_WANTED="CPython 3.12+"

test-oldest: setup
	@$(MAKE) --no-print-directory smoke-on SMOKE_PYTHON="$(OLDEST_PYTHON)" \
	    SMOKE_NAME=test-oldest SMOKE_WANTED="CPython 3.10"

smoke-on:
	@py="$(SMOKE_PYTHON)"; \
	if [ -z "$$py" ]; then \
	    echo "$(SMOKE_NAME): SKIPPED: no $(SMOKE_WANTED) on PATH or in ~/.pyenv/versions" \
	        "(make $(SMOKE_NAME) with the interpreter's path, see the Makefile)"; \
	    exit 0; \
	fi; \
	tag=$$("$$py" -c 'import sys; print("py%d%d" % sys.version_info[:2])') && \
	$(MAKE) --no-print-directory smoke-installed SMOKE_PYTHON="$$py" SMOKE_VENV=.venv-$$tag

smoke-installed:
	@echo "$(SMOKE_NAME): $$($(SMOKE_PYTHON) -VV | head -1) ($(SMOKE_PYTHON)) in $(SMOKE_VENV)"
	@start=$$(date +%s); \
	{ test -x $(SMOKE_VENV)/bin/python || $(SMOKE_PYTHON) -m venv $(SMOKE_VENV); } && \
	rm -rf $(SMOKE_VENV)/dist && \
	$(PY) -m build --quiet --no-isolation --outdir $(SMOKE_VENV)/dist . && \
	$(SMOKE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	    $(SMOKE_VENV)/dist/*.whl "pytest>=8" "pandas>=2.0" && \
	$(SMOKE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	    --no-deps --force-reinstall $(SMOKE_VENV)/dist/*.whl && \
	echo "$(CURDIR)" > "$$($(SMOKE_VENV)/bin/python -c \
	    'import sysconfig; print(sysconfig.get_paths()["purelib"])')/fastmlp_checkout_tests.pth" && \
	echo "$(SMOKE_NAME): wheel built and installed in $$(( $$(date +%s) - start )) s;" \
	    "$$($(SMOKE_VENV)/bin/python -c 'import numpy, sklearn, numba; print("numpy", numpy.__version__, "scikit-learn", sklearn.__version__, "numba", numba.__version__)')"
	$(SMOKE_VENV)/bin/pytest -q -p no:cacheprovider -o pythonpath= \
	    $(SMOKE_TESTS) -k "$(SMOKE_SELECT)"

# ARGS passes options on, e.g. make bench ARGS="--custom --data my.csv --target y"
bench: setup
	$(BENCH_ENV) $(PY) -m bench $(ARGS)

bench-quick: setup
	$(BENCH_ENV) $(PY) -m bench --quick $(ARGS)

# The parity grid and scikit-learn's estimator checks against the other
# supported scikit-learn releases (the full suite runs on the default release,
# 1.9, in .venv). Each release is installed alone (--no-deps) into .sklearnX.Y
# and put before .venv's site-packages on PYTHONPATH: the same interpreter,
# numpy, scipy and numba as test-main, so the kernels it compiled into the
# checkout's numba cache are loaded, not compiled again. Measured per release
# on the 2-core Zen 4 (CPU time): ~3 s to install, ~30 s of tests after
# test-main, ~135 s with an empty kernel cache.
SKLEARN_OTHERS := 1.7 1.8
VERSION_TESTS := tests/test_parity.py tests/test_estimator_checks.py

test-versions: $(SKLEARN_OTHERS:%=test-sklearn-%)

.PRECIOUS: .sklearn%/.installed-stamp

.sklearn%/.installed-stamp: $(STAMP)
	rm -rf .sklearn$*
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
	    --target .sklearn$* "scikit-learn==$*.*"
	touch $@

test-sklearn-%: setup .sklearn%/.installed-stamp
	@PYTHONPATH=$(CURDIR)/.sklearn$* $(PY) -c 'import sklearn, sys; \
	    print("test-sklearn-$*: scikit-learn", sklearn.__version__, "from", sklearn.__file__); \
	    sys.exit(not sklearn.__version__.startswith("$*."))'
	PYTHONPATH=$(CURDIR)/.sklearn$*:$(CURDIR) $(PY) -m pytest -q -p no:cacheprovider \
	    $(VERSION_TESTS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-py3* .sklearn1.* .numba-boundscheck-cache .pytest_cache build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
