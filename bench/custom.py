"""``python -m bench --custom``: your network on your data, timed as the suite does.

One case built from the command line (data from a file or generated, any
estimator parameter as ``--param name=value``, ``--epochs``) goes through
the suite's own machinery: :func:`bench.cli.run_case` (warm-up, alternated
rounds, medians, paired ratios, compile time, latency and memory in fresh
processes), the same-model check against scikit-learn, and the report's
sections. The report ends, as the output does, with a one-line answer.
Mistakes in the command line or the data exit with status 2 and one line;
nothing is written to ``--out`` unless the whole run succeeds.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import math
import os
import sys
import time
import warnings
from dataclasses import replace

import scipy.sparse as sp

from bench.userdata import UserError

DEFAULT_EPOCHS = {"fit": 10, "lbfgs": 50}
# fastmlp-only parameters that change how it runs, not the model it trains
MODEL_NEUTRAL = ("n_jobs",)
NAMES = {"sklearn": "scikit-learn", "torch": "PyTorch", "jax": "JAX"}
EPOCH_WORDS = {"fit": "epochs", "lbfgs": "L-BFGS iterations"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def parse_args(argv):
    """Parse a custom run's command line.

    Parameters
    ----------
    argv : list of str
        May hold ``--custom``.

    Returns
    -------
    argparse.Namespace
        With ``params`` (dict, values parsed) and ``dtype``.

    Raises
    ------
    UserError
    """
    from bench import cli

    parser = _Parser(
        prog="python -m bench --custom",
        description="Time your network on your data: fastmlp against "
        "scikit-learn, and PyTorch and JAX where installed.",
        allow_abbrev=False,
    )
    parser.add_argument("--custom", action="store_true", help="this mode")
    data = parser.add_argument_group("data (a file, or generated)")
    data.add_argument(
        "--data",
        metavar="FILE",
        help=".npz with X and y, .npy (targets from --y), sparse .npz written "
        "by scipy.sparse.save_npz (targets from --y), .csv or .parquet "
        "(targets from --target)",
    )
    data.add_argument("--target", metavar="COLUMN", help="target column of a table")
    data.add_argument("--y", metavar="FILE", help="targets as .npy")
    data.add_argument("--rows", type=int, metavar="N", help="generated training rows")
    data.add_argument("--features", type=int, metavar="D", help="generated columns")
    data.add_argument("--classes", type=int, metavar="K", help="generated classes (2)")
    data.add_argument(
        "--regression",
        action="store_true",
        help="fit a regressor (generated: make_regression data)",
    )
    data.add_argument(
        "--no-scale",
        dest="scale",
        action="store_false",
        help="use a file's values as they are (default: standardized as the "
        "suite's data, scaler fitted on the training rows)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an estimator parameter, e.g. hidden_layer_sizes=256,128, "
        "solver=sgd, batch_size=64, alpha=1e-3; dtype=float32 casts the data",
    )
    model.add_argument(
        "--epochs",
        type=int,
        metavar="E",
        help="epochs (L-BFGS: iterations) per fit, forced "
        f"(default {DEFAULT_EPOCHS['fit']}; L-BFGS {DEFAULT_EPOCHS['lbfgs']})",
    )
    run = parser.add_argument_group("run")
    run.add_argument("--reps", type=int, metavar="N", help="alternated rounds (5)")
    cli.add_run_options(run, os.path.join(cli.DEFAULT_OUT, "custom"))
    args = parser.parse_args(argv)
    args.mode = "custom"
    cli.check_run_options(parser, args)
    for needed in ("fastmlp", "sklearn"):
        if needed not in args.contestants:
            raise UserError(f"--contestants must include {needed}: the answer needs it")
    _check_data_options(args)
    if args.epochs is not None and args.epochs < 1:
        raise UserError("--epochs must be at least 1")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"--out {args.out} is a file, not a directory")
    args.params, args.dtype = parse_params(args.param)
    return args


def _check_data_options(args):
    generated = [f"--{n}" for n in ("rows", "features", "classes") if getattr(args, n)]
    if args.data is not None:
        if generated:
            raise UserError(f"--data and {' '.join(generated)}: give one or the other")
        return
    if args.target is not None or args.y is not None:
        raise UserError("--target and --y go with --data")
    if args.rows is None or args.features is None:
        raise UserError("give --data FILE, or --rows N --features D to generate data")
    if args.rows < 10 or args.features < 1:
        raise UserError("--rows must be at least 10 and --features at least 1")
    if args.regression and args.classes is not None:
        raise UserError("--classes and --regression: give one or the other")
    if args.classes is None:
        args.classes = 2
    elif args.classes < 2:
        raise UserError("--classes must be at least 2")


def parse_value(name, text):
    """A ``--param`` value as Python: numbers, tuples, None, booleans, or text.

    Parameters
    ----------
    name : str
    text : str

    Returns
    -------
    object
    """
    text = text.strip()
    if text.lower() in ("none", "null"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    if isinstance(value, list):
        value = tuple(value)
    if name == "hidden_layer_sizes":
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,)
        if not (
            isinstance(value, tuple)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise UserError(
                f"hidden_layer_sizes={text}: give layer sizes as 256,128 or (256,128)"
            )
    return value


def parse_params(items):
    """``--param`` items as a dict, and the data dtype (``dtype=``).

    Parameters
    ----------
    items : list of str

    Returns
    -------
    params : dict
    dtype : {"float64", "float32"}
    """
    params, dtype = {}, "float64"
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--param {item}: expected NAME=VALUE")
        if name == "dtype":
            dtype = text.strip()
            if dtype not in ("float64", "float32"):
                raise UserError(f"--param dtype={dtype}: float64 or float32")
            continue
        if name == "max_iter":
            raise UserError("set the epoch count with --epochs E, not max_iter")
        params[name] = parse_value(name, text)
    return params, dtype


def check_params(params, task):
    """Check parameter names against the estimator's, values by its rules.

    Parameters
    ----------
    params : dict
    task : str

    Raises
    ------
    UserError
    """
    from bench.contestants import _fastmlp_classes

    classifier, regressor = _fastmlp_classes()
    cls = regressor if task == "regression" else classifier
    known = cls().get_params()
    for name in params:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(
                f"--param {name}: {cls.__name__} has no such parameter{hint}; "
                f"it has {', '.join(sorted(known))}"
            )
    try:
        cls(**params)._validate_params()
    except (ValueError, TypeError) as exc:
        raise UserError(f"--param: {exc}".splitlines()[0]) from None


def sklearn_twin(params, task):
    """What scikit-learn's estimator takes, and what of fastmlp's net it lacks.

    Parameters
    ----------
    params : dict
    task : str

    Returns
    -------
    keep : frozenset of str
        scikit-learn's parameter names (see :func:`twin_params`).
    lacks : list of str
        The settings scikit-learn cannot train (empty: the very same model).
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from bench.contestants import _fastmlp_classes

    fast_cls = _fastmlp_classes()[task == "regression"]
    skl_cls = MLPRegressor if task == "regression" else MLPClassifier
    keep = frozenset(skl_cls().get_params())
    defaults = fast_cls().get_params()
    twin = twin_params(params, keep)
    lacks = [
        f"{k}={v!r}"
        for k, v in params.items()
        if (k not in keep and k not in MODEL_NEUTRAL and v != defaults[k])
        or (k == "activation" and twin[k] != v)
    ]
    return keep, lacks


def twin_params(params, keep):
    """scikit-learn's nearest network to fastmlp's ``params``.

    Parameters
    ----------
    params : dict
    keep : frozenset of str
        scikit-learn's parameter names.

    Returns
    -------
    dict
        ``params`` without fastmlp's own parameters, with scikit-learn's
        stand-in for an activation it does not have.
    """
    from bench.matrix import sklearn_params

    return {k: v for k, v in sklearn_params(params).items() if k in keep}


def _try_twin(task, params, data):
    """One epoch of scikit-learn's network on a few rows: a bad value fails here."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPRegressor if task == "regression" else MLPClassifier
    rows = min(data.n_train, 1000)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls(**{**params, "max_iter": 1}).fit(
                data.X_train[:rows], data.y_train[:rows]
            )
    except (ValueError, TypeError) as exc:
        raise UserError(f"--param: {exc}".splitlines()[0]) from None


def custom_contestants(contestants, keep, lacks, sparse):
    """The contestants for this configuration.

    scikit-learn gets its twin's parameters; PyTorch and JAX decline what
    scikit-learn lacks (they are written after it), and PyTorch sparse input.

    Parameters
    ----------
    contestants : list of Contestant
    keep : frozenset of str
        scikit-learn's parameter names (see :func:`twin_params`).
    lacks : list of str
    sparse : bool

    Returns
    -------
    list of Contestant
    """
    out = []
    for contestant in contestants:
        if contestant.name == "sklearn":

            def make(task, params, make=contestant.make):
                return make(task, twin_params(params, keep))

            contestant = replace(contestant, make=make)
        elif contestant.name in ("torch", "jax"):
            reason = None
            if lacks:
                reason = f"written after scikit-learn: no {', '.join(lacks)}"
            elif sparse and contestant.name == "torch":
                reason = "this contestant takes dense arrays only"
            if reason is not None:
                contestant = replace(contestant, declines=lambda params, r=reason: r)
        out.append(contestant)
    return out


def _power_of_ten(value):
    """The smallest power of ten at or above ``value``, as ``1e-9``."""
    return f"1e{math.ceil(math.log10(value))}"


def answer(result, lacks):
    """The one-line answer: how much faster, and whether the models agree.

    Parameters
    ----------
    result : CaseResult
        The case's result, with ``agreement``.
    lacks : list of str
        What scikit-learn could not train (see :func:`sklearn_twin`).

    Returns
    -------
    str
    """
    per = "per epoch"
    if result.kind == "lbfgs":
        per = f"per fit ({result.epochs} L-BFGS iterations)"
    ratio = result.entry("fastmlp").speedup_vs_sklearn
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        states = []
        for name in ("fastmlp", "sklearn"):
            entry = result.entry(name)
            state = next(
                (
                    k
                    for k in ("error", "declined", "skipped")
                    if getattr(entry, k) is not None
                ),
                None,
            )
            states.append(f"{NAMES.get(name, name)} {state or 'not timed'}")
        return "No answer: " + ", ".join(states) + " (see the report)."
    speed = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
    text = f"fastmlp trained your net {speed} {per} than scikit-learn"
    check = result.agreement
    if lacks:
        text += (
            f" (which has no {', '.join(lacks)}: it trained its nearest net, "
            "so the losses are not compared)"
        )
    elif check.status == "same":
        diff = check.loss_rel_diff
        text += (
            ", the very same loss"
            if diff == 0
            else f", same loss to {_power_of_ten(diff)}"
        )
    elif check.status == "DIFFERENT":
        text += f", but the models differ: {check.problems[0]}"
    else:
        text += f" (losses not compared: {check.problems[0]})"
    others = [
        f"{NAMES[n]} {result.entry(n).speedup_vs_sklearn:.2f}x"
        for n in ("torch", "jax")
        if result.entry(n).speedup_vs_sklearn is not None
    ]
    if others:
        text += "; " + " and ".join(others) + " scikit-learn's speed"
    return text + "."


def prepare(args):
    """Data, case and scikit-learn's twin: every user mistake surfaces here.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    case : Case
    info : dict
        ``task_choice``, ``sklearn_keep``, ``sklearn_lacks``, ``sparse``.
    """
    from bench import userdata
    from bench.cases import Case
    from bench.measure import layer_units

    data, why = userdata.load(args, args.dtype)
    check_params(args.params, data.task)
    keep, lacks = sklearn_twin(args.params, data.task)
    _try_twin(data.task, twin_params(args.params, keep), data)
    kind = "lbfgs" if args.params.get("solver", "adam") == "lbfgs" else "fit"
    epochs = args.epochs or DEFAULT_EPOCHS[kind]
    full = {"hidden_layer_sizes": (100,), **args.params}
    units = " -> ".join(str(u) for u in layer_units(data, full))
    title = (
        f"your net: {units}, {full.get('activation', 'relu')}, "
        f"{full.get('solver', 'adam')}, batch {full.get('batch_size', 'auto')}, "
        f"{args.dtype}"
    )
    case = Case(
        "custom", title, kind, lambda mode: data, args.params, {"custom": epochs}
    )
    info = {
        "task_choice": why,
        "sklearn_keep": keep,
        "sklearn_lacks": lacks,
        "sparse": sp.issparse(data.X_train),
    }
    return case, info


def main(argv):
    """Run a custom benchmark and write its report.

    Parameters
    ----------
    argv : list of str

    Returns
    -------
    int
        0; 1 when fastmlp and scikit-learn could not both be timed; 2 for a
        mistake in the command line or the data.
    """
    from bench import cli
    from bench.results_model import RunResults

    say = cli.say
    try:
        args = parse_args(argv)
        say("checking the data and the parameters")
        case, info = prepare(args)
    except UserError as exc:
        print(f"python -m bench --custom: error: {exc}", file=sys.stderr)
        return 2
    data = case.data("custom")
    say(f"task: {info['task_choice']}")
    say(f"data: {data.name}, {data.X_train.dtype}")
    say(f"case: {case.title}, {case.epochs['custom']} {EPOCH_WORDS[case.kind]}")
    if info["sklearn_lacks"]:
        say(
            f"scikit-learn has no {', '.join(info['sklearn_lacks'])}: it trains "
            "its nearest network"
        )
    session = cli.start_session(argv, args)
    contestants = custom_contestants(
        session.contestants,
        info["sklearn_keep"],
        info["sklearn_lacks"],
        info["sparse"],
    )
    twin = twin_params(case.estimator_params("custom"), info["sklearn_keep"])
    t0 = time.perf_counter()
    result = cli.run_case(
        case,
        args,
        contestants,
        gemm=not info["sparse"],
        skip_slow=False,
        params_by_name={"sklearn": twin},
    )
    say(cli.case_line(1, 1, result, time.perf_counter() - t0))
    from bench.measure import same_model

    result.agreement = same_model(
        result, case.kind, args.dtype, twin=not info["sklearn_lacks"]
    )
    line = answer(result, info["sklearn_lacks"])
    results = RunResults(
        contestant_names=session.names,
        cases=[result],
        custom={
            "task_choice": info["task_choice"],
            "sklearn_lacks": info["sklearn_lacks"],
            "sklearn_params": twin,
            "params_given": args.params,
            "dtype": args.dtype,
            "data": data.name,
            "answer": line,
        },
    )
    cli.finish_run(results, session)
    try:
        written = cli.write_outputs(results, args.out, session.started)
    except OSError as exc:
        print(f"python -m bench --custom: error: --out: {exc}", file=sys.stderr)
        return 2
    from bench.report import summary_table

    say("")
    say(summary_table(written))
    say("")
    say(f"wrote {os.path.join(args.out, 'latest.md')}, latest.json and PNG")
    say(line)
    timed = all(result.entry(n).per_unit_s is not None for n in ("fastmlp", "sklearn"))
    return 0 if timed else 1
