"""``python -m bench --custom``: the command line, its errors, and tiny runs.

As in ``test_bench_smoke.py``, the end-to-end runs use ``FASTMLP_BENCH_FAKE=1``
(sklearn's classes stand in for fastmlp: no numba compile) and tiny sizes; no
timing is asserted, only that the report is written and ends in the answer.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bench import custom
from bench.results_model import (
    Agreement,
    CaseResult,
    ContestantTiming,
    RunNotes,
    RunResults,
)
from bench.userdata import UserError, choose_task, read_file

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

GENERATED = ["--custom", "--rows", "60", "--features", "5"]


def _run(args, tmp_path, fake=True):
    env = dict(os.environ)
    if fake:
        env["FASTMLP_BENCH_FAKE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _csv(path, rows=80, target="price", regression=False, extra=None):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((rows, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.standard_normal(rows)
    if not regression:
        y = (y > 0).astype(int)
    import pandas as pd

    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame[target] = y
    for name, values in (extra or {}).items():
        frame[name] = values
    frame.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("hidden_layer_sizes", "256,128", (256, 128)),
        ("hidden_layer_sizes", "(256, 128)", (256, 128)),
        ("hidden_layer_sizes", "[64]", (64,)),
        ("hidden_layer_sizes", "64", (64,)),
        ("alpha", "1e-3", 1e-3),
        ("batch_size", "64", 64),
        ("batch_size", "auto", "auto"),
        ("activation", "tanh", "tanh"),
        ("early_stopping", "true", True),
        ("nesterovs_momentum", "False", False),
        ("random_state", "None", None),
    ],
)
def test_param_values_are_parsed_as_python(name, text, value):
    assert custom.parse_value(name, text) == value


def test_the_command_line_gives_params_dtype_and_defaults():
    args = custom.parse_args(
        [*GENERATED, "--param", "hidden_layer_sizes=8,4", "--param", "dtype=float32",
         "--param", "solver=sgd", "--epochs", "3"]
    )  # fmt: skip
    assert args.params == {"hidden_layer_sizes": (8, 4), "solver": "sgd"}
    assert args.dtype == "float32"
    assert (args.rows, args.features, args.classes, args.epochs) == (60, 5, 2, 3)
    assert args.mode == "custom" and args.reps == 5
    assert args.out.endswith(os.path.join("bench", "results", "custom"))
    assert args.contestants == ["fastmlp", "sklearn", "torch", "jax"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--custom"], "give --data FILE, or --rows N --features D"),
        (["--custom", "--rows", "50"], "give --data FILE"),
        ([*GENERATED, "--data", "x.csv"], "--data and --rows --features"),
        ([*GENERATED, "--classes", "3", "--regression"], "--classes and --regression"),
        ([*GENERATED, "--classes", "1"], "--classes must be at least 2"),
        ([*GENERATED, "--target", "y"], "--target and --y go with --data"),
        ([*GENERATED, "--param", "alpha"], "--param alpha: expected NAME=VALUE"),
        ([*GENERATED, "--param", "max_iter=5"], "with --epochs E"),
        ([*GENERATED, "--param", "dtype=float16"], "float64 or float32"),
        ([*GENERATED, "--param", "hidden_layer_sizes=a,b"], "layer sizes as 256,128"),
        ([*GENERATED, "--epochs", "0"], "--epochs must be at least 1"),
        ([*GENERATED, "--contestants", "fastmlp,torch"], "must include sklearn"),
        ([*GENERATED, "--contestants", "fastmlp,sklearn,tf"], "unknown contestants"),
        ([*GENERATED, "--epochs", "two"], "invalid int value"),
        ([*GENERATED, "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_command_line_mistakes_are_one_line_errors(argv, message):
    with pytest.raises(UserError, match=None) as info:
        custom.parse_args(argv)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_parameter_names_and_values_are_checked_against_the_estimator():
    with pytest.raises(UserError, match="did you mean hidden_layer_sizes"):
        custom.check_params({"hiden_layer_sizes": (8,)}, "binary")
    with pytest.raises(UserError, match="'activation' parameter .* Got 'sigmoid'"):
        custom.check_params({"activation": "sigmoid"}, "binary")
    with pytest.raises(UserError, match="MLPRegressor has no such parameter"):
        custom.check_params({"class_weight": "balanced"}, "regression")
    custom.check_params({"alpha": 1e-3, "solver": "sgd"}, "multiclass")


def test_scikit_learn_trains_its_nearest_net_and_says_what_it_lacks():
    pytest.importorskip("fastmlp")
    params = {"activation": "gelu", "dropout": 0.2, "n_jobs": 1, "alpha": 0.1}
    keep, lacks = custom.sklearn_twin(params, "binary")
    assert lacks == ["activation='gelu'", "dropout=0.2"]  # n_jobs: same model
    assert custom.twin_params(params, keep) == {"activation": "relu", "alpha": 0.1}
    keep, lacks = custom.sklearn_twin({"n_jobs": 1, "dropout": 0.0}, "regression")
    assert lacks == []


def test_torch_and_jax_decline_what_sklearn_lacks_and_torch_sparse_input():
    from bench.contestants import Contestant, get_contestant

    sklearn = get_contestant("sklearn")
    trio = [sklearn, Contestant("torch", "0", sklearn.make),
            Contestant("jax", "0", sklearn.make)]  # fmt: skip
    keep = frozenset(["alpha", "activation", "max_iter"])
    skl, torch, jax = custom.custom_contestants(trio, keep, ["dropout=0.2"], False)
    assert "no dropout=0.2" in torch.declines({}) and jax.declines({})
    model = skl.make("binary", {"alpha": 0.5, "dropout": 0.2, "max_iter": 2})
    assert (model.alpha, model.max_iter) == (0.5, 2)
    _, torch, jax = custom.custom_contestants(trio, keep, [], True)
    assert "dense arrays only" in torch.declines({})
    assert jax.declines({}) is None


# --------------------------------------------------------------------- data


def test_the_task_follows_the_target_or_regression():
    assert choose_task(np.array([0.5, 1.25, 2.0]))[0] == "regression"
    task, why = choose_task(np.array([0.0, 1.0, 2.0, 1.0]))
    assert task == "multiclass" and "3 classes" in why and "--regression" in why
    assert choose_task(np.array(["cat", "dog"]))[0] == "binary"
    assert choose_task(np.array([1, 2, 1]), regression=True)[0] == "regression"
    assert choose_task(np.array([[0, 1], [1, 1]]))[0] == "multilabel"
    with pytest.raises(UserError, match="needs numbers"):
        choose_task(np.array(["a", "b"]), regression=True)
    with pytest.raises(UserError, match="single value"):
        choose_task(np.array([3, 3, 3]))


def test_every_file_format_reads(tmp_path):
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((20, 3)), np.arange(20) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    sp.save_npz(tmp_path / "s.npz", sp.csr_matrix(X * (X > 0)))
    csv = _csv(tmp_path / "t.csv", rows=20)
    cases = [
        (read_file(str(tmp_path / "d.npz")), np.ndarray),
        (read_file(str(tmp_path / "X.npy"), y_path=str(tmp_path / "y.npy")), None),
        (read_file(str(tmp_path / "s.npz"), y_path=str(tmp_path / "y.npy")), "csr"),
        (read_file(str(csv), target="price"), None),
    ]
    try:
        import pandas as pd

        pd.read_csv(csv).to_parquet(tmp_path / "t.parquet")
        cases.append((read_file(str(tmp_path / "t.parquet"), target="price"), None))
    except ImportError:  # no pyarrow or fastparquet here
        pass
    for (X_read, y_read), kind in cases:
        assert X_read.shape[0] == y_read.shape[0] == 20
        assert sp.issparse(X_read) == (kind == "csr")


@pytest.mark.parametrize(
    "setup, extra, message",
    [
        ("missing", [], "data file not found"),
        ("csv", ["--target", "cost"], "has no column 'cost' (its columns: a, b, c"),
        ("csv", [], "name its target column with --target"),
        ("text_csv", ["--target", "price"], "feature column(s) 'color' are not num"),
        ("npy", [], "give its targets with --y"),
        ("sparse", [], "is a sparse matrix: give its targets with --y"),
        ("xlsx", [], "unsupported data file type .xlsx"),
        ("bad_npz", [], "holds X, z: expected X and y"),
        ("csv", ["--target", "price", "--param", "solver=newton"], "'solver' param"),
        ("csv", ["--target", "price", "--param", "hidden_layer_sizes=0"], "--param"),
    ],
)
def test_data_mistakes_are_one_line_errors(tmp_path, setup, extra, message):
    path = tmp_path / {"missing": "none.csv", "csv": "t.csv", "text_csv": "t.csv",
                       "npy": "X.npy", "sparse": "s.npz", "xlsx": "t.xlsx",
                       "bad_npz": "b.npz"}[setup]  # fmt: skip
    if setup == "csv":
        _csv(path)
    elif setup == "text_csv":
        _csv(path, extra={"color": ["red", "blue"] * 40})
    elif setup == "npy":
        np.save(path, np.zeros((20, 2)))
    elif setup == "sparse":
        sp.save_npz(path, sp.eye(20, format="csr"))
    elif setup == "xlsx":
        path.write_bytes(b"PK")
    elif setup == "bad_npz":
        np.savez(path, X=np.zeros((20, 2)), z=np.zeros(20))
    with pytest.raises(UserError) as info:
        custom.prepare(custom.parse_args(["--custom", "--data", str(path), *extra]))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_error_exits_2_with_one_line_and_leaves_out_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "latest.md").write_text("an earlier run")
    csv = _csv(tmp_path / "t.csv")
    proc = _run(["--custom", "--data", str(csv), "--target", "cost",
                 "--out", str(out)], tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("python -m bench --custom: error: ")
    assert "has no column 'cost'" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["latest.md"]
    assert (out / "latest.md").read_text() == "an earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "t.csv"]


def test_a_failed_write_leaves_no_half_written_output(tmp_path, monkeypatch):
    from bench import cli, report

    def broken(results):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report, "render", broken)
    out = tmp_path / "out"
    run = RunNotes("python -m bench", [], "tiny", 1, 0.0, None, False, "now",
                   0.0, 0.0, None, [None, None], 0.0)  # fmt: skip
    with pytest.raises(RuntimeError, match="render failed"):
        cli.write_outputs(RunResults([], run=run), str(out), 0.0)
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------- end to end


def test_a_custom_run_on_generated_data_writes_the_report(tmp_path):
    out = tmp_path / "gen"
    proc = _run([*GENERATED, "--classes", "3", "--epochs", "2", "--reps", "1",
                 "--param", "hidden_layer_sizes=8", "--param", "dtype=float32",
                 "--contestants", "fastmlp,sklearn", "--threads", "1",
                 "--no-subprocess", "--out", str(out)], tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("fastmlp trained your net ")
    assert "per epoch than scikit-learn" in last
    assert "task: classification, 3 classes" in proc.stdout
    markdown = (out / "latest.md").read_text()
    assert f"**{last}**" in markdown
    assert "## Your configuration" in markdown and "5 -> 8 -> 3" in markdown
    assert "| custom | s/epoch |" in markdown
    assert (out / "speedup_by_case.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((out / "latest.json").read_text())
    (case,) = results["cases"]
    assert case["data"]["dtype"] == "float32" and case["epochs"] == 2
    assert case["agreement"]["status"] == "same"  # the fake is sklearn itself
    assert results["custom"]["answer"] == last


def test_a_custom_run_on_a_csv_file_writes_the_report(tmp_path):
    csv = _csv(tmp_path / "houses.csv", rows=120, regression=True)
    out = tmp_path / "csv"
    proc = _run(["--custom", "--data", str(csv), "--target", "price",
                 "--epochs", "2", "--reps", "1", "--param", "hidden_layer_sizes=6",
                 "--param", "solver=sgd", "--contestants", "fastmlp,sklearn",
                 "--threads", "1", "--out", str(out)], tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "task: regression (target column 'price' has non-integer values)" in (
        proc.stdout
    )
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("fastmlp trained your net ")
    markdown = (out / "latest.md").read_text()
    assert f"**{last}**" in markdown
    assert "houses.csv 96x4 (+24 test)" in markdown
    # the fresh processes ran: compile time, latency and memory
    assert "## Compile time, first-call latency, peak memory" in markdown
    results = json.loads((out / "latest.json").read_text())
    fresh = results["cases"][0]["fresh"]
    for name in ("fastmlp", "sklearn"):
        assert "warm_error" not in fresh[name], fresh[name]
        assert fresh[name]["peak_mib"] >= 0
    assert sorted(p.name for p in out.iterdir()) == [
        "latest.json", "latest.md", "speedup_by_case.png"
    ]  # fmt: skip


# ------------------------------------------------------------------ answer


def _result(ratio, status="same", diff=3e-12, kind="fit", others=None):
    entries = {"fastmlp": ContestantTiming(speedup_vs_sklearn=ratio),
               "sklearn": ContestantTiming()}  # fmt: skip
    for name, value in (others or {}).items():
        entries[name] = ContestantTiming(speedup_vs_sklearn=value)
    problems = [] if status == "same" else ["training loss 1 vs 2"]
    agreement = Agreement(problems, loss_rel_diff=diff, status=status)
    return CaseResult("custom", kind=kind, epochs=50, contestants=entries,
                      agreement=agreement)  # fmt: skip


def test_the_answer_says_how_much_faster_and_how_close_the_losses():
    assert custom.answer(_result(6.14), []) == (
        "fastmlp trained your net 6.1x faster per epoch than scikit-learn, "
        "same loss to 1e-11."
    )
    assert custom.answer(_result(6.14, diff=0.0), []).endswith(", the very same loss.")
    assert "2.0x slower per fit (50 L-BFGS iterations)" in custom.answer(
        _result(0.5, kind="lbfgs"), []
    )
    assert "but the models differ: training loss 1 vs 2" in custom.answer(
        _result(3.0, status="DIFFERENT"), []
    )
    assert "which has no dropout=0.2: it trained its nearest net" in custom.answer(
        _result(3.0, status="no sklearn twin"), ["dropout=0.2"]
    )
    text = custom.answer(_result(3.0, others={"torch": 0.45, "jax": 1.2}), [])
    assert text.endswith("; PyTorch 0.45x and JAX 1.20x scikit-learn's speed.")
    missing = _result(None)
    missing.contestants["fastmlp"] = ContestantTiming(error="boom")
    assert custom.answer(missing, []).startswith("No answer: fastmlp error")
