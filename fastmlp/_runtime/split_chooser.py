"""Whether to split batches across threads, chosen by timing both ways.

Whether a split batch (``fastmlp._kernels.threaded``) beats a whole one
depends on more than its size. On the 2-core Zen 5 VM a cache line written by
one core came back from the other in ~100 ns at some times and ~400 ns at
others (ping-pong, ``bench/handover.py``; the host moves the vCPUs), and a
20 -> 64 -> 64 -> 5 net at batch 64 trained 1.35x faster split in the first
case and 1.6x *slower* split in the second: a split batch hands over
thousands of lines each way (the half of the weights the other thread
updated, the rows of activations and deltas it computed). No size threshold
fits both.

Both ways compute the same values bit for bit (the tests compare them), so a
fit may change way at any kernel call without changing its model.
:class:`FasterPath` times a few calls each way, alternating, keeps the way
with the lower best time per unit of work, and times both again after
``recheck_seconds`` of calls the chosen way, as conditions change: the round
trip above went from 120 to 306 ns within one 3-second benchmark case. A
re-timing costs a few milliseconds where the ways differ 1.6x (three trial
calls of ~1-3 ms each way), under 1% of the half second between two.

The best time, not the median: the first calls of a fit after the process
idled run slow, the split ones most (the other core must wake and fill its
caches); in ``make bench`` (0.15 s idle before each fit) the medians of four
calls chose whole batches in 2 of 5 fits of a net that ran 1.3x faster split,
the best chose split in all 5. Two calls each way decide when every time of
one way is below every time of the other by ``margin``: the usual case, where
one way is 1.3-1.6x the other (a trial of the slower way costs that much
more than the call it replaces).

Conditions can also turn for a moment: for ~0.1 s after a multi-threaded
BLAS call in the user's process (a NumPy product, a PCA), OpenBLAS's idle
threads spin on the cores (yielding, up to 2^28 cycles), and split calls
that share their second core with one stall now and then: 1-9 ms instead of
0.5 (digits, 64 -> 100 -> 10, batch 200, measured), while whole calls run as
ever. A 200-epoch fit started then ran 1.8x slower, split all the way, and
re-timing at each stall did not help (between stalls a split trial is fast).
So a split call slower than ``tripwire`` times split's best trial (per
unit of work) sends the calls of the next ``probation_seconds`` whole, then
both are timed again. Whole calls are not watched: when other processes
keep both cores busy, whole calls slow down too, and a split call waits for
a descheduled partner at every barrier (regression case under two CPU-bound
processes: whole 6-7 ms an epoch, split ~600; watching whole calls too sent
fits split for 0.1 s at a time and made them ~300 ms an epoch, measured).

A decision is remembered for ``memory_seconds`` under the caller's ``key``
(the net's shape, batch rows, dtype, thread count): the next fits of the same
shape (a benchmark's rounds, cross-validation folds, a grid search) start with
it instead of trial calls, which cost ~2-4% of a 15-epoch fit of a 64-unit
net (measured, regression case, 0.15 s idle before each fit: 1.90 ms an
epoch timing each fit, 1.86 remembering, 1.86 always split). Such a fit's
first call runs cold after idling, so it sets no tripwire; its second, if
split, is held to ``margin`` instead: slower than that against the
remembered best, the conditions the decision was made in are gone (a host
that moved the cores apart makes split calls 1.6x slower, under the
tripwire), and both ways are timed again.
"""

import time

# key -> (split, trial times by way, time.monotonic() of the decision), the
# most recent last; at most _DECISIONS_KEPT keys (a grid search over many
# shapes must not grow it for the life of the process)
_decisions = {}
_DECISIONS_KEPT = 256


def keep_recent(table, key, value, kept):
    """``table[key] = value`` as the most recent entry; at most ``kept`` entries.

    ``table`` is a dict in the order its keys were last put (oldest first);
    the oldest are dropped.
    """
    table.pop(key, None)
    table[key] = value
    while len(table) > kept:
        table.pop(next(iter(table)), None)


class FasterPath:
    """Times calls split and whole, and says which way the next call goes.

    Parameters
    ----------
    split : bool
        The way calls go when not ``choosing`` (the thread plan's choice).
    choosing : bool
        Whether to choose by timing: only when the plan split batches on its
        own (``n_jobs=None``); an explicit ``n_jobs`` is obeyed.
    trials : int, default=3
        Calls timed each way at most before choosing.
    margin : float, default=1.25
        How far apart the times of two calls each way must be to choose then.
    recheck_seconds : float, default=0.5
        Seconds of calls the chosen way before both are timed again.
    tripwire : float, default=2.0
        A split call slower than this many times split's best trial (per
        unit of work) turns the calls whole.
    probation_seconds : float, default=0.1
        Seconds of whole calls after a tripped one, before both are timed
        again.
    key : hashable, optional
        Under which key decisions are remembered and looked up (None: not).
    memory_seconds : float, default=2.0
        How long a remembered decision holds.
    """

    def __init__(
        self,
        split,
        choosing,
        trials=3,
        margin=1.25,
        recheck_seconds=0.5,
        tripwire=2.0,
        probation_seconds=0.1,
        key=None,
        memory_seconds=2.0,
    ):
        self.choosing = bool(choosing)
        self.trials = int(trials)
        self.margin = float(margin)
        self.recheck_seconds = float(recheck_seconds)
        self.tripwire = float(tripwire)
        self.probation_seconds = float(probation_seconds)
        self._split = bool(split)
        self._times = {True: [], False: []}
        self._seconds_since_choice = 0.0
        self._probation = False  # calls go the other way after a tripped one
        self._armed = False  # a tripwire from the second call the chosen way
        self._calls = {True: 0, False: 0}
        self._key = key if self.choosing else None
        recent = _decisions.get(self._key)
        self._remembered = (
            recent is not None and time.monotonic() - recent[2] < memory_seconds
        )
        if self._remembered:
            self._split = recent[0]
            self._times = {way: list(times) for way, times in recent[1].items()}

    @property
    def deciding(self):
        """Whether calls are being timed to choose (trial calls)."""
        return self.choosing and self._deciding

    @property
    def _deciding(self):
        split, whole = self._times[True], self._times[False]
        if len(split) < 2 or len(whole) < 2 or len(split) != len(whole):
            return True
        if len(split) >= self.trials:
            return False
        apart = min(split) > self.margin * max(whole)
        return not (apart or min(whole) > self.margin * max(split))

    def calls_by_way(self):
        """``(split, whole)``: the calls recorded that ran each way."""
        return self._calls[True], self._calls[False]

    def split(self):
        """Whether the next call splits its batches."""
        if not self.deciding:
            return self._split
        # alternate, split first: the two ways see the same conditions
        return len(self._times[True]) <= len(self._times[False])

    def record(self, split, seconds, units):
        """Record that a call ran ``split`` or not, for ``units`` of work."""
        self._calls[split] += 1
        if not self.choosing:
            return
        if self.deciding:
            self._times[split].append(seconds / max(units, 1))
            if not self.deciding:
                self._split = min(self._times[True]) <= min(self._times[False])
                self._seconds_since_choice = 0.0
                if self._key is not None:
                    times = {way: list(t) for way, t in self._times.items()}
                    decision = (self._split, times, time.monotonic())
                    keep_recent(_decisions, self._key, decision, _DECISIONS_KEPT)
            return
        self._seconds_since_choice += seconds
        armed, self._armed = self._armed, True
        # Only split calls are watched: a slow whole call means other work
        # on the cores, where split calls, which need both, do far worse
        if armed and split and not self._probation:
            best = min(self._times[split])
            per_unit = seconds / max(units, 1)
            if 0.0 < best and per_unit > self.tripwire * best:
                self._split = not split
                self._probation = True
                wait = self.recheck_seconds - self.probation_seconds
                self._seconds_since_choice = wait
            elif self._remembered and 0.0 < best and per_unit > self.margin * best:
                # the remembered decision's conditions are gone: time again
                self._seconds_since_choice = self.recheck_seconds
            self._remembered = False
        if self._seconds_since_choice >= self.recheck_seconds:
            self._times = {True: [], False: []}
            self._probation = False
