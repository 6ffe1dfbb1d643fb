"""ONNX export through skl2onnx, for fastmlp's estimators as for scikit-learn's.

skl2onnx finds a model's converter by its exact class, so it knows
``sklearn.neural_network.MLPClassifier`` but not fastmlp's. This module
tells it that fastmlp's estimators convert as scikit-learn's do (the same
converter alias, so the same graph; the classifier's parser, so the same
outputs and options such as ``zipmap``), and that an activation scikit-learn
does not have cannot be exported (a ``ValueError`` naming it).

``import fastmlp`` must not import skl2onnx (it pulls in onnx: ~0.3 s and
much memory). :func:`install` registers at once if skl2onnx is already
imported, and otherwise leaves a finder on ``sys.meta_path`` that registers
right after skl2onnx's own import runs, whichever is imported first.
"""

import importlib.abc
import importlib.machinery
import sys

from ._sklearn import originals
from ._sklearn.interchange import SKLEARN_ACTIVATIONS

_ALIASES = {
    "MLPClassifier": "SklearnMLPClassifier",
    "MLPRegressor": "SklearnMLPRegressor",
}


def _exportable(model):
    if model.activation not in SKLEARN_ACTIVATIONS:
        raise ValueError(
            f"This model uses activation={model.activation!r}, which ONNX export "
            "supports only as scikit-learn's MLPs compute it "
            f"({', '.join(map(repr, SKLEARN_ACTIVATIONS))}); it cannot be exported."
        )


def register():
    """Register fastmlp's estimators with skl2onnx (imports it)."""
    from skl2onnx import _parse
    from skl2onnx._supported_operators import sklearn_operator_name_map

    from ._classes import MLPClassifier, MLPRegressor

    def parse_classifier(scope, model, inputs, custom_parsers=None):
        _exportable(model)
        return _parse._parse_sklearn_classifier(scope, model, inputs, custom_parsers)

    def parse_regressor(scope, model, inputs, custom_parsers=None):
        _exportable(model)
        return _parse._parse_sklearn_simple_model(scope, model, inputs, custom_parsers)

    for cls, parser in (
        (MLPClassifier, parse_classifier),
        (MLPRegressor, parse_regressor),
    ):
        sklearn_operator_name_map[cls] = _ALIASES[cls.__name__]
        _parse.update_registered_parser(cls, parser)
    # skl2onnx imported while scikit-learn is patched saw fastmlp's classes
    for cls in (originals.MLPClassifier, originals.MLPRegressor):
        sklearn_operator_name_map.setdefault(cls, _ALIASES[cls.__name__])
    if originals.MLPClassifier not in _parse.sklearn_classifier_list:
        _parse.sklearn_classifier_list.append(originals.MLPClassifier)


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Runs :func:`register` once skl2onnx has been imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "skl2onnx":
            return None
        sys.meta_path.remove(self)  # once; and so the search below skips it
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        register()


def install():
    """Make skl2onnx know fastmlp's estimators, now or when it is imported."""
    if "skl2onnx" in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
