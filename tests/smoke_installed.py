"""The installed wheel is what the smoke suites test (``make test-newest``).

Not collected by a plain ``pytest`` run (the name does not start with
``test_``): ``make test-newest`` and ``make test-oldest`` name this file, with
a parity subset and scikit-learn's estimator checks, and run them on the
newest and the oldest CPython supported, with fastmlp installed from the
wheel into ``.venv-pyXY``. These tests make sure that is the fastmlp they
test, not the checkout's.
"""

import importlib.metadata
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

import fastmlp

CHECKOUT = Path(__file__).resolve().parents[1]


def test_installed_fastmlp_is_the_one_imported():
    where = Path(fastmlp.__file__).resolve()
    assert where.is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())
    assert not where.is_relative_to(CHECKOUT / "fastmlp")


def test_installed_version_is_the_metadata_version():
    assert fastmlp.__version__ == importlib.metadata.version("fastmlp")


def test_installed_files_are_fastmlp_only():
    files = importlib.metadata.files("fastmlp")
    tops = {f.parts[0] for f in files}
    assert tops == {"fastmlp", f"fastmlp-{fastmlp.__version__}.dist-info"}


def test_installed_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "fastmlp", "compile", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--dtypes" in result.stdout


def test_installed_fit_predict_compiled():
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16, y[:400]
    params = dict(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    fast = fastmlp.MLPClassifier(**params).fit(X, y)
    skl = MLPClassifier(**params).fit(X, y)
    for a, b in zip(fast.coefs_ + fast.intercepts_, skl.coefs_ + skl.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fast.predict_proba(X), skl.predict_proba(X), rtol=1e-6)
