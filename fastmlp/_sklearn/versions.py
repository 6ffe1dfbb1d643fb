"""What differs between the scikit-learn releases fastmlp runs on (1.7, 1.8, 1.9).

Measured by running ``tests/test_parity.py`` and ``tests/test_estimator_checks.py``
against each release and by diffing ``sklearn/neural_network`` between them
(``docs/design/sklearn_versions.md``). ``_base.py`` and
``_stochastic_optimizers.py`` are the same in the three; ``_multilayer_perceptron.py``
differs in one behaviour (below) and in docstrings: the parameters, defaults,
validation messages, warnings and fitted attributes are the same, and so are
the fitted weights for the same ``random_state``.

Every difference is a constant here, named after the behaviour and dated by
the release that brought it, for code and tests to ask rather than compare
version numbers themselves.
"""

import sklearn
from sklearn.utils.fixes import parse_version

SKLEARN_VERSION = parse_version(parse_version(sklearn.__version__).base_version)

# 1.9: an MLPClassifier with early_stopping=True trained on labels that are not
# numbers (strings, objects) scores its validation set. Before (1.7, 1.8),
# BaseMultilayerPerceptron._score_with_function called np.isnan on the
# predicted labels and raised "TypeError: ufunc 'isnan' not supported for the
# input types" at the first epoch. fastmlp does as 1.9 does on every release:
# it does not reproduce the crash.
EARLY_STOPPING_SCORES_NON_NUMERIC_LABELS = SKLEARN_VERSION >= parse_version("1.9")


def sklearn_fails_early_stopping_on(estimator, y):
    """Whether the installed scikit-learn raises where fastmlp does not (above).

    ``estimator`` is a scikit-learn ``MLPClassifier`` or ``MLPRegressor``
    about to be fitted on targets ``y``.
    """
    import numpy as np
    from sklearn.base import is_classifier

    return (
        not EARLY_STOPPING_SCORES_NON_NUMERIC_LABELS
        and is_classifier(estimator)
        and estimator.early_stopping
        and np.asarray(y).dtype.kind not in "biuf"
    )
