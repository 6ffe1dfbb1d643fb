"""fastmlp: scikit-learn's multi-layer perceptrons, trained by compiled kernels.

``fastmlp.MLPClassifier`` and ``fastmlp.MLPRegressor`` take the same parameters
as ``sklearn.neural_network``'s and, with the same ``random_state``, fit the
same model, many times faster.
"""

from ._classes import MLPClassifier, MLPRegressor
from ._interchange import from_sklearn
from ._onnx import install as _install_onnx_export

_install_onnx_export()

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "from_sklearn", "__version__"]
