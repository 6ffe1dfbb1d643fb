"""ONNX export of fastmlp's estimators through skl2onnx, as scikit-learn's convert."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from tests._reliability_helpers import run_python

skl2onnx = pytest.importorskip("skl2onnx")
onnxruntime = pytest.importorskip("onnxruntime")


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    return X, rng.randint(0, 3, 60), X[:, 0] - 2 * X[:, 1]


def _fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _run(onx, X):
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def _same_graph(onx, reference):
    nodes = [(n.op_type, list(n.input), list(n.output)) for n in onx.graph.node]
    want = [(n.op_type, list(n.input), list(n.output)) for n in reference.graph.node]
    assert nodes == want
    assert [o.name for o in onx.graph.output] == [
        o.name for o in reference.graph.output
    ]


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_to_onnx_converts_as_scikit_learns(kind, activation):
    X, y, yr = _data()
    if kind == "regression":
        est, target = (
            fastmlp.MLPRegressor(hidden_layer_sizes=(7,), activation=activation),
            yr,
        )
    else:
        est = fastmlp.MLPClassifier((7,), activation=activation)
        target = y if kind == "multiclass" else y % 2
    est = _fitted(est.set_params(max_iter=30, random_state=0), X, target)
    options = None if kind == "regression" else {"zipmap": False}
    onx = skl2onnx.to_onnx(est, X[:1], options=options)
    reference = skl2onnx.to_onnx(est.to_sklearn(), X[:1], options=options)
    _same_graph(onx, reference)
    got, want = _run(onx, X), _run(reference, X)
    for a, b in zip(got, want, strict=True):
        assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    if kind == "regression":
        assert_allclose(got[0].ravel(), est.predict(X), rtol=1e-4, atol=1e-5)
    else:
        assert_array_equal(got[0], est.predict(X))
        assert_allclose(got[1], est.predict_proba(X), atol=1e-5)


def test_pipelines_and_convert_sklearn():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    X, y, yr = _data()
    classifier = _fitted(
        make_pipeline(StandardScaler(), fastmlp.MLPClassifier((6,), random_state=0)),
        X,
        y,
    )
    onx = convert_sklearn(
        classifier, initial_types=[("X", FloatTensorType([None, X.shape[1]]))]
    )
    labels, probabilities = _run(onx, X)[:2]
    assert_array_equal(labels, classifier.predict(X))
    got = np.array([[row[k] for k in sorted(row)] for row in probabilities])
    assert_allclose(got, classifier.predict_proba(X), atol=1e-5)  # ZipMap's dicts
    regressor = _fitted(
        make_pipeline(
            StandardScaler(),
            fastmlp.MLPRegressor(hidden_layer_sizes=(6,), random_state=0),
        ),
        X,
        yr,
    )
    out = _run(skl2onnx.to_onnx(regressor, X[:1]), X)[0]
    assert_allclose(out.ravel(), regressor.predict(X), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ["gelu", "leaky_relu"])
def test_activations_scikit_learn_lacks_give_a_clear_error(activation):
    X, y, _ = _data()
    est = _fitted(fastmlp.MLPClassifier((4,), activation=activation, max_iter=3), X, y)
    with pytest.raises(ValueError, match=f"activation='{activation}'"):
        skl2onnx.to_onnx(est, X[:1])


IMPORT_ORDER_SCRIPT = """
import sys, warnings
import numpy as np
warnings.filterwarnings("ignore")
if {skl2onnx_first}:
    import skl2onnx
import fastmlp
assert "skl2onnx" in sys.modules or ("onnx" not in sys.modules), "fastmlp imported onnx"
imported_by_fastmlp = not {skl2onnx_first} and "skl2onnx" in sys.modules
from skl2onnx import to_onnx
X = np.random.RandomState(0).normal(size=(30, 3)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
m = fastmlp.MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y)
onx = to_onnx(m, X[:1], options={{"zipmap": False}})
print(imported_by_fastmlp, len(onx.graph.node) > 0)
"""


@pytest.mark.parametrize("skl2onnx_first", [False, True])
def test_either_import_order_and_no_onnx_at_import(skl2onnx_first):
    script = IMPORT_ORDER_SCRIPT.format(skl2onnx_first=skl2onnx_first)
    assert run_python(script).stdout.split() == ["False", "True"]
