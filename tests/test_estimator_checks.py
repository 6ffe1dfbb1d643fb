"""scikit-learn's own estimator checks, every one, as sklearn runs them on its MLPs."""

from sklearn.utils.estimator_checks import parametrize_with_checks

import fastmlp


@parametrize_with_checks(
    [fastmlp.MLPClassifier(max_iter=100), fastmlp.MLPRegressor(max_iter=100)]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
