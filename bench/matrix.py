"""The configuration matrix: fastmlp against scikit-learn across many settings.

Issue 18 asks for every hidden activation (9) x solver (3) x dtype (2) x
depth (1-3 hidden layers) x target (2-100 classes, regression) x input
(dense, CSR). That full factorial is 648 fits per contestant, too many for a
few minutes on 2 cores, so the matrix is a covering design (see
``docs/design/bench_matrix.md``):

- **base block**: on one base net (digits, 1437 x 64 -> 64 -> 64 -> 10,
  batch 200, dense), every activation x solver x dtype (54 cells);
- **axis block**: each other value of each other axis (1 or 3 hidden layers;
  2 or 100 classes or regression; the same text-like data set dense and CSR)
  with four probes that between them meet every solver and both dtypes:
  relu/adam/float64, tanh/sgd/float32, logistic/lbfgs/float64 and
  gelu/adam/float32 (28 cells).

Data and net shapes of the axis block match the base wherever the axis
allows: generated sets have digits' 1437 training rows and 64 features, so
the class-count and regression rows differ from the base only in the output
layer; the CSR rows have a dense twin on the very same data (1000 features).

Each cell is a :class:`bench.cases.Case` measured by
:func:`bench.measure.measure_case`, the cases' own machinery: one untimed
warm-up fit per contestant (fastmlp compiles or loads its kernels there),
then alternated rounds with idle time before each call, medians, and the
ratio sklearn seconds / fastmlp seconds taken round by round. Fits are
forced to ``max_iter`` epochs (``tol=0``, ``n_iter_no_change=10**9``, no
early stopping) and quoted per epoch; L-BFGS is quoted per fit. Both get the
same arrays and the same hyperparameters, except for the five activations
scikit-learn lacks (leaky_relu, elu, gelu, silu, softplus), where
scikit-learn fits the same net with ``relu`` (its cheapest activation and
its default): a lower bound of what fastmlp saves. Their fastmlp weights
start from the very same draw as the relu net's (Glorot-uniform, factor 6).

Agreement: where scikit-learn has the activation, both must end with the
same number of epochs/iterations and the same training loss (relative
difference at most 1e-6 in float64, 1e-3 in float32: the parity tests'
tolerances); a cell that fails is flagged and left out of the headline
minimum. Cells of the extra activations are checked for fastmlp having run
the forced epochs with a finite loss.

JAX (when installed and a contestant of the run): issue 18 also asks fastmlp
to beat a whole-epoch XLA-compiled loop on the relu and tanh cells, so the
JAX contestant (:mod:`bench.jax_mlp`) takes part in those cells only (it
declines the others and L-BFGS). Its times, its XLA compile time (apart: the
warm-up fit compiles), the ratio JAX seconds / fastmlp seconds (paired by
round, like the headline's) and its loss against scikit-learn's (same
tolerances) are extra columns; the headline stays fastmlp against
scikit-learn.
"""

from __future__ import annotations

import math
import time
from dataclasses import astuple, dataclass, replace

from bench import datasets
from bench.cases import SGD, Case
from bench.measure import LOSS_RTOL, jsonable_params
from bench.modes import plans

ACTIVATIONS = (
    "identity",
    "logistic",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
)
SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
# scikit-learn's stand-in for an activation it does not have
BASELINE_ACTIVATION = "relu"
SOLVERS = ("adam", "sgd", "lbfgs")
DTYPES = ("float64", "float32")
SHORT_DTYPE = {"float64": "f64", "float32": "f32"}
TARGET_PER_EPOCH = 4.0
TARGET_LBFGS = 3.0
# a cell within this factor of its one-core GEMM floor is "near" it: little is
# left to gain on one core, and two cores are what the cell would need
FLOOR_NEAR = 1.5
ADAM = {"solver": "adam", "learning_rate_init": 1e-3}
SOLVER_PARAMS = {"adam": ADAM, "sgd": SGD, "lbfgs": {"solver": "lbfgs"}}
BATCH = 200
WORDS = (1000, 20)  # features, words drawn per row of the text-like data
# the cells where JAX runs (issue 18: "faster than ... JAX ... on the relu and
# tanh cells")
JAX_ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True)
class Variant:
    """One value of one axis besides activation, solver and dtype.

    Attributes
    ----------
    key : str
        Part of the cell names (``--filter``).
    label : str
        Row label in the axis panel.
    axis : {"base", "depth", "target", "input"}
    hidden : tuple of int
    data : str
        ``digits``, ``classes2``, ``classes100``, ``regression``,
        ``words_dense`` or ``words_csr``.
    """

    key: str
    label: str
    axis: str
    hidden: tuple
    data: str


BASE = Variant(
    "base", "base: digits, 2 hidden layers, 10 classes", "base", (64, 64), "digits"
)
VARIANTS = (
    BASE,
    Variant("depth1", "1 hidden layer (64)", "depth", (64,), "digits"),
    Variant("depth3", "3 hidden layers (64-64-64)", "depth", (64, 64, 64), "digits"),
    Variant("classes2", "2 classes (1 output)", "target", (64, 64), "classes2"),
    Variant("classes100", "100 classes", "target", (64, 64), "classes100"),
    Variant("regression", "regression (1 output)", "target", (64, 64), "regression"),
    Variant("dense1000", "1000 words, dense", "input", (64, 64), "words_dense"),
    Variant("csr1000", "1000 words, CSR", "input", (64, 64), "words_csr"),
)  # fmt: skip
VARIANT = {v.key: v for v in VARIANTS}
PROBES = (
    ("relu", "adam", "float64"),
    ("tanh", "sgd", "float32"),
    ("logistic", "lbfgs", "float64"),
    ("gelu", "adam", "float32"),
)


@dataclass(frozen=True)
class Cell:
    """One configuration of the matrix.

    Attributes
    ----------
    variant : Variant
    activation : str
    solver : {"adam", "sgd", "lbfgs"}
    dtype : {"float64", "float32"}
    """

    variant: Variant
    activation: str
    solver: str
    dtype: str

    @property
    def name(self):
        """``matrix_<variant>_<activation>_<solver>_<f64|f32>``."""
        return (
            f"matrix_{self.variant.key}_{self.activation}_{self.solver}_"
            f"{SHORT_DTYPE[self.dtype]}"
        )

    @property
    def sparse(self):
        """Whether the cell's input is a CSR matrix."""
        return self.variant.data.endswith("_csr")

    @property
    def kind(self):
        """``"lbfgs"`` (timed per fit) or ``"fit"`` (per epoch)."""
        return "lbfgs" if self.solver == "lbfgs" else "fit"

    @property
    def target(self):
        """The issue's target ratio for this cell."""
        return TARGET_LBFGS if self.solver == "lbfgs" else TARGET_PER_EPOCH

    @property
    def baseline_activation(self):
        """The activation scikit-learn fits in this cell."""
        if self.activation in SKLEARN_ACTIVATIONS:
            return self.activation
        return BASELINE_ACTIVATION

    def params(self):
        """Hyperparameters besides the forced ones and ``max_iter``."""
        params = {
            "hidden_layer_sizes": self.variant.hidden,
            "activation": self.activation,
            **SOLVER_PARAMS[self.solver],
        }
        if self.solver != "lbfgs":
            params["batch_size"] = BATCH
        return params

    def case(self, plan):
        """This cell as a :class:`bench.cases.Case` of ``plan``'s mode."""
        units = plan.lbfgs_iterations if self.solver == "lbfgs" else plan.epochs
        variant, dtype, mode = self.variant, self.dtype, plan.mode
        title = f"{variant.label}: {self.activation}, {self.solver}, {dtype}" + (
            ""
            if self.activation in SKLEARN_ACTIVATIONS
            else f" (sklearn: {BASELINE_ACTIVATION})"
        )
        return Case(
            self.name,
            title,
            self.kind,
            lambda _mode: load_data(variant.data, dtype, mode),
            self.params(),
            {mode: units},
        )

    def describe(self):
        """JSON-ready description."""
        return {
            "variant": self.variant.key,
            "variant_label": self.variant.label,
            "axis": self.variant.axis,
            "activation": self.activation,
            "sklearn_activation": self.baseline_activation,
            "solver": self.solver,
            "dtype": self.dtype,
            "hidden": list(self.variant.hidden),
            "data": self.variant.data,
            "target": self.target,
        }


@dataclass(frozen=True)
class MatrixPlan:
    """Cells and sizes of the matrix in one mode.

    Attributes
    ----------
    mode : str
    cells : tuple of Cell
    epochs, lbfgs_iterations, reps, rows, budget_s
        The mode's :class:`bench.modes.MatrixSizes`.
    """

    mode: str
    cells: tuple
    epochs: int
    lbfgs_iterations: int
    reps: int
    rows: int
    budget_s: float | None


def _cells(specs):
    return tuple(
        Cell(VARIANT[key], act, solver, dtype) for key, act, solver, dtype in specs
    )


def _full_design():
    base = [
        ("base", act, solver, dtype)
        for act in ACTIVATIONS
        for solver in SOLVERS
        for dtype in DTYPES
    ]
    axes = [(v.key, *probe) for v in VARIANTS[1:] for probe in PROBES]
    return _cells(base + axes)


def _quick_design():
    base = [("base", act, "adam", "float64") for act in ACTIVATIONS]
    base += [("base", *probe) for probe in PROBES[1:]]
    rotating = ["depth1", "depth3", "classes2", "classes100", "regression"]
    axes = [(key, *PROBES[i % len(PROBES)]) for i, key in enumerate(rotating)]
    axes += [("dense1000", *PROBES[0]), ("csr1000", *PROBES[0])]
    return _cells(base + axes)


def _tiny_design():
    return _cells(
        [
            ("base", "relu", "adam", "float64"),
            ("base", "gelu", "sgd", "float32"),
            ("base", "tanh", "lbfgs", "float64"),
            ("depth3", "logistic", "adam", "float64"),
            ("classes2", "identity", "lbfgs", "float32"),
            ("classes100", "relu", "sgd", "float64"),
            ("regression", "tanh", "adam", "float32"),
            ("dense1000", "relu", "adam", "float64"),
            ("csr1000", "relu", "adam", "float64"),
        ]
    )


DESIGNS = {
    "tiny": _tiny_design,
    "quick": _quick_design,
    "default": _full_design,
    "full": _full_design,
}
PLANS = {
    mode: MatrixPlan(mode, DESIGNS[mode](), *astuple(sizes))
    for mode, sizes in plans("matrix").items()
}


def select_cells(mode, substring=None):
    """The cells of a mode whose name contains ``substring`` (all when None).

    Parameters
    ----------
    mode : str
    substring : str or None

    Returns
    -------
    list of Cell
    """
    return [c for c in PLANS[mode].cells if substring is None or substring in c.name]


def load_data(kind, dtype, mode):
    """The data set of a cell, in its dtype; cached by :mod:`bench.datasets`.

    Parameters
    ----------
    kind : str
        A :attr:`Variant.data`.
    dtype : str
    mode : str

    Returns
    -------
    Dataset
    """
    rows = PLANS[mode].rows
    if kind == "digits":
        data = datasets.digits(dtype)
        if mode == "tiny":
            data = datasets.Dataset(
                data.name + " (first 300)",
                data.X_train[:300],
                data.X_test,
                data.y_train[:300],
                data.y_test,
                data.task,
            )
        return data
    if kind.startswith("classes"):
        return datasets.classification(rows, 64, int(kind[len("classes") :]), dtype)
    if kind == "regression":
        return datasets.regression(rows, 64, dtype)
    words = datasets.sparse_classification(rows, *WORDS, 10, dtype)
    if kind == "words_csr":
        return words
    if kind == "words_dense":
        return datasets.densified(words)
    raise ValueError(f"unknown matrix data {kind!r}")


def sklearn_params(params):
    """The hyperparameters scikit-learn gets for fastmlp's ``params``.

    The same dict, except that an activation scikit-learn lacks becomes
    :data:`BASELINE_ACTIVATION`.

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    if params.get("activation", "relu") in SKLEARN_ACTIVATIONS:
        return params
    return {**params, "activation": BASELINE_ACTIVATION}


def _jax_declines(declines):
    def matrix_declines(params):
        activation = params.get("activation", "relu")
        if activation not in JAX_ACTIVATIONS:
            return (
                "the matrix runs JAX on the " + " and ".join(JAX_ACTIVATIONS)
                + " cells only"
            )  # fmt: skip
        return declines(params)

    return matrix_declines


def matrix_contestants(contestants):
    """fastmlp and sklearn, sklearn's maker swapping in its baseline activation.

    With ``FASTMLP_BENCH_FAKE=1`` the fake fastmlp (sklearn's classes) is
    given the baseline activation too, so the harness runs without fastmlp.
    JAX, when among ``contestants``, comes third, declining every cell but
    the :data:`JAX_ACTIVATIONS` ones.

    Parameters
    ----------
    contestants : list of Contestant

    Returns
    -------
    list of Contestant or None
        None when fastmlp or sklearn is missing.
    """
    from bench.contestants import fastmlp_is_faked

    by_name = {c.name: c for c in contestants}
    if "fastmlp" not in by_name or "sklearn" not in by_name:
        return None

    def swapped(make):
        def make_baseline(task, params):
            return make(task, sklearn_params(params))

        return make_baseline

    out = []
    for name in ("fastmlp", "sklearn"):
        contestant = by_name[name]
        if name == "sklearn" or fastmlp_is_faked():
            contestant = replace(contestant, make=swapped(contestant.make))
        out.append(contestant)
    if "jax" in by_name:
        jax = by_name["jax"]
        out.append(replace(jax, declines=_jax_declines(jax.declines)))
    return out


def jax_comparison(cell, result, compile_s=None):
    """fastmlp against JAX in one cell, and JAX's model against sklearn's.

    Parameters
    ----------
    cell : Cell
    result : CaseResult
        :func:`bench.measure.measure_case`'s result for the cell.
    compile_s : float, optional
        Seconds JAX spent compiling during the cell (its warm-up fit).

    Returns
    -------
    dict or None
        None when JAX did not run in the cell; else ``ratio`` (JAX seconds /
        fastmlp seconds, median of the rounds' ratios, >1 = fastmlp faster),
        ``compile_s``, ``loss_rel_diff`` (against sklearn's loss), ``rtol``
        and ``same`` (bool).
    """
    from bench.timing import median, paired_speedups

    jax, fast = result.entry("jax"), result.entry("fastmlp")
    if jax.seconds is None:
        return None
    out = {"ratio": None, "compile_s": compile_s}
    if fast.seconds is not None:
        ratio = median(paired_speedups(jax.seconds, fast.seconds))
        out["ratio"] = ratio if math.isfinite(ratio) and ratio > 0 else None
    skl_loss, jax_loss = result.entry("sklearn").loss, jax.loss
    out["rtol"] = LOSS_RTOL[cell.dtype]
    if skl_loss is None or jax_loss is None:
        out["loss_rel_diff"], out["same"] = None, None
    else:
        diff = abs(jax_loss - skl_loss) / max(abs(skl_loss), 1e-300)
        out["loss_rel_diff"] = diff
        out["same"] = (
            bool(diff <= out["rtol"]) and jax.n_iter == result.entry("sklearn").n_iter
        )
    return out


def jax_summary(cell_results):
    """The smallest fastmlp/JAX ratio and the cells where JAX was faster.

    Parameters
    ----------
    cell_results : list of CaseResult

    Returns
    -------
    str or None
        One line for the report, None when JAX ran in no cell.
    """
    rated = [r for r in cell_results if (r.jax or {}).get("ratio")]
    if not rated:
        return None
    low = min(rated, key=lambda r: r.jax["ratio"])
    slower = [r.name for r in rated if r.jax["ratio"] < 1]
    differ = [r.name for r in rated if r.jax.get("same") is False]
    text = (
        f"fastmlp against JAX (jit + lax.scan per epoch; issue 18's target: "
        f"faster on the {' and '.join(JAX_ACTIVATIONS)} cells): smallest "
        f"{low.jax['ratio']:.2f}x at {configuration(low)}; "
        f"{len(slower)} of {len(rated)} cells where JAX was faster"
    )
    if slower:
        text += " (" + ", ".join(f"`{n}`" for n in slower) + ")"
    if differ:
        text += f"; JAX's loss differs from sklearn's in {len(differ)}"
    return text + "."


def agreement(cell, result):
    """Whether fastmlp and scikit-learn trained the same model in a cell.

    Parameters
    ----------
    cell : Cell
    result : CaseResult
        :func:`bench.measure.measure_case`'s result for the cell.

    Returns
    -------
    Agreement
        See :func:`bench.measure.same_model`.
    """
    from bench.measure import same_model

    return same_model(
        result, cell.kind, cell.dtype, twin=cell.activation in SKLEARN_ACTIVATIONS
    )


def flagged(cell_result):
    """Whether a cell's two models were found to differ (its ratio is suspect)."""
    check = cell_result.agreement
    return check is not None and check.status in ("DIFFERENT",)


def run_cell(cell, plan, contestants, reps, settle=0.0, budget_s=None,
             trip_before=None):  # fmt: skip
    """Measure one cell.

    Parameters
    ----------
    cell : Cell
    plan : MatrixPlan
    contestants : list of Contestant
        From :func:`matrix_contestants`.
    reps : int
    settle : float, default=0.0
    budget_s : float or None
    trip_before : float, optional
        The cores' round trip just measured (the previous cell's last);
        measured here if None.

    Returns
    -------
    CaseResult
        :func:`bench.measure.measure_case`'s result plus ``cell``, ``ratio``,
        ``target``, ``meets_target`` and ``agreement``.
    """
    from bench import host_clock
    from bench.handover import round_trip_ns
    from bench.measure import measure_case

    case = cell.case(plan)
    clock_before = host_clock.step_ns()
    # how far apart the host put the cores: split cells move with it (~0.34 s
    # a measurement, most of it its settle; one between two cells)
    if trip_before is None:
        trip_before = round_trip_ns()
    compile_mark = None
    if any(c.name == "jax" for c in contestants):
        from bench.jax_mlp import COMPILE_LOG

        compile_mark = len(COMPILE_LOG)
    # The one-core GEMM floor: what a fit that runs whole cannot beat
    # (no floor for CSR input, whose first products are sparse).
    result = measure_case(
        case,
        plan.mode,
        contestants,
        reps,
        gemm=not cell.sparse,
        settle=settle,
        budget_s=budget_s,
        skip_slow=False,
        gemm_threads=1,
    )
    result.clock_step_ns = [clock_before, host_clock.step_ns()]
    result.core_round_trip_ns = [trip_before, round_trip_ns()]
    result.cell = cell.describe()
    result.sklearn_params = jsonable_params(
        sklearn_params(case.estimator_params(plan.mode))
    )
    ratio = result.entry("fastmlp").speedup_vs_sklearn
    ok = ratio is not None and math.isfinite(ratio) and ratio > 0
    result.ratio = ratio if ok else None
    result.target = cell.target
    result.meets_target = (ratio >= cell.target) if ok else None
    result.agreement = agreement(cell, result)
    if compile_mark is not None:
        from bench.jax_mlp import compiles_since

        jax = result.entry("jax")
        if jax.seconds is not None:
            jax.compile_s = compiles_since(compile_mark)
        result.jax = jax_comparison(cell, result, jax.compile_s)
    return result


def cell_line(index, total, result, seconds):
    """One progress line for a measured cell."""
    from bench.report import fmt_seconds

    parts = []
    for name in ("fastmlp", "sklearn"):
        entry = result.entry(name)
        if entry.per_unit_s is not None:
            parts.append(f"{name} {fmt_seconds(entry.per_unit_s)}")
        else:
            parts.append(f"{name} FAILED" if entry.error is not None else f"{name} -")
    text = f"[{index}/{total}] {result.name} ({seconds:.1f} s) {result.unit}: "
    jax = result.entry("jax")
    if jax.per_unit_s is not None:
        parts.append(f"jax {fmt_seconds(jax.per_unit_s)}")
    text += ", ".join(parts)
    if result.ratio is not None:
        text += f" x{result.ratio:.2f}"
        if not result.meets_target:
            text += f" (below {result.target:g}x)"
    if (result.jax or {}).get("ratio") is not None:
        text += f", vs jax x{result.jax['ratio']:.2f}"
    status = result.agreement.status
    if status not in ("same", "no sklearn twin"):
        text += f" [{status}]"
    return text


def run_matrix(cells, mode, contestants, reps=None, settle=0.0, progress=None,
               first_index=1, total=None):  # fmt: skip
    """Measure the given cells of a mode's plan.

    Parameters
    ----------
    cells : list of Cell
    mode : str
    contestants : list of Contestant
        The run's contestants (fastmlp and sklearn take part, and JAX in
        the relu and tanh cells when it is one of them).
    reps : int, optional
        Rounds per cell (default: the plan's).
    settle : float, default=0.0
    progress : callable, optional
        Called with one line per cell.
    first_index, total : int
        For the ``[i/n]`` of the progress lines.

    Returns
    -------
    dict
        ``mode``, ``epochs``, ``lbfgs_iterations``, ``reps``, ``cells`` (one
        result per cell), ``summary`` (see :func:`summarize`), ``seconds``;
        or ``skipped`` with the reason.
    """
    from bench.measure import error_text

    plan = PLANS[mode]
    reps = plan.reps if reps is None else reps
    total = total or len(cells)
    out = {
        "mode": mode,
        "epochs": plan.epochs,
        "lbfgs_iterations": plan.lbfgs_iterations,
        "reps": reps,
        "budget_s": plan.budget_s,
        "targets": {"per_epoch": TARGET_PER_EPOCH, "lbfgs_per_fit": TARGET_LBFGS},
        "baseline_activation": BASELINE_ACTIVATION,
        "cells": [],
        "problems": [],
    }
    pair = matrix_contestants(contestants)
    if pair is None:
        out["skipped"] = "the matrix needs both fastmlp and sklearn as contestants"
        if progress:
            progress("matrix skipped: " + out["skipped"])
        return out
    started = time.perf_counter()
    trip = None  # the last cell's closing round trip opens the next cell
    for index, cell in enumerate(cells, start=first_index):
        t0 = time.perf_counter()
        try:
            result = run_cell(
                cell, plan, pair, reps, settle=settle, budget_s=plan.budget_s,
                trip_before=trip,
            )  # fmt: skip
            trip = result.core_round_trip_ns[1]
        except Exception as exc:  # one broken cell must not lose the rest
            trip = None
            out["problems"].append(f"{cell.name}: {error_text(exc)}")
            if progress:
                progress(f"[{index}/{total}] {cell.name} FAILED: {error_text(exc)}")
            continue
        out["cells"].append(result)
        if progress:
            progress(cell_line(index, total, result, time.perf_counter() - t0))
    out["seconds"] = time.perf_counter() - started
    out["summary"] = summarize(out["cells"])
    return out


def _network(result):
    return " -> ".join(str(u) for u in result.layer_units)


def configuration(result):
    """A cell's configuration in words, for the headline."""
    cell = result.cell
    text = (
        f"{cell['activation']}, {cell['solver']}, {cell['dtype']}, "
        f"{result.data.name}, {_network(result)}"
    )
    if cell["sklearn_activation"] != cell["activation"]:
        text += f", against sklearn's {cell['sklearn_activation']} net"
    return text + f" (`{result.name}`)"


def summarize(cell_results):
    """Minimum ratio, cells below target, flagged cells, and the headline.

    Parameters
    ----------
    cell_results : list of CaseResult

    Returns
    -------
    dict
        ``headline`` (str), ``minimum`` (cell name or None),
        ``minimum_ratio``, ``minimum_same_activation`` and its ratio,
        ``rated``, ``below_target``, ``flagged`` (cell names).
    """
    rated = [r for r in cell_results if r.ratio is not None]
    flags = [r.name for r in cell_results if flagged(r)]
    valid = [r for r in rated if not flagged(r)]
    below = [r.name for r in rated if not r.meets_target]
    out = {
        "cells": len(cell_results),
        "rated": len(rated),
        "below_target": below,
        "flagged": flags,
        "minimum": None,
        "minimum_ratio": None,
        "minimum_same_activation": None,
        "minimum_same_activation_ratio": None,
    }
    if not valid:
        out["headline"] = "Matrix: no cell with a ratio (see the matrix section)."
        return out
    low = min(valid, key=lambda r: r.ratio)
    out["minimum"], out["minimum_ratio"] = low.name, low.ratio
    twins = [r for r in valid if r.cell["activation"] in SKLEARN_ACTIVATIONS]
    if twins:
        low_twin = min(twins, key=lambda r: r.ratio)
        out["minimum_same_activation"] = low_twin.name
        out["minimum_same_activation_ratio"] = low_twin.ratio
    unit = "per fit" if low.kind == "lbfgs" else "per epoch"
    headline = (
        f"Matrix minimum: fastmlp {low.ratio:.2f}x scikit-learn {unit} at "
        f"{configuration(low)}; target {low.target:g}x; "
        f"{len(below)} of {len(rated)} cells below target"
    )
    if flags:
        headline += f"; {len(flags)} flagged (models differ), not in the minimum"
    out["headline"] = headline + "."
    return out


# ---------------------------------------------------------------- rendering


def panels(matrix):
    """The two heatmap panels: base block, and the other axes with probes.

    Parameters
    ----------
    matrix : dict
        :func:`run_matrix`'s result (JSON-ready).

    Returns
    -------
    list of dict
        Each ``title``, ``rows``, ``cols`` (labels) and ``cells``: a dict of
        ``(row, col)`` to the cell result drawn there.
    """
    results = matrix.get("cells", [])
    base = [r for r in results if r.cell["variant"] == "base"]
    out = []
    if base:
        cols = [
            f"{s} {SHORT_DTYPE[d]}"
            for s in SOLVERS
            for d in DTYPES
            if any(r.cell["solver"] == s and r.cell["dtype"] == d for r in base)
        ]
        rows = [a for a in ACTIVATIONS if any(r.cell["activation"] == a for r in base)]
        cells = {
            (
                r.cell["activation"],
                f"{r.cell['solver']} {SHORT_DTYPE[r.cell['dtype']]}",
            ): r
            for r in base
        }
        out.append(
            {
                "title": "base net: digits 64 -> 64 -> 64 -> 10, batch 200, dense "
                "(extra activations vs sklearn relu)",
                "rows": rows,
                "row_labels": [
                    a if a in SKLEARN_ACTIVATIONS else f"{a} (sklearn: relu)"
                    for a in rows
                ],
                "cols": cols,
                "cells": cells,
            }
        )
    others = [r for r in results if r.cell["variant"] != "base"]
    if others:
        probe_of = {p: f"{p[0]} {p[1]} {SHORT_DTYPE[p[2]]}" for p in PROBES}

        def key(r):
            c = r.cell
            return (c["activation"], c["solver"], c["dtype"])

        def col(r):
            k = key(r)
            return probe_of.get(k, f"{k[0]} {k[1]} {SHORT_DTYPE[k[2]]}")

        cols = list(dict.fromkeys(probe_of[p] for p in PROBES))
        cols += [c for c in dict.fromkeys(col(r) for r in others) if c not in cols]
        cells = {(VARIANT[r.cell["variant"]].label, col(r)): r for r in others}
        for r in base:
            if col(r) in cols:
                cells[(BASE.label, col(r))] = r
        rows = [v.label for v in VARIANTS if any(row == v.label for row, _ in cells)]
        used = {c for _, c in cells}
        out.append(
            {
                "title": "other axes, around the base net (4 probes)",
                "rows": rows,
                "cols": [c for c in cols if c in used],
                "cells": cells,
            }
        )
    return out


def _ratio_text(result):
    ratio = result.ratio
    if ratio is None:
        return "-"
    text = f"{ratio:.2f}x"
    if not result.meets_target:
        text += " ▼"
    if flagged(result):
        text += " ≠"
    return text


def pivot_tables(matrix):
    """The panels as compact markdown tables of ratios.

    Parameters
    ----------
    matrix : dict

    Returns
    -------
    str
    """
    from bench.report import markdown_table

    parts = []
    for panel in panels(matrix):
        rows = []
        for row in panel["rows"]:
            cells = [panel["cells"].get((row, c)) for c in panel["cols"]]
            rows.append([row] + ["" if r is None else _ratio_text(r) for r in cells])
        table = markdown_table(["", *panel["cols"]], rows)
        parts.append(f"*{panel['title']}*\n\n" + table)
    return "\n\n".join(parts)


def _agreement_text(result):
    agree = result.agreement
    status = "unchecked" if agree is None else agree.status
    if status == "same":
        return f"same (loss Δ {agree.loss_rel_diff:.1g})"
    if status == "no sklearn twin":
        return "no twin (sklearn relu)"
    if status == "DIFFERENT":
        return "**DIFFERENT**: " + "; ".join(agree.problems)
    return status


def cell_table(matrix):
    """Every cell with its times, ratio, target and agreement (markdown).

    Parameters
    ----------
    matrix : dict

    Returns
    -------
    str
    """
    from bench.report import cell_time, fmt_seconds, markdown_table, round_trip_text

    reps = matrix.get("reps", 1)
    header = [
        "cell",
        "net",
        "data",
        "unit",
        "fastmlp",
        "sklearn",
        "ratio",
        "target",
        "same model",
        "fastmlp first fit",
        "fastmlp / 1-core GEMM",
        "sklearn / 1-core GEMM",
        "round trip ns",
        "fastmlp calls split",
    ]
    with_jax = any(r.jax for r in matrix.get("cells", []))
    if with_jax:
        header += ["jax", "fastmlp vs jax", "jax compile", "jax loss vs sklearn"]
    rows = []
    for r in matrix.get("cells", []):
        fast, skl = r.entry("fastmlp"), r.entry("sklearn")
        met = r.meets_target
        target = f"{r.target:g}x " + (
            "met" if met else "-" if met is None else "**below**"
        )
        sk_time = cell_time(skl, reps)
        if r.cell["sklearn_activation"] != r.cell["activation"]:
            sk_time += f" ({r.cell['sklearn_activation']})"
        rows.append(
            [
                f"`{r.name}`",
                _network(r),
                r.data.name,
                r.unit,
                cell_time(fast, reps),
                sk_time,
                "-" if r.ratio is None else f"{r.ratio:.2f}x",
                target,
                _agreement_text(r),
                fmt_seconds(fast.warmup_s),
                *_over_floor(r),
                round_trip_text(r.core_round_trip_ns) or "-",
                _split_calls_text(fast),
            ]
        )
        if with_jax:
            rows[-1] += _jax_cells(r, reps)
    return markdown_table(header, rows)


def _split_calls_text(entry):
    """How many of fastmlp's last fit's kernel calls ran split, or '-'."""
    ways = entry.split_whole_calls
    return f"{ways[0]} of {sum(ways)}" if ways else "-"


def _over_floor(result):
    """Each contestant's time over the cell's one-core GEMM floor, as text."""
    floor = result.gemm
    if not floor:
        return ["-", "-"]
    ratios = floor.time_over_gemm
    return [
        "-" if ratios.get(name) is None else f"{ratios[name]:.2f}"
        for name in ("fastmlp", "sklearn")
    ]


def floor_summary(cells):
    """How close the cells below target are to their floor, and how many of
    them no one-core run can bring to it."""
    below = [r for r in cells if r.meets_target is False and r.gemm]
    over = [r.gemm.time_over_gemm.get("fastmlp") for r in below]
    over = sorted(x for x in over if x is not None and math.isfinite(x))
    if not over:
        return None
    near = sum(x <= FLOOR_NEAR for x in over)
    # the target asks fastmlp for sklearn / target: under the floor when
    # scikit-learn itself runs within `target` times it
    sklearn_over = [r.gemm.time_over_gemm.get("sklearn") for r in below]
    under_floor = sum(
        x is not None and x < r.target for x, r in zip(sklearn_over, below, strict=True)
    )
    if under_floor:
        under = (
            f"{under_floor} need less than that floor (scikit-learn runs within "
            "the target's factor of it), which only two cores' products reach"
        )
    else:
        under = "none needs less than that floor"
    return (
        f"Of the {len(over)} dense cells below target, {near} run within "
        f"{FLOOR_NEAR:g}x of their one-core GEMM floor (fastmlp / floor "
        f"{over[0]:.2f}-{over[-1]:.2f}, median {over[len(over) // 2]:.2f}); "
        f"{under}."
    )


def _jax_cells(result, reps):
    from bench.report import cell_time, fmt_seconds

    comparison = result.jax
    if not comparison:
        return ["-", "-", "-", "-"]
    if comparison["same"] is None:
        same = "unchecked"
    else:
        same = "same" if comparison["same"] else "**differs**"
        same += f" (loss Δ {comparison['loss_rel_diff']:.1g})"
    ratio = comparison["ratio"]
    return [
        cell_time(result.contestants["jax"], reps),
        "-" if ratio is None else f"{ratio:.2f}x" + (" ▼" if ratio < 1 else ""),
        "cached"
        if comparison["compile_s"] == 0
        else fmt_seconds(comparison["compile_s"]),
        same,
    ]


def section(matrix):
    """The report's matrix section (markdown).

    Parameters
    ----------
    matrix : dict

    Returns
    -------
    str
    """
    if matrix.get("skipped"):
        return f"Not measured: {matrix['skipped']}."
    summary = matrix.get("summary", {})
    lines = [f"**{summary.get('headline', '')}**"]
    if summary.get("minimum_same_activation"):
        low = next(
            r for r in matrix["cells"] if r.name == summary["minimum_same_activation"]
        )
        lines += [
            "",
            f"Smallest where scikit-learn has the same activation (same model "
            f"checked): {low.ratio:.2f}x at {configuration(low)}.",
        ]
    jax_line = jax_summary(matrix["cells"])
    if jax_line:
        lines += ["", jax_line]
    floor_line = floor_summary(matrix["cells"])
    if floor_line:
        lines += ["", floor_line]
    lines += [
        "",
        f"{len(matrix['cells'])} cells, mode {matrix['mode']}: "
        f"{matrix['epochs']} forced epochs per adam/sgd fit (time per epoch = "
        f"median fit time / epochs, warm-up fit untimed), "
        f"L-BFGS max_iter {matrix['lbfgs_iterations']} (time per fit), "
        f"{matrix['reps']} alternated rounds per cell"
        + (
            f" (`(k r)`: only k, for a contestant whose timed seconds in the "
            f"cell passed {matrix['budget_s']:g} s), "
            if matrix.get("budget_s")
            else ", "
        )
        + f"{matrix.get('seconds', 0):.0f} s in all. Ratio = sklearn seconds / "
        "fastmlp seconds, median of the rounds' ratios. Targets (issue 18): "
        f"{TARGET_PER_EPOCH:g}x per epoch, {TARGET_LBFGS:g}x per L-BFGS fit; "
        "▼ marks a cell below its target, ≠ a cell whose two models differ "
        "(flagged, left out of the minimum). The five activations scikit-learn "
        f"lacks are timed against scikit-learn's {BASELINE_ACTIVATION} net of "
        "the same shape, data and hyperparameters. *fastmlp first fit*: the "
        "untimed one-epoch warm-up fit (one full fit for L-BFGS), which "
        "includes compiling or loading kernels when the cell is the first to "
        "need them. *1-core GEMM*: the cell's matrix products alone (every "
        "mini-batch's forward and backward products; for L-BFGS one full-batch "
        "pass, against the time per iteration), fastest of 7, BLAS on one "
        "thread; a contestant's time over it is how far the cell is from what "
        "one core's BLAS allows (CSR cells: no floor)."
        + (
            " *jax*: steady-state seconds of the JAX contestant (relu and tanh "
            "cells); *fastmlp vs jax* = JAX seconds / fastmlp seconds, median "
            "of the rounds' ratios (▼: JAX faster); *jax compile*: XLA compile "
            "time of its epoch function, spent in its untimed warm-up fit "
            "(*cached*: an earlier cell compiled the same shapes)."
            if jax_line
            else ""
        )
        + " Design: `docs/design/bench_matrix.md`.",
        "",
        pivot_tables(matrix),
        "",
        "![matrix ratios](matrix_ratios.png)",
        "",
        "Every cell:",
        "",
        cell_table(matrix),
    ]
    problems = list(matrix.get("problems", []))
    for r in matrix["cells"]:
        for name, entry in r.contestants.items():
            for key in ("error", "quality_error", "warning", "skipped"):
                if getattr(entry, key):
                    text = getattr(entry, key)
                    problems.append(f"`{r.name}` {name} ({key}): `{text}`")
    if problems:
        lines += ["", "Problems:", ""] + [f"- {p}" for p in problems]
    return "\n".join(lines)
