"""fastmlp: scikit-learn's multi-layer perceptrons, trained by compiled kernels.

``fastmlp.MLPClassifier`` and ``fastmlp.MLPRegressor`` take the same parameters
as ``sklearn.neural_network``'s and, with the same ``random_state``, fit the
same model, many times faster.
"""

import sys as _sys

from ._classes import MLPClassifier, MLPRegressor
from ._engine import solvers as _engine_solvers
from ._first_use import compile_kernels
from ._first_use import install as _announce_first_compile
from ._interchange import from_sklearn
from ._onnx import install as _install_onnx_export
from ._patching import (
    patch_sklearn,
    sklearn_is_patched,
    sklearn_patched,
    unpatch_sklearn,
)

_announce_first_compile()
_install_onnx_export()

# Estimators fitted with "sgd" or "adam" and pickled by fastmlp as of commit
# 0016d64, before the package was grouped by layer, name their optimizer
# fastmlp._solvers.SGDOptimizer or AdamOptimizer: the same classes, now here.
_sys.modules.setdefault("fastmlp._solvers", _engine_solvers)

__version__ = "0.1.0"

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "compile_kernels",
    "from_sklearn",
    "patch_sklearn",
    "unpatch_sklearn",
    "sklearn_is_patched",
    "sklearn_patched",
    "__version__",
]
