"""Compiled draws from the estimator's own ``RandomState``.

``np.random.RandomState`` keeps its MT19937 generator in C memory that its
bit generator exposes (``bit_generator.ctypes.state_address``): NumPy's
``mt19937_state``, 624 key words then the position. :func:`shuffled` hands
that memory to :func:`fastmlp._kernels.shuffle.shuffle_in_place`, so the
compiled shuffle advances the estimator's generator exactly as
``RandomState.shuffle`` would, and later draws (the next epoch's shuffle,
``partial_fit``, a user's own) continue the same stream. The layout is
checked once against the documented ``get_state()``; where it differs, or
for any other generator, NumPy's shuffle runs as before.

:func:`check_random_state` is scikit-learn's, with a faster way to the same
generator for an integer seed.
"""

import ctypes
import functools
import numbers

import numpy as np
from numpy.random.bit_generator import ISeedSequence
from sklearn.utils import check_random_state as _sklearn_check_random_state

from .._kernels.shuffle import N_WORDS, shuffle_in_place


def _state_words(bit_generator):
    """A uint32 view of an MT19937 bit generator's state, in place."""
    address = bit_generator.ctypes.state_address
    return np.ctypeslib.as_array(
        (ctypes.c_uint32 * (N_WORDS + 1)).from_address(address)
    )


@functools.cache
def _layout_is_numpys():
    """Whether the state memory reads as ``get_state()`` says it should.

    Checked once per process, on a generator of its own.
    """
    try:
        probe = np.random.RandomState(20261130)
        probe.random_sample(700)  # a position inside a block, not at its end
        _, key, position, _, _ = probe.get_state(legacy=True)
        words = _state_words(probe._bit_generator)
        return bool(np.array_equal(words[:N_WORDS], key) and words[N_WORDS] == position)
    except (AttributeError, TypeError, ValueError):
        return False


def _compiled_shuffle_applies(values, random_state):
    return (
        type(random_state) is np.random.RandomState
        and type(getattr(random_state, "_bit_generator", None)) is np.random.MT19937
        and isinstance(values, np.ndarray)
        and values.ndim == 1
        and values.dtype == np.int64
        and values.shape[0] < 2**32  # NumPy draws 64-bit words beyond
        and _layout_is_numpys()
    )


def shuffled(values, random_state):
    """A shuffled copy of ``values``, as ``random_state.shuffle`` shuffles.

    Also ``sklearn.utils.shuffle(values, random_state=random_state)``, the
    call scikit-learn's MLPs make each epoch: ``resample`` shuffles an
    ``arange`` and indexes ``values`` with it, the same swaps (they do not
    depend on the values), without its input checks (~100 us an epoch).

    Parameters
    ----------
    values : ndarray of shape (n,)
    random_state : numpy.random.RandomState
        Advanced by the same draws as ``random_state.shuffle(values.copy())``.

    Returns
    -------
    ndarray of shape (n,)
    """
    out = np.array(values, copy=True)
    if not _compiled_shuffle_applies(out, random_state):
        random_state.shuffle(out)
        return out
    bit_generator = random_state._bit_generator
    with bit_generator.lock:  # as RandomState.shuffle holds it
        words = _state_words(bit_generator)
        shuffle_in_place(out, words, np.empty(N_WORDS, np.uint32))
    return out


class _Unseeded(ISeedSequence):
    """Zeros for a bit generator's first state, which is then seeded anew."""

    def generate_state(self, n_words, dtype=np.uint32):
        return np.zeros(n_words, dtype)


_UNSEEDED = _Unseeded()


def check_random_state(seed):
    """``sklearn.utils.check_random_state``: the same generators, faster.

    ``RandomState(seed)`` first fills its MT19937 from a ``SeedSequence`` and
    then overwrites that with the legacy seeding of ``seed``: 66 us a fit, on
    the 2-core machine, 10% of a small net's fit outside its epochs. An
    MT19937 filled with zeros, then seeded by ``RandomState.seed``, is the
    same generator (the same state words, position and draws; tested) in
    22 us. Seeds that are not integers go to scikit-learn's function.
    """
    if isinstance(seed, numbers.Integral):
        random_state = np.random.RandomState(np.random.MT19937(_UNSEEDED))
        random_state.seed(seed)
        return random_state
    return _sklearn_check_random_state(seed)
