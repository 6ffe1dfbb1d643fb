"""Choosing split or whole batches by timing (``fastmlp._runtime.split_chooser``).

First ``FasterPath`` alone, fed made-up times; then whole fits with
``n_jobs=None`` whose calls go the faster way and give the serial model.
"""

import functools
import math
import time

import pytest
from threadpoolctl import threadpool_limits

import fastmlp
from fastmlp._engine import prediction, training
from fastmlp._runtime import split_chooser, thread_plan, worker_threads
from fastmlp._runtime.split_chooser import FasterPath
from tests._split_helpers import assert_same_model, data, n_parts_used, needs_threads


def run(path, times, units=1):
    """Record calls of ``times[split](n)`` while ``path`` decides.

    ``n`` counts the calls of that way, from 1. Returns the ways the calls
    went, in order.
    """
    ways = []
    while path.deciding:
        split = path.split()
        ways.append(split)
        path.record(split, times[split](ways.count(split)) * units, units)
    return ways


@pytest.mark.parametrize("split", [True, False])
def test_without_choosing_the_plan_holds(split):
    path = FasterPath(split, choosing=False)
    assert not path.deciding
    for _ in range(10):
        assert path.split() is split
        path.record(not split, 1.0, 1)  # counted, not timed
    assert not path.deciding
    assert path.calls_by_way() == ((0, 10) if split else (10, 0))


@pytest.mark.parametrize("faster", [True, False])
def test_two_split_calls_decide_when_far_apart(faster):
    times = {faster: lambda call: 1.0 + 0.01 * call, not faster: lambda call: 1.5}
    path = FasterPath(True, choosing=True)
    assert path.deciding
    ways = run(path, times, units=7)
    # whole trials first, then split ones back to back (the other core warm)
    assert ways == [False, False, False, True, True]
    assert path.split() is faster
    assert path.calls_by_way() == (2, 3)


def test_close_times_take_all_trials_and_the_lower_best():
    # split: 1.0, 1.3, 1.3, 1.3; whole: 1.1 each: split's best is lower
    times = {True: lambda call: 1.0 if call == 1 else 1.3, False: lambda c: 1.1}
    path = FasterPath(False, choosing=True, trials=4)
    ways = run(path, times)
    assert ways == [False] * 4 + [True] * 4
    assert path.split() is True
    # split: 1.2 then 1.3s; whole: 1.5, 1.1, 1.1
    times = {
        True: lambda call: 1.2 if call == 1 else 1.3,
        False: lambda c: 1.5 if c == 1 else 1.1,
    }
    path = FasterPath(True, choosing=True, trials=3)
    assert run(path, times) == [False] * 3 + [True] * 3
    assert path.split() is False


def test_one_slow_outlier_does_not_decide():
    # the first split call is slow (the other core cold): split is still chosen
    times = {True: lambda call: 1.9 if call == 1 else 1.0, False: lambda call: 1.2}
    path = FasterPath(False, choosing=True, trials=3)
    assert run(path, times) == [False] * 3 + [True] * 3
    assert path.split() is True


def test_times_are_per_unit_of_work():
    path = FasterPath(True, choosing=True)
    # split calls do 10 units in 2 s, whole calls 1 unit in 1 s: split wins
    for _ in range(3):
        path.record(False, 1.0, 1)
    for _ in range(2):
        path.record(True, 2.0, 10)
    assert not path.deciding
    assert path.split() is True


def test_both_ways_are_timed_again_after_recheck_seconds():
    times = {True: lambda call: 1.0, False: lambda call: 2.0}
    path = FasterPath(False, choosing=True, recheck_seconds=5.0)
    run(path, times)
    assert path.split() is True
    for _ in range(4):
        path.record(path.split(), 1.0, 10)  # seconds count, not units
        assert not path.deciding
    path.record(path.split(), 1.0, 1)
    assert path.deciding
    # conditions changed: whole is now the faster
    run(path, {True: lambda call: 3.0, False: lambda call: 2.0})
    assert path.split() is False


def test_infinite_or_zero_times_still_decide():
    path = FasterPath(True, choosing=True)
    run(path, {True: lambda call: 0.0, False: lambda call: math.inf})
    assert path.split() is True


def test_a_much_slower_split_call_turns_calls_whole():
    times = {True: lambda call: 1.0, False: lambda call: 2.0}
    path = FasterPath(True, choosing=True, recheck_seconds=50.0, probation_seconds=3)
    run(path, times, units=10)
    assert path.split() is True
    path.record(True, 19.0, 10)  # 1.9x its best trial: noise, kept
    path.record(True, 1.0, 1)  # a short call: per unit, 1x
    assert not path.deciding and path.split() is True
    path.record(True, 21.0, 10)  # 2.1x: a stall of the host, or a competitor
    assert not path.deciding and path.split() is True
    path.record(True, 22.0, 10)  # twice in a row: a competitor
    assert not path.deciding and path.split() is False
    # whole for probation_seconds of calls, however slow they are
    path.record(False, 2.5, 0.1)
    assert not path.deciding and path.split() is False
    path.record(False, 0.6, 1)
    assert path.deciding  # then both are timed again
    run(path, times, units=10)
    assert path.split() is True


def test_slow_split_calls_apart_do_not_trip():
    times = {True: lambda call: 1.0, False: lambda call: 2.0}
    path = FasterPath(True, choosing=True, recheck_seconds=1e9)
    run(path, times, units=10)
    for _ in range(5):  # one stall now and then: calls stay split
        path.record(True, 30.0, 10)
        path.record(True, 10.0, 10)
        assert not path.deciding and path.split() is True


def test_slow_whole_calls_stay_whole():
    # other processes on the cores slow whole calls; split ones would be far worse
    times = {True: lambda call: 2.0, False: lambda call: 1.0}
    path = FasterPath(True, choosing=True, recheck_seconds=1e9)
    run(path, times)
    assert path.split() is False
    for seconds in (1.0, 5.0, 50.0):
        path.record(False, seconds, 1)
        assert not path.deciding and path.split() is False


def test_a_zero_best_trial_sets_no_tripwire():
    path = FasterPath(True, choosing=True, recheck_seconds=1e9)
    run(path, {True: lambda call: 0.0, False: lambda call: 1.0})
    path.record(True, 5.0, 1)
    assert not path.deciding and path.split() is True


@pytest.fixture
def clock(monkeypatch):
    """``time.monotonic`` as ``split_chooser`` sees it, set by the test."""
    now = [100.0]
    monkeypatch.setattr(split_chooser.time, "monotonic", lambda: now[0])
    return now


@pytest.mark.parametrize("faster", [True, False])
def test_a_decision_holds_for_the_next_paths_of_its_key(faster, clock):
    times = {faster: lambda call: 1.0, not faster: lambda call: 2.0}
    first = FasterPath(not faster, choosing=True, key="net")
    assert run(first, times) == [False, False, False, True, True]
    clock[0] += 1.9
    again = FasterPath(not faster, choosing=True, key="net")
    assert not again.deciding and again.split() is faster  # no trial calls
    other = FasterPath(not faster, choosing=True, key="other net")
    assert other.deciding
    unkeyed = FasterPath(not faster, choosing=True)
    assert unkeyed.deciding
    obeyed = FasterPath(not faster, choosing=False, key="net")
    assert obeyed.split() is (not faster)  # an explicit n_jobs
    clock[0] += 0.2  # 2.1 s after the decision: timed again
    assert FasterPath(not faster, choosing=True, key="net").deciding


def test_a_remembered_decision_sets_no_tripwire_on_its_first_call(clock):
    run(
        FasterPath(False, choosing=True, key="net"),
        {True: lambda c: 1.0, False: lambda c: 2.0},
    )
    path = FasterPath(False, choosing=True, key="net", recheck_seconds=1e9)
    assert path.split() is True
    path.record(True, 5.0, 1)  # the first call after idling: cold, kept
    assert path.split() is True and not path.deciding
    path.record(True, 5.0, 1)  # the second: conditions changed, time again
    assert path.deciding and path.split() is False  # whole trials first


def test_a_new_decision_replaces_the_remembered_one(clock):
    run(
        FasterPath(False, choosing=True, key="net"),
        {True: lambda c: 1.0, False: lambda c: 2.0},
    )
    path = FasterPath(False, choosing=True, key="net", recheck_seconds=4.0)
    for _ in range(3):
        path.record(True, 1.2, 1)
    assert not path.deciding
    path.record(True, 1.2, 1)  # past recheck_seconds: both timed again
    assert path.deciding
    run(path, {True: lambda c: 3.0, False: lambda c: 2.0})
    assert path.split() is False
    assert FasterPath(True, choosing=True, key="net").split() is False


def test_a_remembered_whole_decision_is_not_held_to_the_margin(clock):
    run(
        FasterPath(True, choosing=True, key="net"),
        {True: lambda c: 2.0, False: lambda c: 1.0},
    )
    held = FasterPath(True, choosing=True, key="net", recheck_seconds=1e9)
    assert held.split() is False
    held.record(False, 3.0, 1)
    held.record(False, 1.6, 1)
    assert not held.deciding and held.split() is False


def test_a_remembered_decision_is_timed_again_when_its_conditions_are_gone(clock):
    times = {True: lambda c: 1.0, False: lambda c: 1.5}
    run(FasterPath(False, choosing=True, key="net"), times)
    held = FasterPath(False, choosing=True, key="net", recheck_seconds=1e9)
    held.record(True, 3.0, 1)  # cold
    held.record(True, 1.2, 1)  # within margin of the remembered 1.0
    assert not held.deciding and held.split() is True
    held.record(True, 1.3, 1)  # later calls: only the tripwire
    assert not held.deciding
    moved = FasterPath(False, choosing=True, key="net", recheck_seconds=1e9)
    moved.record(True, 3.0, 1)
    moved.record(True, 1.6, 1)  # 1.6x: the cores moved apart
    assert moved.deciding
    run(moved, {True: lambda c: 1.6, False: lambda c: 1.2})
    assert moved.split() is False


def test_remembered_decisions_are_bounded(clock, monkeypatch):
    monkeypatch.setattr(split_chooser, "DECISIONS_KEPT", 3)
    for key in range(5):
        run(
            FasterPath(False, choosing=True, key=key),
            {True: lambda c: 1.0, False: lambda c: 2.0},
        )
    # the three most recent keys are kept, the oldest forgotten
    assert list(split_chooser._decisions) == [2, 3, 4]
    assert FasterPath(False, choosing=True, key=4).split() is True
    assert FasterPath(False, choosing=True, key=0).deciding


class _SwitchingPath(split_chooser.FasterPath):
    """Changes way at nearly every call (one-batch split trials may be 2x whole
    ones: no tripwire, so that none waits)."""

    def __init__(self, split, choosing, key=None, parts=None):
        super().__init__(
            split, choosing, trials=2, margin=math.inf, recheck_seconds=0,
            tripwire=math.inf,
        )  # fmt: skip


SWITCHING_CASES = [
    ("classification", {"solver": "adam", "batch_size": 64}),
    ("classification", {"solver": "sgd", "batch_size": 50}),
    ("regression", {"solver": "lbfgs", "max_iter": 12}),
]


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("task", "params"), SWITCHING_CASES)
def test_a_fit_that_changes_way_between_calls_equals_serial(task, params, monkeypatch):
    """``n_jobs=None`` may split some calls and not others: the same model."""
    X, y = data(task, n_samples=1000, n_features=64)
    cls = fastmlp.MLPClassifier if task == "classification" else fastmlp.MLPRegressor
    kwargs = {"hidden_layer_sizes": (64,), "max_iter": 4, "random_state": 0, **params}
    serial = cls(**kwargs, n_jobs=1).fit(X, y)
    monkeypatch.setattr(training, "FasterPath", _SwitchingPath)
    monkeypatch.setattr(training, "TRIAL_WORK", 1.0)  # one batch a call
    seen = n_parts_used(monkeypatch)
    with threadpool_limits(2, user_api="blas"):
        chosen = cls(**kwargs).fit(X, y)
    assert seen == [2]
    assert min(chosen._split_whole_calls) >= 4, chosen._split_whole_calls
    assert_same_model(chosen, serial)


def _slowed(function, slow_way, seconds):
    """``function``, the epoch kernel of a split fit, slowed in one way."""

    def slow(*args):
        if (args[-1] > 1) is (slow_way == "split"):  # the last is n_parts
            time.sleep(seconds)
        return function(*args)

    return slow


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("slow_way", ["split", "whole"])
def test_calls_go_the_faster_way(slow_way, monkeypatch):
    engines = []
    original = training.Engine.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        engines.append(self)

    monkeypatch.setattr(training.Engine, "__init__", keep)
    slowed = _slowed(training.run_epoch_parallel, slow_way, 0.05)
    monkeypatch.setattr(training, "run_epoch_parallel", slowed)
    # no tripwire: on a loaded machine a split call can run 2x its best and
    # send the next calls whole for a while; what is tested is the choice
    no_tripwire = functools.partial(training.FasterPath, tripwire=float("inf"))
    monkeypatch.setattr(training, "FasterPath", no_tripwire)
    X, y = data("classification", n_samples=400, n_features=64)
    model = fastmlp.MLPClassifier((100,), batch_size=200, max_iter=6, tol=0.0)
    with threadpool_limits(2, user_api="blas"):
        model.fit(X, y)
    (engine,) = engines
    assert engine.n_parts == 2
    assert not engine.path.deciding
    assert engine.path.split() is (slow_way == "whole")
    # an explicit n_jobs is obeyed however slow its way
    engines.clear()
    model.set_params(n_jobs=2, max_iter=2).fit(X, y)
    assert not engines[0].path.deciding
    assert engines[0].path.split() is True


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_counts_its_calls_by_way():
    X, y = data("classification", n_samples=400, n_features=64)
    kwargs = {"hidden_layer_sizes": (100,), "batch_size": 200, "max_iter": 6}

    def ways(**params):
        return fastmlp.MLPClassifier(**params).fit(X, y)._split_whole_calls

    with threadpool_limits(2, user_api="blas"):
        split, whole = ways(**kwargs)
        # the trials at least: whole ones first, then one split at least (a
        # split trial slowed by a busy machine makes the next calls wait whole)
        assert split >= 1 and whole >= 3
        assert ways(**kwargs, n_jobs=2) == (6, 0)  # an epoch a call
    assert ways(**kwargs, n_jobs=1) == (0, 6)
    model = fastmlp.MLPClassifier((8,), solver="lbfgs", max_iter=5, n_jobs=1)
    split, whole = model.fit(X, y)._split_whole_calls
    assert split == 0 and whole >= model.n_iter_


@needs_threads
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_split_trials_start_with_the_workers_awake(solver, monkeypatch):
    """A timed split trial does not pay for waking a worker, nor a whole trial for
    one spinning; other calls neither wake nor wait."""
    events = _log_trial_readiness(monkeypatch)
    X, y = data("classification", n_samples=400, n_features=64)
    model = fastmlp.MLPClassifier((100,), solver=solver, batch_size=200, max_iter=6)
    with threadpool_limits(2, user_api="blas"):
        model.fit(X, y)
    _assert_trials_found_the_workers_ready(events)


@needs_threads
def test_prediction_trials_start_with_the_workers_ready(monkeypatch):
    """Predictions whose split timing chooses prepare their trials as fits do."""
    X, _ = data("classification", n_samples=400, n_features=60)
    y = [i % 40 for i in range(400)]  # 40 outputs: 40 rows pass PREDICT_SPLIT_MACS
    model = fastmlp.MLPClassifier((200, 100), max_iter=2, random_state=0).fit(X, y)
    monkeypatch.setattr(thread_plan, "blas_parts", lambda: 2)
    monkeypatch.setattr(thread_plan, "split_parts", lambda *args, **kwargs: 2)
    monkeypatch.setattr(prediction, "_prediction_paths", {})
    events = _log_trial_readiness(monkeypatch)
    for _ in range(12):
        model.predict_proba(X[:40])
    _assert_trials_found_the_workers_ready(events)


def _log_trial_readiness(monkeypatch):
    """Log wakes, sleep requests and recorded calls, in order."""
    events = []
    wake = worker_threads.wake_workers
    monkeypatch.setattr(
        worker_threads, "wake_workers", lambda n: (events.append(("wake", n)), wake(n))
    )
    sleep = worker_threads.put_workers_to_sleep
    monkeypatch.setattr(
        worker_threads,
        "put_workers_to_sleep",
        lambda: (events.append(("sleep",)), sleep()),
    )
    record = split_chooser.FasterPath.record

    def logged(self, split, seconds, units):
        # a trial: not a call while split trials wait (FasterPath.waiting)
        events.append(("call", split, self.deciding and not self.waiting))
        return record(self, split, seconds, units)

    monkeypatch.setattr(split_chooser.FasterPath, "record", logged)
    return events


def _assert_trials_found_the_workers_ready(events):
    calls = [i for i, event in enumerate(events) if event[0] == "call"]
    assert any(events[i][1:] == (True, True) for i in calls)  # split trials ran
    assert any(events[i][1:] == (False, True) for i in calls)  # whole trials too
    for i in calls:
        woken = i > 0 and events[i - 1] == ("wake", 2)
        assert woken is (events[i][1:] == (True, True)), events
        # whole trials start with the workers asleep (they spun after a split)
        asleep = i > 0 and events[i - 1] == ("sleep",)
        assert asleep is (events[i][1:] == (False, True)), events


def test_unfinished_trials_go_on_in_the_next_path_of_their_key(clock):
    # one call a path, as partial_fit makes: the trials still come to a decision
    ways = []
    for _ in range(6):
        path = FasterPath(True, choosing=True, key="one batch")
        way = path.split()
        ways.append(way)
        path.record(way, 1.0 if way else 2.0, 1)
        if not path.deciding:
            break
    assert ways == [False, False, False, True, True]
    assert not FasterPath(True, choosing=True, key="one batch").deciding
    # trials older than memory_seconds start over
    for _ in range(3):
        FasterPath(True, choosing=True, key="stale").record(False, 1.0, 1)
    assert FasterPath(True, choosing=True, key="stale").split() is True
    clock[0] += 10.0
    assert FasterPath(True, choosing=True, key="stale").split() is False


def test_a_split_trial_far_slower_than_whole_ones_waits_not_decides(clock):
    path = FasterPath(False, choosing=True, key="busy", probation_seconds=0.1)
    for _ in range(3):
        assert path.split() is False
        path.record(False, 2.0, 1)
    assert path.split() is True
    path.record(True, 1.0, 1)
    assert path.split() is True
    path.record(True, 4.5, 1)  # over 2x whole's best: left out, one alone
    assert path.deciding and not path.waiting and path.split() is True
    path.record(True, 4.5, 1)  # two in a row: the other core busy
    assert path.deciding and path.waiting
    for _ in range(3):  # whole calls meanwhile: untimed
        assert path.split() is False
        path.record(False, 9.0, 1)
    assert path.calls_by_way() == (3, 6)
    clock[0] += 0.1
    assert not path.waiting and path.split() is True
    path.record(True, 1.0, 1)
    assert not path.deciding and path.split() is True  # 4.5 and 9.0 not trials


def test_a_left_out_trial_carries_to_the_next_path_of_its_key(clock):
    """partial_fit: one kernel call a path; two slow split trials still wait."""
    for _ in range(3):
        FasterPath(False, choosing=True, key="partial").record(False, 2.0, 1)
    first = FasterPath(False, choosing=True, key="partial")
    assert first.split() is True
    first.record(True, 5.0, 1)  # left out
    assert not first.waiting
    second = FasterPath(False, choosing=True, key="partial")
    assert second.split() is True
    second.record(True, 5.0, 1)  # the second in a row: split trials wait
    assert second.waiting
    assert FasterPath(False, choosing=True, key="partial").waiting


def test_the_first_slow_split_trial_after_whole_calls_is_left_out(clock):
    """Its worker's core cold, not busy: the next split trial decides."""
    path = FasterPath(False, choosing=True, key=None, probation_seconds=0.1)
    for _ in range(3):
        path.record(False, 2.0, 1)
    path.record(True, 5.0, 1)  # the first split call after whole ones
    assert path._times[True] == [] and not path.waiting
    assert path.split() is True
    path.record(True, 1.2, 1)
    path.record(True, 1.1, 1)
    assert not path.deciding and path.split() is True
    # a slow trial that follows a whole call is "first" again
    path = FasterPath(False, choosing=True, key=None, probation_seconds=0.1)
    for _ in range(3):
        path.record(False, 2.0, 1)
    path.record(True, 5.0, 1)
    path.record(False, 2.0, 1)
    path.record(True, 5.0, 1)
    assert not path.waiting and path._times[True] == []


def test_waits_double_while_split_trials_find_the_cores_busy(clock):
    times = {True: lambda call: 1.0, False: lambda call: 1.0}
    path = FasterPath(False, choosing=True, key="busy", probation_seconds=0.1)
    path.record(True, 1.0, 1)
    path.record(False, 1.0, 1)
    path.record(False, 1.0, 1)
    path.record(False, 1.0, 1)
    waits = []
    for _ in range(6):
        path.record(True, 3.0, 1)  # the first of each retry: left out
        path.record(True, 3.0, 1)
        waits.append(round(path._postponed_until - clock[0], 6))
        clock[0] = path._postponed_until
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]  # at most memory_seconds
    path.record(True, 3.0, 1)
    path.record(True, 3.0, 1)
    # the next fit of the key waits too, and a split trial that finds the
    # cores free ends the waits
    again = FasterPath(False, choosing=True, key="busy", probation_seconds=0.1)
    assert again.waiting and again.split() is False
    clock[0] += 2.0
    assert not again.waiting
    run(again, times)
    assert split_chooser._postponed.get("busy") is None
    assert FasterPath(False, choosing=True, key="busy").split() is True


def test_a_slow_first_split_trial_without_whole_ones_is_kept():
    # no whole trial to compare with yet: the cold first call stays a trial
    path = FasterPath(False, choosing=True, key=None)
    path.record(True, 5.0, 1)
    assert not path.waiting
    assert path._times[True] == [5.0]
