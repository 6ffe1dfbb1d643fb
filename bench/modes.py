"""Every per-mode setting in one table: :data:`MODES`.

One row per mode: rounds, idle time and budgets of the cases, which cases get
fresh processes, and the plans of the sweeps, the prediction sweep, the small
calls and the configuration matrix, chosen so that on a quiet 2-core machine
``--quick`` finishes in under 2 minutes and the default suite in under 10.
Sizes and epoch counts of each case live with the cases
(:mod:`bench.cases`); the matrix's cells, a design rather than a size, with
the matrix (:mod:`bench.matrix`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SweepPlan:
    """Points and budget of the three sweeps (:mod:`bench.sweeps`).

    Attributes
    ----------
    widths, batch_sizes, n_samples : tuple of int
    base_rows : int
        Training rows for the width and batch sweeps.
    target_s : float
        Aimed-at duration of one sklearn fit.
    min_epochs : int
    reps : int
    budget_s : float or None
        Timed seconds after which a contestant gets no more rounds at a
        point (see :func:`bench.timing.alternate`).
    """

    widths: tuple
    batch_sizes: tuple
    n_samples: tuple
    base_rows: int
    target_s: float
    min_epochs: int
    reps: int
    budget_s: float | None


@dataclass(frozen=True)
class PredictPlan:
    """How much the prediction sweep measures (:mod:`bench.predict_sweep`).

    Attributes
    ----------
    sizes : tuple of int
        Rows per call.
    dtypes : tuple of str
    nets : tuple of str
        Names from :data:`bench.predict_sweep.NETS`.
    train_rows, epochs : int
        Training data and epochs of each net.
    target_s : float
        Seconds one measurement (a loop of calls) should last.
    rounds, big_rounds : int
        Alternated rounds per size; ``big_rounds`` where one call alone
        already lasts longer than ``target_s``.
    size_budget_s : float
        Fewer rounds (at least one) where the rounds of a size would take
        longer than this.
    """

    sizes: tuple
    dtypes: tuple
    nets: tuple
    train_rows: int
    epochs: int
    target_s: float
    rounds: int
    big_rounds: int
    size_budget_s: float


@dataclass(frozen=True)
class MatrixSizes:
    """Sizes of the configuration matrix (:mod:`bench.matrix`).

    Attributes
    ----------
    epochs : int
        Forced epochs of the adam and sgd fits.
    lbfgs_iterations : int
        ``max_iter`` of the L-BFGS fits.
    reps : int
        Alternated rounds per cell (``--reps`` overrides).
    rows : int
        Training rows of the generated data sets (digits has 1437; tiny
        mode cuts it to 300).
    budget_s : float or None
        Timed seconds per contestant and cell after which it gets no more
        rounds (it always gets one; see :func:`bench.timing.alternate`): on
        a busy machine scikit-learn's 2-thread BLAS calls can run 10-30x
        slower, and the rounds of its L-BFGS fits would otherwise take
        minutes.
    """

    epochs: int
    lbfgs_iterations: int
    reps: int
    rows: int
    budget_s: float | None


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
    calls : tuple of int or None
        Rounds and calls per round of the small calls (:mod:`bench.calls`).
    sweeps : SweepPlan or None
    predict : PredictPlan or None
    matrix : MatrixSizes or None
        None where the mode runs no such part (a custom run).
    """

    name: str
    reps: int
    settle: float
    case_budget_s: float | None
    compile_cases: tuple | None
    warm_cases: tuple | None
    concurrent_target_s: float
    calls: tuple | None = None
    sweeps: SweepPlan | None = None
    predict: PredictPlan | None = None
    matrix: MatrixSizes | None = None

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


# bench.predict_sweep.NETS, by name
PREDICT_NETS = ("digits", "wide", "regressor", "sparse")
BOTH = ("float64", "float32")
PREDICT_SIZES = (1, 10, 50, 100, 200, 500, 2000, 20000, 100000)

# A cold-cache compile of fastmlp costs ten seconds or more per case, so the
# default suite compiles only for cases whose kernels differ (adam, sgd,
# float32, L-BFGS, regression); --full does every case.
MODES = {
    "tiny": Mode(
        "tiny",
        1,
        0.0,
        None,
        None,
        None,
        0.0,
        calls=(1, 5),
        sweeps=SweepPlan((16, 64), (16, 64), (200, 400), 300, 0.0, 1, 1, None),
        predict=PredictPlan((1, 100), BOTH, PREDICT_NETS, 300, 1, 1e-3, 2, 1, 0.5),
        matrix=MatrixSizes(2, 3, 1, 400, None),
    ),
    "quick": Mode(
        "quick",
        3,
        0.1,
        4.0,
        ("small_adam",),
        ("small_adam",),
        0.1,
        calls=(3, 60),
        sweeps=SweepPlan((32, 512), (32, 512), (1000, 10_000), 5000, 0.06, 2, 2, 1.5),
        predict=PredictPlan(
            (1, 10, 100, 500, 2000, 20000), BOTH, PREDICT_NETS, 2000, 3, 0.01, 3, 2, 1.0
        ),
        matrix=MatrixSizes(8, 10, 2, 1437, 1.0),
    ),
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
        calls=(5, 200),
        sweeps=SweepPlan(
            widths=(16, 64, 256, 1024),
            batch_sizes=(16, 64, 256, 1024),
            n_samples=(1000, 10_000, 100_000),
            base_rows=5000,
            target_s=0.15,
            min_epochs=2,
            reps=3,
            budget_s=4.0,
        ),
        predict=PredictPlan(
            PREDICT_SIZES, BOTH, PREDICT_NETS, 2000, 3, 0.02, 5, 3, 2.0
        ),
        matrix=MatrixSizes(20, 30, 3, 1437, 2.0),
    ),
    "full": Mode(
        "full",
        7,
        0.2,
        60.0,
        None,
        None,
        0.5,
        calls=(7, 500),
        sweeps=SweepPlan(
            widths=(16, 32, 64, 128, 256, 512, 1024),
            batch_sizes=(16, 32, 64, 128, 256, 512, 1024),
            n_samples=(1000, 3000, 10_000, 30_000, 100_000, 200_000),
            base_rows=10_000,
            target_s=0.5,
            min_epochs=2,
            reps=5,
            budget_s=30.0,
        ),
        predict=PredictPlan(
            PREDICT_SIZES, BOTH, PREDICT_NETS, 2000, 3, 0.05, 7, 3, 6.0
        ),
        matrix=MatrixSizes(50, 60, 5, 1437, 20.0),
    ),
    # python -m bench --custom: one case, compiled and measured in fresh
    # processes; the budget only cuts rounds (no contestant is left untimed)
    "custom": Mode("custom", 5, 0.15, 30.0, None, None, 0.2),
}


def plans(part):
    """One part's plan per mode, for the modes that run it.

    Parameters
    ----------
    part : {"calls", "sweeps", "predict", "matrix"}

    Returns
    -------
    dict of str to object
    """
    return {
        name: getattr(mode, part)
        for name, mode in MODES.items()
        if getattr(mode, part) is not None
    }
