"""
==================================================
ONNX export and inference with onnxruntime
==================================================

A fitted fastmlp model exports to ONNX through skl2onnx exactly as a
scikit-learn MLP does: ``skl2onnx.to_onnx`` uses scikit-learn's converter for
it (the same graph), also inside a :class:`~sklearn.pipeline.Pipeline`. The
ONNX model then runs anywhere onnxruntime does, without Python's scientific
stack. ONNX computes in float32, so probabilities agree to about 1e-5 and a
label can differ only where two classes are tied to that precision.

The extra activations (``gelu``, ``silu``, ...) have no scikit-learn converter
and raise a ``ValueError`` naming the activation.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import warnings

import numpy as np
import onnxruntime
from skl2onnx import to_onnx
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier, MLPRegressor

QUICK = os.environ.get("FASTMLP_EXAMPLE_QUICK") == "1"  # small sizes for the tests
warnings.filterwarnings("ignore", category=ConvergenceWarning)
max_iter = 10 if QUICK else 200


def run_onnx(model, X):
    """The ONNX graph's outputs for X, through onnxruntime."""
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


# %%
# A classifier in a Pipeline. ``zipmap=False`` returns the probabilities as
# one array rather than a dict per row.
X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)  # ONNX's inputs are float32; fastmlp trains in float32
mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=max_iter, random_state=0)
pipe = make_pipeline(StandardScaler(), mlp).fit(X, y)
onx = to_onnx(pipe, X[:1], options={"zipmap": False})
labels, proba = run_onnx(onx, X)
print(f"classifier: ONNX graph of {len(onx.graph.node)} nodes")
print(f"  max |P_onnx - P_fastmlp| = {np.abs(proba - pipe.predict_proba(X)).max():.1e}")
print(f"  labels agree on {np.mean(labels == pipe.predict(X)):.2%} of {len(X)} rows")

# %%
# A regressor.
X, y = load_diabetes(return_X_y=True)
X = X.astype(np.float32)
mlp = MLPRegressor(hidden_layer_sizes=(32,), max_iter=max_iter, random_state=0)
reg = make_pipeline(StandardScaler(), mlp).fit(X, y)
(pred,) = run_onnx(to_onnx(reg, X[:1]), X)
relative = np.abs(pred.ravel() - reg.predict(X)).max() / np.abs(reg.predict(X)).max()
print(f"regressor: max relative difference {relative:.1e}")

# %%
# An activation scikit-learn lacks cannot be exported.
gelu = MLPClassifier(hidden_layer_sizes=(8,), activation="gelu", max_iter=2)
gelu.fit(X[:50], (y[:50] > 100).astype(int))
try:
    to_onnx(gelu, X[:1])
except ValueError as exc:
    print(f"gelu: ValueError: {exc}")
