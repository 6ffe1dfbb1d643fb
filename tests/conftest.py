import warnings

import numpy as np
import pytest

from fastmlp._kernels import extra_callbacks
from fastmlp._kernels.activations import ACTIVATION_CODES
from fastmlp._runtime import split_chooser


def pytest_configure(config):
    # Most tests stop after a few epochs on purpose; tests about the warning
    # itself record warnings with simplefilter("always").
    warnings.filterwarnings("ignore", message=".*Maximum iterations.*")


@pytest.fixture(autouse=True)
def _extra_activations_as_in_a_new_process():
    """Each test starts with the table of extra activations empty.

    Estimators fill it (``make_net``); a path that forgot to would give NaN
    here instead of passing on what an earlier test left.
    """
    yield
    extra_callbacks.clear_table()


def _forget_split_choices():
    for table in (split_chooser._decisions, split_chooser._unfinished,
                  split_chooser._postponed, split_chooser._left_out):  # fmt: skip
        table.clear()


@pytest.fixture(autouse=True)
def _no_split_decisions_remembered():
    """Each test's fits time their split and whole calls, as in a new process.

    Decisions, unfinished trials and the waits of split trials are kept for
    the next fits of the same shape (``fastmlp._runtime.split_chooser``);
    tests that count trial calls or slow one way down must not start from
    another test's.
    """
    _forget_split_choices()
    yield
    _forget_split_choices()


@pytest.fixture
def extra_activations_ready():
    """For tests that call activation kernels directly, not through a net.

    Every kernel compiled apart, in both dtypes: the extra activations and
    the element maps (exp, logistic, tanh).
    """
    extra_callbacks.prepare()
    for dtype in (np.float32, np.float64):
        extra_callbacks.prepare_element_maps(ACTIVATION_CODES.values(), dtype)


@pytest.fixture
def tile_table():
    """The kernels' tile limit table, restored after the test (which may
    write it: compiled kernels read it at run time)."""
    from fastmlp._runtime.tile_calibration import apply_limits, limits_in_force

    saved = limits_in_force()
    yield
    apply_limits(saved)


def pytest_sessionstart(session):
    """Tests run with the built-in tile limits unless ``FASTMLP_TILES`` is set.

    Limits measured on the machine (``fastmlp._runtime.tile_calibration``)
    would make which
    products go to tiles depend on the machine and on its load when measured:
    pinned, every run chooses alike and nothing is measured. Settled here,
    before any test, for both dtypes. The kernels read the limits at run time
    (``fastmlp._kernels.limit_table``): running tests after a benchmark
    (measured limits) recompiles nothing.
    """
    import os

    from fastmlp._runtime.tile_calibration import tile_choice

    os.environ.setdefault("FASTMLP_TILES", "builtin")
    tile_choice()
