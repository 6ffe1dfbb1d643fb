import warnings

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _no_stray_seed():
    """Tests seed their own generators; none may rely on global state."""
    np.random.seed(12345)
    yield


def pytest_configure(config):
    warnings.filterwarnings("ignore", message=".*Maximum iterations.*")
