"""How much each mode measures: rounds, idle time, budgets, fresh processes.

Sizes and epoch counts per mode live with the cases (:mod:`bench.cases`) and
the sweeps (:mod:`bench.sweeps`); this module holds everything else, chosen
so that on a quiet 2-core machine ``--quick`` finishes in under 2 minutes and
the default suite in under 10.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mode:
    """The knobs of one mode.

    Attributes
    ----------
    name : str
    reps : int
        Alternated rounds per case (``--reps`` overrides).
    settle : float
        Idle seconds before each timed call (``--settle`` overrides).
    case_budget_s : float or None
        Timed seconds after which a contestant gets no more rounds in a case,
        and a contestant whose warm-up predicts a single call of more than
        twice this is not timed at all (so an outlier such as PyTorch's
        spin-waiting OpenMP pool on a busy machine cannot eat the run's
        time); None for no limit.
    compile_cases, warm_cases : tuple of str or None
        Cases that get the fresh-process compile job (fastmlp, cold cache)
        and the warm jobs (latency, memory); None means all.
    concurrent_target_s : float
        Seconds one fit should last in the two-thread case.
    """

    name: str
    reps: int
    settle: float
    case_budget_s: float | None
    compile_cases: tuple | None
    warm_cases: tuple | None
    concurrent_target_s: float

    def wants_compile(self, case_name):
        """Whether a case gets the cold-cache compile measurement.

        Parameters
        ----------
        case_name : str

        Returns
        -------
        bool
        """
        return self.compile_cases is None or case_name in self.compile_cases

    def wants_warm(self, case_name):
        """Whether a case gets the warm-cache latency and memory measurement.

        Parameters
        ----------
        case_name : str

        Returns
        -------
        bool
        """
        return self.warm_cases is None or case_name in self.warm_cases


# A cold-cache compile of fastmlp costs ten seconds or more per case, so the
# default suite compiles only for cases whose kernels differ (adam, sgd,
# float32, L-BFGS, regression); --full does every case.
MODES = {
    "tiny": Mode("tiny", 1, 0.0, None, None, None, 0.0),
    "quick": Mode("quick", 3, 0.1, 4.0, ("small_adam",), ("small_adam",), 0.1),
    "default": Mode(
        "default",
        5,
        0.15,
        12.0,
        (
            "small_adam",
            "small_sgd",
            "wide_f32",
            "lbfgs_breast_cancer",
            "regression_sgd",
        ),
        None,
        0.2,
    ),
    "full": Mode("full", 7, 0.2, 60.0, None, None, 0.5),
    # python -m bench --custom: one case, compiled and measured in fresh
    # processes; the budget only cuts rounds (no contestant is left untimed)
    "custom": Mode("custom", 5, 0.15, 30.0, None, None, 0.2),
}
