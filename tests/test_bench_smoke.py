"""Smoke test of the benchmark harness (bench/): it runs and writes its outputs.

The suite runs at tiny sizes with ``FASTMLP_BENCH_FAKE=1`` (sklearn's classes
stand in for fastmlp), so this tests the harness, not fastmlp, and costs no
numba compile; PyTorch, when installed, is checked on its own (it trains the
very model sklearn trains) rather than inside the suite, which keeps this file
well under a minute. No timing is asserted, ever: only that every case
produced finite, positive times and that the report files exist.
"""

import gc
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("matplotlib")


def _finite_positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module", autouse=True)
def _frozen_heap():
    # bench.timing collects garbage before every timed call, and the bench
    # freezes its heap first (bench.cli) so that those passes are short; so
    # does this module: with the heap of the whole suite before it, each pass
    # took ~1 s, 67 s of the main suite's run in three tests (2026-12-03)
    from bench.timing import freeze_heap

    freeze_heap()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, FASTMLP_BENCH_FAKE="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--tiny",
            "--no-subprocess",
            "--threads",
            "1",
            "--contestants",
            "fastmlp,sklearn",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_tiny_run_writes_report_json_and_plots(tiny_run):
    out, stdout = tiny_run
    assert (out / "latest.md").is_file()
    assert (out / "latest.json").is_file()
    assert list(out.glob("*.png"))
    assert "[1/" in stdout  # a progress line per case
    markdown = (out / "latest.md").read_text()
    assert "| case |" in markdown
    assert "## Environment" in markdown


def test_tiny_run_measures_the_core_round_trip(tiny_run):
    out, _ = tiny_run
    results = json.loads((out / "latest.json").read_text())
    trips = results["run"]["core_round_trip_ns"]
    assert len(trips) == 2
    for case in results["cases"]:
        if case["kind"] != "concurrent":
            trips += case["core_round_trip_ns"]
    assert len(trips) == 2 + 2 * (len(results["cases"]) - 1)
    if len(os.sched_getaffinity(0)) > 1:
        assert all(_finite_positive(t) for t in trips), trips
        markdown = (out / "latest.md").read_text()
        assert "A cache line went from one CPU" in markdown
        assert "round trip between the two CPUs before/after each case" in markdown


def test_tiny_run_measures_the_core_round_trip_of_each_matrix_cell(tiny_run):
    out, _ = tiny_run
    cells = json.loads((out / "latest.json").read_text())["matrix"]["cells"]
    assert cells
    rows = {
        row["cell"].strip("`"): row
        for row in _matrix_table_rows((out / "latest.md").read_text())
    }
    for cell in cells:
        trips = cell["core_round_trip_ns"]
        assert len(trips) == 2
        row = rows[cell["name"]]
        ways = cell["contestants"]["fastmlp"].get("split_whole_calls")
        want = f"{ways[0]} of {sum(ways)}" if ways else "-"  # none when faked
        assert row["fastmlp calls split"] == want
        if len(os.sched_getaffinity(0)) > 1:
            assert all(_finite_positive(t) for t in trips), trips
            assert row["round trip ns"] == f"{trips[0]:.0f}/{trips[1]:.0f}"
    # one measurement between two cells closes the first and opens the next
    for first, then in zip(cells, cells[1:]):
        assert then["core_round_trip_ns"][0] == first["core_round_trip_ns"][1]


def test_round_trip_line_gives_fastmlps_split_calls():
    from bench.report import round_trip_line
    from bench.results_model import CaseResult, ContestantTiming, RunResults

    def case(name, trips, ways=None):
        entry = ContestantTiming(split_whole_calls=ways)
        return CaseResult(name, core_round_trip_ns=trips, contestants={
            "fastmlp": entry, "sklearn": ContestantTiming()})  # fmt: skip

    results = RunResults([], cases=[
        case("a", [101.2, 99.0], [15, 3]), case("b", [400.0, 390.0], [0, 20]),
        case("c", [None, None]), case("d", [90.0, 95.0]),
    ])  # fmt: skip
    assert round_trip_line(results).endswith(
        ": a 101/99 (split 15 of 18 calls), b 400/390, d 90/95."
    )
    assert round_trip_line(RunResults([], cases=[case("c", [None, None])])) == ""


def test_round_trip_needs_two_cpus(monkeypatch):
    from bench import handover

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert handover.round_trip_ns() is None


def test_round_trip_needs_compiled_code(monkeypatch):
    import numba

    from bench import handover

    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    assert handover.round_trip_ns() is None


def test_tiny_run_probes_the_host_clock(tiny_run):
    out, _ = tiny_run
    results = json.loads((out / "latest.json").read_text())
    probes = list(results["run"]["clock_step_ns"])
    for case in results["cases"]:
        if case["kind"] != "concurrent":
            probes += case["clock_step_ns"]
    assert len(probes) == 2 + 2 * (len(results["cases"]) - 1)
    assert all(_finite_positive(p) for p in probes), probes
    markdown = (out / "latest.md").read_text()
    assert "A fixed scalar loop (`bench/host_clock.py`) ran" in markdown


def test_host_clock_line_gives_the_probes_range():
    from bench.report import host_clock_line
    from bench.results_model import CaseResult, RunNotes, RunResults

    notes = RunNotes("python -m bench", [], "tiny", 1, 0.0, 1, False, "now",
                     0.0, 0.0, None, [None, None], 1.0, [2.0, 2.5])  # fmt: skip
    cases = [CaseResult("a", clock_step_ns=[2.2, 3.0]),
             CaseResult("b", clock_step_ns=[None, None])]  # fmt: skip
    line = host_clock_line(RunResults([], cases=cases, run=notes))
    assert line == (
        "A fixed scalar loop (`bench/host_clock.py`) ran 2.00 ns a step at the "
        "start of the run, 2.50 at the end; before and after every case and "
        "matrix cell (2 in all) 2.20-3.00: the host's clock moved by up to 50% "
        "during the run, so "
        "compare ratios, measured within a case, rather than times across cases."
    )
    assert host_clock_line(RunResults([], cases=cases[1:], run=None)) == ""


def test_host_clock_step_is_positive_and_needs_compiled_code(monkeypatch):
    import numba

    from bench import host_clock

    assert _finite_positive(host_clock.step_ns(repeats=1))
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    assert host_clock.step_ns() is None
    assert host_clock.spread([2.0, None, 3.0]) == pytest.approx(0.5)
    assert host_clock.spread([2.0]) is None


def test_tiny_run_has_every_case_with_finite_times(tiny_run):
    from bench.cases import CASES
    from bench.sweeps import SWEEPS

    out, _ = tiny_run
    results = json.loads((out / "latest.json").read_text())
    assert {c["name"] for c in results["cases"]} == {c.name for c in CASES}
    assert {s["name"] for s in results["sweeps"]} == set(SWEEPS)
    assert "sklearn" in results["contestant_names"]
    assert "fastmlp" in results["contestant_names"]
    for case in results["cases"]:
        assert set(case["contestants"]) == set(results["contestant_names"])
        for name, entry in case["contestants"].items():
            assert "error" not in entry, (case["name"], name, entry["error"])
            if case["kind"] == "concurrent":
                times = [entry["median_sequential_s"], entry["median_concurrent_s"]]
            else:
                times = [entry["median_s"], entry["per_unit_s"], *entry["seconds"]]
                assert math.isfinite(entry["score"])
            assert all(_finite_positive(t) for t in times), (case["name"], name, times)
        if case["kind"] != "concurrent":
            assert _finite_positive(case["gemm"]["seconds"])
    for sweep in results["sweeps"]:
        for point in sweep["points"]:
            for name, entry in point["contestants"].items():
                assert _finite_positive(entry["s_per_epoch"]), (sweep["name"], name)
    calls = results["small_calls"]["calls"]
    assert len(calls) == 7
    for call in calls:
        assert set(call["median_s"]) == {"fastmlp", "sklearn"}
        assert all(_finite_positive(t) for t in call["median_s"].values()), call
        assert _finite_positive(call["speedup_vs_sklearn"]["fastmlp"])
    assert "## Small calls" in (out / "latest.md").read_text()


def test_fresh_process_measurements_report_compile_latency_memory(monkeypatch):
    from bench import datasets
    from bench.cases import FORCED
    from bench.contestants import get_contestant
    from bench.subproc import fresh_process_measurements

    monkeypatch.setenv("FASTMLP_BENCH_FAKE", "1")
    data = datasets.classification(200, 8, 2)
    params = {**FORCED, "hidden_layer_sizes": (8,), "batch_size": 32, "max_iter": 1}
    contestants = [get_contestant("fastmlp"), get_contestant("sklearn")]
    out = fresh_process_measurements(
        data.task, params, data.X_train, data.y_train, contestants, threads=1
    )
    assert math.isfinite(out["fastmlp"].compile_s)
    for name in ("fastmlp", "sklearn"):
        entry = out[name]
        assert entry.warm_error is None, entry
        assert _finite_positive(entry.import_s + entry.first_call_s)
        assert entry.peak_mib >= 0


@pytest.mark.parametrize(
    "task, params",
    [
        ("binary", {"solver": "adam", "hidden_layer_sizes": (8,)}),
        ("multiclass", {"solver": "sgd", "hidden_layer_sizes": (8, 6)}),
        ("multilabel", {"solver": "adam", "hidden_layer_sizes": (8,)}),
        ("regression", {"solver": "sgd", "hidden_layer_sizes": (8,)}),
        ("binary", {"solver": "lbfgs", "hidden_layer_sizes": (8,)}),
    ],
)
def test_torch_contestant_trains_the_model_sklearn_trains(task, params):
    pytest.importorskip("torch")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from bench import datasets
    from bench.cases import FORCED
    from bench.torch_mlp import TorchMLP

    if task == "multilabel":
        data = datasets.multilabel(120, 6, 3)
    elif task == "regression":
        data = datasets.regression(120, 6)
    else:
        data = datasets.classification(120, 6, 2 if task == "binary" else 3)
    full = {**FORCED, **params, "batch_size": 16, "max_iter": 3, "alpha": 0.01}
    if params["solver"] == "sgd":
        full["learning_rate_init"] = 0.01
    reference_cls = MLPRegressor if task == "regression" else MLPClassifier
    with warnings.catch_warnings():  # ConvergenceWarning: the epochs are forced
        warnings.simplefilter("ignore")
        reference = reference_cls(**full).fit(data.X_train, data.y_train)
    model = TorchMLP(task, **full).fit(data.X_train, data.y_train)
    assert model.n_iter_ == reference.n_iter_
    # Same initial weights, batches and optimizer: the same loss up to rounding
    # (and torch's Adam placing epsilon after the bias correction).
    assert model.loss_ == pytest.approx(reference.loss_, rel=1e-3)
    assert model.predict(data.X_test).shape == reference.predict(data.X_test).shape
    if task != "regression":
        expected = reference.predict_proba(data.X_test)
        assert model.predict_proba(data.X_test).shape == expected.shape


def test_a_contestant_that_declines_a_case_is_reported_not_timed():
    from bench.cases import CASES
    from bench.contestants import Contestant, get_contestant
    from bench.measure import measure_case
    from bench.report import _failures, summary_table
    from bench.results_model import RunResults

    case = next(c for c in CASES if c.name == "early_stopping_adam")
    sklearn = get_contestant("sklearn")
    declining = Contestant(
        "torch", "0", sklearn.make, declines=lambda params: "not implemented here"
    )
    result = measure_case(case, "tiny", [sklearn, declining], 1, settle=0.0)
    assert result.contestants["torch"].to_json() == {"declined": "not implemented here"}
    assert _finite_positive(result.contestants["sklearn"].per_unit_s)
    results = RunResults(["sklearn", "torch"], cases=[result])
    row = next(line for line in summary_table(results).splitlines() if "early" in line)
    assert "| n/a |" in row
    assert _failures(results) == [
        "- `early_stopping_adam` torch (declined): `not implemented here`"
    ]


@pytest.mark.parametrize("name", ["digits", "digits_no_settle"])
def test_a_case_with_its_own_settle_keeps_it(monkeypatch, name):
    import argparse

    from bench import cli, handover, host_clock, measure
    from bench.cases import CASES
    from bench.results_model import CaseResult

    seen = []

    def fake_measure_case(case, mode, contestants, reps, **kwargs):
        seen.append(kwargs["settle"])
        return CaseResult(case.name, case.title, case.kind)

    monkeypatch.setattr(measure, "measure_case", fake_measure_case)
    monkeypatch.setattr(handover, "round_trip_ns", lambda: 100.0)
    monkeypatch.setattr(host_clock, "step_ns", lambda: 1.0)
    case = next(c for c in CASES if c.name == name)
    args = argparse.Namespace(mode="tiny", reps=1, settle=0.2, no_subprocess=True)
    cli.run_case(case, args, [])
    # digits_no_settle times each fit right after the last, whatever --settle
    assert seen == [0.0 if name == "digits_no_settle" else 0.2]


def test_torch_declines_what_it_does_not_implement():
    from bench.torch_mlp import unsupported

    assert unsupported({"early_stopping": False, "learning_rate": "constant"}) is None
    assert "early_stopping=True" in unsupported({"early_stopping": True})
    assert "learning_rate='adaptive'" in unsupported({"learning_rate": "adaptive"})


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.9996, "1 s"),
        (0.9994, "999 ms"),
        (0.0009996, "1 ms"),
        (0.0009994, "999 us"),
        (1.234e-5, "12.3 us"),
        (12.345, "12.3 s"),
        (None, "-"),
        (float("nan"), "-"),
    ],
)
def test_seconds_are_written_in_the_unit_they_round_to(seconds, text):
    from bench.report import fmt_seconds

    assert fmt_seconds(seconds) == text


# ------------------------------------------------------ configuration matrix


def _matrix_table_rows(markdown):
    """The rows of the matrix's every-cell table, as lists of cell texts."""
    lines = markdown.split("Every cell:", 1)[1].strip().splitlines()
    assert lines[0].startswith("| cell |"), lines[0]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def test_tiny_run_writes_the_matrix_table_heatmap_and_headline(tiny_run):
    from matplotlib.image import imread

    from bench.matrix import PLANS, SKLEARN_ACTIVATIONS

    out, stdout = tiny_run
    results = json.loads((out / "latest.json").read_text())
    matrix = results["matrix"]
    cells = matrix["cells"]
    assert [c["name"] for c in cells] == [c.name for c in PLANS["tiny"].cells]
    assert len(cells) == 9
    ratios = {}
    for cell in cells:
        fast = cell["contestants"]["fastmlp"]
        assert _finite_positive(cell["ratio"]), cell["name"]
        assert cell["ratio"] == fast["speedup_vs_sklearn"]
        assert all(_finite_positive(t) for t in fast["seconds"]), cell["name"]
        assert cell["meets_target"] == (cell["ratio"] >= cell["target"])
        assert cell["target"] == (3.0 if cell["kind"] == "lbfgs" else 4.0)
        # fastmlp is faked (sklearn's classes): the very same model in every
        # cell, and the extra activations fall back to relu on both sides
        expected = (
            "same"
            if cell["cell"]["activation"] in SKLEARN_ACTIVATIONS
            else "no sklearn twin"
        )
        assert cell["agreement"]["status"] == expected, cell["agreement"]
        ratios[cell["name"]] = cell["ratio"]
        # the one-core GEMM floor, for dense input only
        floor = cell.get("gemm")
        if cell["cell"]["data"].endswith("_csr"):
            assert floor is None, cell["name"]
        else:
            assert floor["blas_threads"] == 1
            assert _finite_positive(floor["seconds"]), cell["name"]
            for name in ("fastmlp", "sklearn"):
                assert _finite_positive(floor["time_over_gemm"][name]), cell["name"]
    lowest = min(ratios, key=ratios.get)
    summary = matrix["summary"]
    assert summary["minimum"] == lowest
    assert summary["minimum_ratio"] == ratios[lowest]
    assert summary["flagged"] == []

    # the table: one row per cell, with the JSON's ratio
    markdown = (out / "latest.md").read_text()
    assert "## Configuration matrix" in markdown
    rows = _matrix_table_rows(markdown)
    assert len(rows) == len(cells)
    for row in rows:
        name = row["cell"].strip("`")
        assert float(row["ratio"].rstrip("x")) == pytest.approx(ratios[name], abs=0.006)
        floor = results_cell(cells, name).get("gemm")
        over = row["fastmlp / 1-core GEMM"]
        if floor is None:
            assert over == "-"
        else:
            want = floor["time_over_gemm"]["fastmlp"]
            assert float(over) == pytest.approx(want, abs=0.006)
        assert ("below" in row["target"]) == (
            not results_cell(cells, name)["meets_target"]
        )
        assert float(row["ratio"].rstrip("x")) > 0

    # the headline: at the top of the report and the run's last line, naming
    # the minimum and its ratio
    headline = summary["headline"]
    assert headline.startswith("Matrix minimum: ")
    assert f"`{lowest}`" in headline
    assert f"{ratios[lowest]:.2f}x" in headline
    top = markdown.split("\n## ", 1)[0]
    assert f"**{headline}**" in top
    assert stdout.strip().splitlines()[-1] == headline

    # the heatmap: a real image
    png = out / "matrix_ratios.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert "matrix_ratios.png" in results["plots"]


def results_cell(cells, name):
    return next(c for c in cells if c["name"] == name)


def test_matrix_design_covers_every_axis():
    from itertools import product

    from bench.matrix import (
        ACTIVATIONS,
        DTYPES,
        PLANS,
        PROBES,
        SOLVERS,
        VARIANTS,
    )

    default = PLANS["default"].cells
    assert len(default) == 54 + 7 * 4
    assert len({c.name for c in default}) == len(default)
    base = {
        (c.activation, c.solver, c.dtype) for c in default if c.variant.key == "base"
    }
    assert base == set(product(ACTIVATIONS, SOLVERS, DTYPES))
    for variant in VARIANTS[1:]:
        probes = {
            (c.activation, c.solver, c.dtype) for c in default if c.variant == variant
        }
        assert probes == set(PROBES), variant.key
    # the probes meet every solver and both dtypes on every other axis value
    assert {p[1] for p in PROBES} == set(SOLVERS)
    assert {p[2] for p in PROBES} == set(DTYPES)
    assert {v.axis for v in VARIANTS} == {"base", "depth", "target", "input"}
    assert {len(v.hidden) for v in VARIANTS} == {1, 2, 3}
    assert PLANS["full"].cells == default
    quick = PLANS["quick"].cells
    assert set(quick) <= set(default)
    assert {c.activation for c in quick} == set(ACTIVATIONS)
    assert {c.variant for c in quick} == set(VARIANTS)
    tiny = PLANS["tiny"].cells
    assert {c.solver for c in tiny} == set(SOLVERS)
    assert {c.dtype for c in tiny} == set(DTYPES)
    assert {c.variant.data for c in tiny} == {v.data for v in VARIANTS}


def test_filter_predict_sweep_selects_the_sweep_alone():
    from bench.cases import select_cases
    from bench.matrix import select_cells
    from bench.sweeps import SWEEPS

    assert select_cases("predict_sweep") == []
    assert not [s for s in SWEEPS if "predict_sweep" in s]
    assert "predict_sweep" not in "small_calls"  # cli's tests, as for "matrix"
    assert select_cells("default", "predict_sweep") == []


def test_filter_matrix_selects_the_matrix_alone():
    from bench.cases import select_cases
    from bench.matrix import PLANS, select_cells
    from bench.sweeps import SWEEPS

    assert select_cells("default", "matrix") == list(PLANS["default"].cells)
    assert select_cases("matrix") == []
    assert not [s for s in SWEEPS if "matrix" in s]
    assert "matrix" not in "small_calls"  # cli's test for the small calls
    assert "matrix" not in "predict_sweep"  # and for the prediction sweep
    csr = select_cells("default", "matrix_csr1000")
    assert len(csr) == 4 and all(c.variant.key == "csr1000" for c in csr)


class _Recorder:
    """Records what an estimator was given, fits scikit-learn's."""

    calls = []

    def __init__(self, who, task, params):
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        from bench.matrix import sklearn_params

        self.who, self.params = who, params
        cls = MLPRegressor if task == "regression" else MLPClassifier
        self.model = cls(**sklearn_params(params))  # sklearn has no gelu

    def fit(self, X, y):
        _Recorder.calls.append((self.who, self.params, X, y))
        self.model.fit(X, y)
        return self

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_both_contestants_get_the_same_data_and_hyperparameters(monkeypatch):
    from bench.contestants import Contestant
    from bench.matrix import PLANS, SKLEARN_ACTIVATIONS, matrix_contestants, run_cell

    monkeypatch.delenv("FASTMLP_BENCH_FAKE", raising=False)
    pair = matrix_contestants(
        [
            Contestant("fastmlp", "0", lambda t, p: _Recorder("fastmlp", t, p)),
            Contestant("sklearn", "0", lambda t, p: _Recorder("sklearn", t, p)),
        ]
    )
    plan = PLANS["tiny"]
    for cell in plan.cells:
        if cell.variant.key not in ("base", "csr1000"):
            continue
        _Recorder.calls.clear()
        result = run_cell(cell, plan, pair, reps=1)
        fast = [c for c in _Recorder.calls if c[0] == "fastmlp"]
        skl = [c for c in _Recorder.calls if c[0] == "sklearn"]
        assert len(fast) == len(skl) == 2  # the warm-up fit and one timed fit
        for (_, fp, fX, fy), (_, sp, sX, sy) in zip(fast, skl):
            assert fX is sX and fy is sy  # the very same arrays
            assert fp["activation"] == cell.activation
            if cell.activation in SKLEARN_ACTIVATIONS:
                assert sp == fp
            else:
                assert sp == {**fp, "activation": "relu"}
        timed = fast[-1][1]
        assert timed["max_iter"] == (3 if cell.solver == "lbfgs" else 2)
        assert timed["tol"] == 0.0 and timed["n_iter_no_change"] == 10**9
        assert timed["early_stopping"] is False
        assert result.sklearn_params["activation"] == skl[-1][1]["activation"]
        assert str(fast[-1][2].dtype) == cell.dtype


def _fake_cell_result(cell, fast_loss, skl_loss, ratio, n_iter=2):
    from bench.matrix import agreement
    from bench.results_model import CaseData, CaseResult, ContestantTiming

    result = CaseResult(
        cell.name,
        kind=cell.kind,
        unit="s/epoch",
        epochs=2,
        layer_units=[64, 64, 64, 10],
        data=CaseData("digits", "multiclass", 1437, 64, "float64"),
        cell=cell.describe(),
        ratio=ratio,
        target=cell.target,
        meets_target=ratio >= cell.target,
        contestants={
            "fastmlp": ContestantTiming(loss=fast_loss, n_iter=n_iter, per_unit_s=1e-3),
            "sklearn": ContestantTiming(
                loss=skl_loss, n_iter=2, per_unit_s=ratio * 1e-3
            ),
        },
    )
    result.agreement = agreement(cell, result)
    return result


def test_a_cell_whose_models_differ_is_flagged_and_left_out_of_the_minimum():
    from bench.matrix import VARIANT, Cell, cell_table, summarize

    base = VARIANT["base"]
    same = _fake_cell_result(Cell(base, "relu", "adam", "float64"), 0.5, 0.5, 6.0)
    close32 = _fake_cell_result(
        Cell(base, "tanh", "sgd", "float32"), 0.5, 0.5 * (1 + 5e-4), 2.5
    )
    differ = _fake_cell_result(
        Cell(base, "tanh", "adam", "float64"), 0.5, 0.5 * (1 + 1e-5), 1.5
    )
    extra = _fake_cell_result(Cell(base, "gelu", "adam", "float64"), 0.4, 0.5, 3.0)
    short = _fake_cell_result(
        Cell(base, "elu", "sgd", "float64"), 0.4, 0.5, 1.0, n_iter=1
    )
    assert same.agreement.status == "same"
    assert close32.agreement.status == "same"  # float32: rtol 1e-3
    assert differ.agreement.status == "DIFFERENT"
    assert "relative difference" in differ.agreement.problems[0]
    assert extra.agreement.status == "no sklearn twin"
    assert short.agreement.status == "DIFFERENT"
    assert "ran 1 epochs, not 2" in short.agreement.problems[0]

    summary = summarize([same, close32, differ, extra, short])
    assert summary["minimum"] == close32.name  # 2.5x; 1.5x and 1.0x flagged
    assert summary["minimum_same_activation"] == close32.name
    assert summary["flagged"] == [differ.name, short.name]
    assert summary["below_target"] == [
        close32.name,
        differ.name,
        extra.name,
        short.name,
    ]
    headline = summary["headline"]
    assert f"`{close32.name}`" in headline and "2.50x" in headline
    assert "4 of 5 cells below target" in headline
    assert "2 flagged (models differ), not in the minimum" in headline
    table = cell_table({"cells": [same, differ, extra]})
    assert "**DIFFERENT**" in table and "no twin (sklearn relu)" in table
    assert "(relu)" in table  # sklearn's time of the gelu cell is its relu net's


def test_the_floor_line_counts_the_cells_below_target_near_their_floor():
    from bench.matrix import VARIANT, Cell, cell_table, floor_summary
    from bench.results_model import GemmFloor

    base = VARIANT["base"]
    results = []
    for activation, ratio, over in [
        ("relu", 5.0, 1.1),  # meets its target: not counted
        ("tanh", 2.5, 1.2),
        ("logistic", 3.0, 1.4),
        ("identity", 3.5, 2.0),
    ]:
        result = _fake_cell_result(
            Cell(base, activation, "adam", "float64"), 1, 1, ratio
        )
        sklearn = 3.0 if activation != "identity" else 4.5  # target 4x: 3 under
        result.gemm = GemmFloor(
            "one epoch's products", 1e-3, 10.0, {"fastmlp": over, "sklearn": sklearn}, 1
        )
        results.append(result)
    results.append(
        _fake_cell_result(Cell(VARIANT["csr1000"], "relu", "adam", "float64"), 1, 1, 2)
    )  # below target, but CSR: no floor
    line = floor_summary(results)
    assert line.startswith("Of the 3 dense cells below target, 2 run within 1.5x")
    assert "1.20-2.00, median 1.40); 2 need less than that floor" in line
    assert floor_summary(results[3:4]).endswith("none needs less than that floor.")
    assert floor_summary(results[:1]) is None
    table = cell_table({"cells": results})
    assert "| 1.20 | 3.00 |" in table
    assert table.rstrip().endswith("| - | - |")


def test_a_slow_baseline_is_timed_once_not_skipped():
    from dataclasses import replace

    from bench.contestants import get_contestant
    from bench.matrix import PLANS, matrix_contestants, run_cell

    pair = matrix_contestants([get_contestant("sklearn"), get_contestant("sklearn")])
    assert pair is None  # the matrix needs fastmlp and sklearn
    fake = replace(get_contestant("sklearn"), name="fastmlp")
    pair = matrix_contestants([fake, get_contestant("sklearn")])
    # a budget every warm-up overshoots: the cases would leave both untimed
    plan = replace(PLANS["tiny"], reps=3, budget_s=1e-9)
    cell = plan.cells[0]
    result = run_cell(cell, plan, pair, plan.reps, budget_s=plan.budget_s)
    for name in ("fastmlp", "sklearn"):
        entry = result.contestants[name]
        assert entry.skipped is None
        assert entry.rounds == 1  # the budget still cuts the rounds
    assert _finite_positive(result.ratio)


def test_the_bench_runs_without_jax_and_says_so(tmp_path):
    # jax (and, for speed, torch) made unimportable in the bench's process
    code = """if True:
        import sys

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in ("jax", "jaxlib", "torch"):
                    raise ModuleNotFoundError(f"No module named {name!r}")

        sys.meta_path.insert(0, NotInstalled())
        from bench.cli import main

        sys.exit(main(sys.argv[1:]))
    """
    env = dict(os.environ, FASTMLP_BENCH_FAKE="1")
    proc = subprocess.run(
        [sys.executable, "-c", code, "--tiny", "--no-subprocess", "--threads", "1",
         "--filter", "small_sgd", "--contestants", "fastmlp,sklearn,jax",
         "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["contestant_names"] == ["fastmlp", "sklearn"]
    markdown = (tmp_path / "latest.md").read_text()
    line = next(s for s in markdown.splitlines() if s.startswith("Not installed"))
    assert "jax" in line and "pip install -e .[jax]" in line


class _NotInstalled:
    """An import hook that makes jax, jaxlib and torch look uninstalled."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("jax", "jaxlib", "torch"):
            raise ModuleNotFoundError(f"No module named {name!r}")


def test_jax_is_absent_when_its_import_fails(monkeypatch):
    from bench.contestants import available_contestants, get_contestant

    for name in [m for m in sys.modules if m.partition(".")[0] in ("jax", "jaxlib")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NotInstalled(), *sys.meta_path])
    assert get_contestant("jax") is None
    assert [c.name for c in available_contestants(["sklearn", "jax"])] == ["sklearn"]


def test_the_matrix_runs_jax_on_relu_and_tanh_cells_only():
    from bench.contestants import Contestant, get_contestant
    from bench.jax_mlp import unsupported
    from bench.matrix import PLANS, matrix_contestants

    sklearn = get_contestant("sklearn")
    jax = Contestant("jax", "0", sklearn.make, declines=unsupported)
    fake = Contestant("fastmlp", "0", sklearn.make)
    trio = matrix_contestants([fake, sklearn, jax])
    assert [c.name for c in trio] == ["fastmlp", "sklearn", "jax"]
    for cell in PLANS["tiny"].cells:
        declined = trio[2].declines(cell.case(PLANS["tiny"]).estimator_params("tiny"))
        runs = cell.activation in ("relu", "tanh") and cell.solver != "lbfgs"
        assert (declined is None) == runs, cell.name
    assert "early_stopping=True" in unsupported({"early_stopping": True})


@pytest.mark.parametrize(
    "task, params, dtype",
    [
        ("multiclass", {"solver": "adam", "hidden_layer_sizes": (8, 6)}, "float64"),
        ("binary", {"solver": "sgd", "activation": "tanh"}, "float32"),
        ("regression", {"solver": "sgd", "activation": "logistic"}, "float64"),
    ],
)
def test_a_jax_epoch_gives_sklearns_first_epoch(task, params, dtype):
    pytest.importorskip("jax")
    import numpy as np
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from bench import datasets
    from bench.cases import FORCED
    from bench.jax_mlp import JaxMLP

    if task == "regression":
        data = datasets.regression(120, 6)
    else:
        data = datasets.classification(120, 6, 2 if task == "binary" else 3)
    X = data.X_train.astype(dtype)
    # 120 rows in batches of 16: the last batch is short (8 rows)
    full = {**FORCED, "hidden_layer_sizes": (8,), "batch_size": 16, "max_iter": 1,
            "alpha": 0.01, "learning_rate_init": 0.01, **params}  # fmt: skip
    reference_cls = MLPRegressor if task == "regression" else MLPClassifier
    with warnings.catch_warnings():  # ConvergenceWarning: the epochs are forced
        warnings.simplefilter("ignore")
        reference = reference_cls(**full).fit(X, data.y_train)
    model = JaxMLP(task, **full).fit(X, data.y_train)
    assert model.n_iter_ == reference.n_iter_ == 1
    # same initial weights, batch order, loss and update formulas: rounding only
    rtol = 1e-9 if dtype == "float64" else 1e-4
    assert model.loss_ == pytest.approx(reference.loss_, rel=rtol)
    for ours, theirs in zip(model.coefs_ + model.intercepts_,
                            reference.coefs_ + reference.intercepts_):  # fmt: skip
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=10 * rtol)
    assert model.compile_s_ >= 0 and len(model.epoch_s_) == 1
    X_test = data.X_test.astype(dtype)
    assert model.predict(X_test).shape == reference.predict(X_test).shape
    if task != "regression":
        np.testing.assert_allclose(
            model.predict_proba(X_test), reference.predict_proba(X_test), atol=1e-5
        )


def test_the_tiny_prediction_sweep_writes_its_table_json_and_plot(tiny_run):
    out, _ = tiny_run
    results = json.loads((out / "latest.json").read_text())
    sweep = results["predict_sweep"]
    names = sweep["contestants"]
    assert names[:2] == ["fastmlp", "sklearn"]
    assert ("onnxruntime" in names) == (sweep["onnxruntime"] != "not installed")
    layers = {(e["layers"], e["dtype"]) for e in sweep["nets"]}
    for net in (
        "64 -> 100 -> 10",
        "300 -> 256 -> 128 -> 10",
        "CSR 5000 (1%) -> 64 -> 5",
    ):
        assert {(net, "float64"), (net, "float32")} <= layers
    for entry in sweep["nets"]:
        assert [p["rows"] for p in entry["points"]] == sweep["sizes"]
        sparse = entry["layers"].startswith("CSR")
        # onnxruntime takes dense rows only
        assert ("onnxruntime_note" in entry) == (sparse and "onnxruntime" in names)
        measured = [n for n in names if not (sparse and n == "onnxruntime")]
        for point in entry["points"]:
            for name in measured:
                assert _finite_positive(point["median_s"][name]), (entry, name)
                assert _finite_positive(point["per_row_s"][name])
            assert _finite_positive(point["ratio_sklearn_over_fastmlp"])
            if "onnxruntime" in measured:
                assert _finite_positive(point["ratio_onnxruntime_over_fastmlp"])
            assert "vs_sklearn" in point["targets"]
            assert point["disagree"] == [], point["max_abs_diff"]
    markdown = (out / "latest.md").read_text()
    assert "## Prediction sweep" in markdown
    assert "| rows | fastmlp us | sklearn us |" in markdown
    assert "**300 -> 256 -> 128 -> 10, float32**" in markdown
    png = out / "predict_sweep.png"
    assert "predict_sweep.png" in results["plots"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width = matplotlib.image.imread(png).shape[:2]
    assert height > 300 and width > 300


def test_the_prediction_sweep_runs_without_onnxruntime(monkeypatch, tmp_path):
    from bench import predict_sweep
    from bench.contestants import Contestant, get_contestant

    sklearn = get_contestant("sklearn")
    fake = Contestant("fastmlp", "fake", sklearn.make)
    plan = predict_sweep.PLANS["tiny"]
    monkeypatch.setitem(
        predict_sweep.PLANS,
        "tiny",
        predict_sweep.Plan((1, 3), ("float32",), ("digits",), 60, 1, 1e-4, 1, 1, 0.1),
    )
    monkeypatch.setattr(predict_sweep, "_onnxruntime_version", lambda: None)
    sweep = predict_sweep.run_predict_sweep([fake, sklearn], "tiny")
    assert plan is not predict_sweep.PLANS["tiny"]
    assert sweep["onnxruntime"] == "not installed"
    assert sweep["contestants"] == ["fastmlp", "sklearn"]
    (entry,) = sweep["nets"]
    assert [p["rows"] for p in entry["points"]] == [1, 3]
    assert all(p["ratio_onnxruntime_over_fastmlp"] is None for p in entry["points"])
    text = predict_sweep.section(sweep)
    assert "onnxruntime: not installed" in text
    assert "onnxruntime / fastmlp" not in text
    assert predict_sweep.plot(sweep, str(tmp_path / "p.png"))


def test_every_suite_mode_is_one_row_of_the_modes_table():
    from bench import calls, matrix, predict_sweep, sweeps
    from bench.modes import MODES

    suite = ("tiny", "quick", "default", "full")
    for part, table in (("calls", calls.PLAN), ("sweeps", sweeps.PLANS),
                        ("predict", predict_sweep.PLANS)):  # fmt: skip
        assert set(table) == set(suite), part
        assert all(table[m] is getattr(MODES[m], part) for m in suite), part
    for mode in suite:
        plan = matrix.PLANS[mode]
        assert (plan.epochs, plan.reps) == (
            MODES[mode].matrix.epochs,
            MODES[mode].matrix.reps,
        )
        assert set(predict_sweep.PLANS[mode].nets) <= {
            n.name for n in predict_sweep.NETS
        }
    custom = MODES["custom"]
    assert (custom.calls, custom.sweeps, custom.predict, custom.matrix) == (None,) * 4


@pytest.mark.parametrize(
    ("activation", "dtype"), [("gelu", "float32"), ("tanh", "float64")]
)
def test_batch_phases_reports_each_phase_and_the_products_share(activation, dtype):
    from bench import batch_phases

    # report refuses a pass left with NaN (element maps not prepared, say)
    lines = batch_phases.report([6, 5, 3], activation, dtype, rounds=1, repeats=2)
    text = "\n".join(lines)
    for phase in ("whole pass", "forward products", "bias + activation", "backward"):
        assert phase in text
    assert "G multiply-adds/s" in text
    assert "of a 1024^2 GEMM on one thread" in text
    assert batch_phases.product_macs([6, 5, 3], 200) == (
        200 * (6 * 5 + 5 * 3),
        200 * (6 * 5 + 5 * 3) + 200 * 5 * 3,
    )


def test_batch_phases_refuses_a_pass_that_computed_nan(monkeypatch):
    from bench import batch_phases

    made = batch_phases.problem

    def with_nan_weights(*args, **kwargs):
        x, y, weight, params, grads, net, work = made(*args, **kwargs)
        params[:] = float("nan")
        return x, y, weight, params, grads, net, work

    monkeypatch.setattr(batch_phases, "problem", with_nan_weights)
    with pytest.raises(RuntimeError, match="no real pass"):
        batch_phases.measure([6, 5, 3], "tanh", "float32", rounds=1, repeats=1)


def test_machine_code_hashes_leave_out_numbas_compile_counts():
    from bench.machine_code import without_compile_counts

    first = "call _ZN7fastmlp8_kernels4sync9wait_forB2v17B56c8tJTIeFE5Array"
    later = "call _ZN7fastmlp8_kernels4sync9wait_forB3v123B56c8tJTIeFE5Array"
    assert without_compile_counts(first) == without_compile_counts(later)
    assert without_compile_counts(first) != without_compile_counts(first[:-1])


def test_machine_code_hashes_every_twin_compiled_in_the_process(tmp_path):
    script = """
from fastmlp._kernels import threaded
from bench.machine_code import emitted_code
threaded.chunk(10, 0, 2)  # a call from Python compiles the twin here
code = emitted_code()
print(sorted(code))
print("ret" in code["chunk(int64, int64, int64)"])
"""
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names, has_code = proc.stdout.strip().splitlines()
    assert names == "['chunk(int64, int64, int64)']"
    assert has_code == "True"


def test_one_part_times_the_serial_and_the_one_part_kernel(monkeypatch):
    from bench import one_part

    net = ("4-10-3, batch 8", (4, 10, 3), 150, 8, "float64")
    monkeypatch.setattr(one_part, "NETS", (net,))
    results = one_part.measure(rounds=1)
    assert list(results) == [net[0]]
    serial, in_one_part = results[net[0]]
    assert 0 < serial < 1 and 0 < in_one_part < 1


def test_compile_profile_fits_in_turn():
    from bench import compile_profile

    grid = compile_profile.grid()
    assert len(grid) == 12
    assert {params["solver"] for _, _, _, params in grid} == {"adam", "sgd", "lbfgs"}
    mixed = compile_profile.mixed()
    assert [name.split()[0] for name, _, _, _ in mixed] == ["iris", "digits"] * 2
    assert mixed[0][1].shape == (150, 4) and mixed[1][1].shape == (1797, 64)
