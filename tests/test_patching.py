"""fastmlp.patch_sklearn and ``python -m fastmlp run``, each in a process of its own.

Patching is process-wide, so every test runs its code in a fresh interpreter:
nothing patched leaks into the other tests.
"""

import os
import pickle
import subprocess
import sys

import pytest

from tests._reliability_helpers import REPO_ROOT, run_python

PRELUDE = """
import copy, copyreg, pickle, subprocess, sys, threading, warnings
from abc import ABCMeta
import numpy as np
from sklearn.exceptions import ConvergenceWarning
warnings.simplefilter("ignore", ConvergenceWarning)
X = np.random.RandomState(0).normal(size=(60, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
"""


def test_patch_unpatch_names_idempotent_context_and_threads():
    run_python(
        PRELUDE
        + """
import sklearn.neural_network as nn
from sklearn.neural_network import _multilayer_perceptron as mlp
from sklearn.neural_network import MLPClassifier as Before
import fastmlp

originals = (nn.MLPClassifier, nn.MLPRegressor)
assert not fastmlp.sklearn_is_patched()
fastmlp.unpatch_sklearn()  # not patched: nothing
assert (nn.MLPClassifier, nn.MLPRegressor) == originals
fastmlp.patch_sklearn()
fastmlp.patch_sklearn()
assert fastmlp.sklearn_is_patched()
for module in (nn, mlp):
    assert module.MLPClassifier is fastmlp.MLPClassifier
    assert module.MLPRegressor is fastmlp.MLPRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.neural_network._multilayer_perceptron import MLPClassifier as Private
assert MLPClassifier is Private is fastmlp.MLPClassifier
assert MLPRegressor is fastmlp.MLPRegressor
assert Before is originals[0]  # imported before patching: scikit-learn's
assert copyreg.dispatch_table.get(ABCMeta) is not None
fastmlp.unpatch_sklearn()
fastmlp.unpatch_sklearn()
assert not fastmlp.sklearn_is_patched()
assert (mlp.MLPClassifier, mlp.MLPRegressor) == originals
assert (nn.MLPClassifier, nn.MLPRegressor) == originals
assert ABCMeta not in copyreg.dispatch_table

with fastmlp.sklearn_patched():
    assert nn.MLPRegressor is fastmlp.MLPRegressor
assert nn.MLPRegressor is originals[1]
fastmlp.patch_sklearn()
with fastmlp.sklearn_patched():
    pass
assert fastmlp.sklearn_is_patched()  # patched before the block: still patched
fastmlp.unpatch_sklearn()

# concurrent switches: each call is whole, the last one decides
def flip(n):
    for i in range(200):
        (fastmlp.patch_sklearn if (i + n) % 2 else fastmlp.unpatch_sklearn)()
threads = [threading.Thread(target=flip, args=(n,)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
fastmlp.patch_sklearn()
assert fastmlp.sklearn_is_patched()
fastmlp.unpatch_sklearn()
assert (nn.MLPClassifier, nn.MLPRegressor) == originals
assert ABCMeta not in copyreg.dispatch_table
"""
    )


def test_scikit_learn_tools_patched_same_results():
    """clone, get_params, repr, Pipeline, GridSearchCV, cross_val_score patched."""
    run_python(
        PRELUDE
        + """
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import sklearn.neural_network as nn
import fastmlp

def workflow():
    clf = nn.MLPClassifier((6,), max_iter=40, random_state=0)
    pipe = make_pipeline(StandardScaler(), clf)
    scores = cross_val_score(pipe, X, y, cv=3)
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1]}, cv=2)
    grid.fit(X, y)
    reg = nn.MLPRegressor(
        hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0
    )
    reg = clone(reg).fit(X, X[:, 0])
    return clf, scores, grid, reg

skl = workflow()
with fastmlp.sklearn_patched():
    fast = workflow()
assert type(fast[0]) is fastmlp.MLPClassifier
assert type(fast[2].best_estimator_[-1]) is fastmlp.MLPClassifier
assert type(fast[3]) is fastmlp.MLPRegressor
assert repr(fast[0]) == repr(skl[0]) == (
    "MLPClassifier(hidden_layer_sizes=(6,), max_iter=40, random_state=0)")
params = fast[0].get_params()
assert {k: v for k, v in params.items() if k in skl[0].get_params()} == (
    skl[0].get_params())
assert type(clone(fast[0])) is fastmlp.MLPClassifier
np.testing.assert_allclose(fast[1], skl[1], rtol=1e-6)
assert fast[2].best_params_ == skl[2].best_params_
np.testing.assert_allclose(
    fast[2].predict_proba(X), skl[2].predict_proba(X), rtol=1e-6, atol=1e-9)
np.testing.assert_allclose(fast[3].predict(X), skl[3].predict(X), rtol=1e-6)
"""
    )


def test_pickles_patched_and_unpatched_across_processes():
    run_python(
        PRELUDE
        + """
import sklearn.neural_network as nn
import fastmlp

LOAD = '''
import pickle, sys
model = pickle.loads(sys.stdin.buffer.read())
import sklearn.neural_network as nn
print(type(model).__module__, "fastmlp" in sys.modules,
      nn.MLPClassifier.__module__)
'''
def load_elsewhere(blob):
    out = subprocess.run([sys.executable, "-c", LOAD], input=blob,
                         capture_output=True, check=True)
    return out.stdout.decode().split()

sk = nn.MLPClassifier((5,), solver="sgd", max_iter=5, random_state=0).fit(X, y)
sk_blob = pickle.dumps(sk)
sk_unfitted_blob = pickle.dumps(nn.MLPRegressor(alpha=0.5))
fastmlp.patch_sklearn()
fast = nn.MLPClassifier((5,), max_iter=5, random_state=0).fit(X, y)
fast_blob = pickle.dumps(fast)
sk_blob_patched = pickle.dumps(sk)  # scikit-learn's own class, while patched
back = fastmlp.MLPClassifier((5,), max_iter=5).fit(X, y).to_sklearn()
assert type(back) is fastmlp._sklearn.originals.MLPClassifier
assert type(pickle.loads(pickle.dumps(back))) is fastmlp.MLPClassifier
assert type(copy.deepcopy(sk)) is type(copy.copy(sk)) is type(sk)
# a model pickled by scikit-learn loads patched as fastmlp's, same predictions
loaded = pickle.loads(sk_blob)
assert type(loaded) is fastmlp.MLPClassifier
assert loaded.n_jobs is None and loaded.dropout == 0.0
np.testing.assert_allclose(loaded.predict_proba(X), sk.predict_proba(X), rtol=1e-12)
expected = copy.deepcopy(sk).partial_fit(X, y)
np.testing.assert_allclose(
    loaded.partial_fit(X, y).predict_proba(X), expected.predict_proba(X), rtol=1e-6)
unfitted = pickle.loads(sk_unfitted_blob)
assert type(unfitted) is fastmlp.MLPRegressor and unfitted.alpha == 0.5
assert unfitted.get_params()["n_jobs"] is None
fastmlp.unpatch_sklearn()
np.testing.assert_array_equal(pickle.loads(fast_blob).predict(X), fast.predict(X))
# a new process, nothing patched: fastmlp's model by fastmlp's class path;
# scikit-learn's (pickled patched) as scikit-learn's, fastmlp not even imported
sk_path = "sklearn.neural_network._multilayer_perceptron"
assert load_elsewhere(fast_blob) == ["fastmlp._classes", "True", sk_path]
assert load_elsewhere(sk_blob_patched) == [sk_path, "False", sk_path]
assert b"fastmlp" not in sk_blob_patched
"""
    )


def test_skl2onnx_imported_while_patched_converts_both():
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    run_python(
        PRELUDE
        + """
import fastmlp
fastmlp.patch_sklearn()
from sklearn.neural_network import MLPClassifier
from skl2onnx import to_onnx
import onnxruntime as rt
fast = MLPClassifier((5,), max_iter=20, random_state=0).fit(X, y)
Xf = X.astype(np.float32)
for model in (fast, fast.to_sklearn()):
    onx = to_onnx(model, Xf[:1], options={"zipmap": False})
    sess = rt.InferenceSession(onx.SerializeToString(),
                               providers=["CPUExecutionProvider"])
    proba = sess.run(None, {sess.get_inputs()[0].name: Xf})[1]
    np.testing.assert_allclose(proba, model.predict_proba(Xf), rtol=1e-4, atol=1e-5)
"""
    )


def _run_command(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "fastmlp", "run", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )


PROGRAM = """
import sys
import numpy as np
from sklearn.neural_network import MLPRegressor
import helper  # from the program's folder, as with `python program.py`
X = np.random.RandomState(0).normal(size=(50, 3))
model = MLPRegressor(
    hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20, random_state=0
)
model.fit(X, X[:, 0])
print(__name__, sys.argv, type(model).__module__, helper.VALUE)
print(repr(model.predict(X[:3]).tolist()))
sys.exit(int(sys.argv[-1]))
"""


def test_run_command_script_and_module(tmp_path):
    (tmp_path / "program.py").write_text(PROGRAM)
    (tmp_path / "helper.py").write_text("VALUE = 'helper'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = _run_command(["../program.py", "--flag", "0"], cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    head, predictions = done.stdout.splitlines()
    assert head == ("__main__ ['../program.py', '--flag', '0'] fastmlp._classes helper")
    plain = subprocess.run(
        [sys.executable, "program.py", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "sklearn.neural_network._multilayer_perceptron" in plain.stdout
    expected = eval(plain.stdout.splitlines()[1])
    assert eval(predictions) == pytest.approx(expected, rel=1e-6)

    done = _run_command(["-m", "program", "3"], cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("__main__ [")
    assert "fastmlp._classes" in done.stdout

    assert _run_command([], cwd=tmp_path).returncode == 2
    assert "usage" in _run_command(["--help"], cwd=tmp_path).stdout


@pytest.mark.slow
def test_sklearn_estimator_checks_patched():
    """scikit-learn's own checks on the classes that patching puts in its module."""
    run_python(
        """
import fastmlp
fastmlp.patch_sklearn()
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.estimator_checks import check_estimator
for estimator in (MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)):
    assert type(estimator).__module__ == "fastmlp._classes"
    check_estimator(estimator)
""",
        timeout=1200,
    )


def test_pickle_of_unpatched_process_unaffected():
    """Without patching, pickle refers to classes as always (nothing registered)."""
    import copyreg
    from abc import ABCMeta

    from sklearn.neural_network import MLPClassifier

    assert ABCMeta not in copyreg.dispatch_table
    assert b"_multilayer_perceptron" in pickle.dumps(MLPClassifier())
