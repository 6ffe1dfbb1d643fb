"""scikit-learn's own estimator checks, every one, as sklearn runs them on its MLPs."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastmlp


def _listed(marker):
    """``marker`` (a ``pytest.mark.parametrize``) with its values in a list.

    scikit-learn's ``parametrize_with_checks`` passes a generator, which
    pytest 9 deprecates (an error from pytest 10).
    """
    names, values, *rest = marker.args
    return pytest.mark.parametrize(names, list(values), *rest, **marker.kwargs)


@_listed(
    parametrize_with_checks(
        [fastmlp.MLPClassifier(max_iter=100), fastmlp.MLPRegressor(max_iter=100)]
    )
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
