"""``RandomState.shuffle`` of a 1-D array, compiled: the same draws, faster.

:func:`shuffle_in_place` makes the draws NumPy's ``RandomState.shuffle`` makes
(legacy MT19937, ``random_interval``'s masked rejection) from the same generator
state. Invariant: the result and the generator's state afterwards are NumPy's,
bit for bit (tested against ``RandomState.shuffle``). ``state`` is the generator's
own memory, NumPy's ``mt19937_state`` (624 key words, then the position;
``fastmlp._engine.randomness`` makes the view and checks its layout).

Why: scikit-learn shuffles once per epoch, and NumPy's loop mispredicts a branch
on about every third word. How it avoids the branch, and measurements:
``docs/design/call_overhead.md``.
"""

import numpy as np

from .jit import inlined_kernel, kernel

N_WORDS = 624
_SHIFT = 397
_MATRIX_A = np.uint32(0x9908B0DF)
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)


@inlined_kernel
def _twist(key, i, j, k):
    """MT19937's recurrence: key[i] from key[i], key[j] and key[k]."""
    y = (key[i] & _UPPER) | (key[j] & _LOWER)
    twisted = key[k] ^ (y >> np.uint32(1))
    if y & np.uint32(1):
        twisted ^= _MATRIX_A
    key[i] = twisted


@inlined_kernel
def refill(key):
    """The next 624 words of the key (NumPy's ``mt19937_gen``)."""
    for i in range(N_WORDS - _SHIFT):
        _twist(key, i, i + 1, i + _SHIFT)
    for i in range(N_WORDS - _SHIFT, N_WORDS - 1):
        _twist(key, i, i + 1, i + _SHIFT - N_WORDS)
    _twist(key, N_WORDS - 1, 0, _SHIFT - 1)


@inlined_kernel
def temper(key, out, start):
    """``out[k]`` = the output of key word ``k``, for ``k >= start``."""
    for k in range(start, N_WORDS):
        y = key[k]
        y ^= y >> np.uint32(11)
        y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
        y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
        y ^= y >> np.uint32(18)
        out[k] = y


@kernel
def shuffle_in_place(values, state, words):
    """``RandomState.shuffle(values)`` for 1-D ``values`` of under 2**32 items.

    ``state``: the generator's 625 uint32 words; ``words``: 624 uint32 of
    scratch. Position ``i``, from the last down, swaps with the first word
    within ``[0, i]`` once masked to ``i``'s bit width.
    """
    key = state[:N_WORDS]
    position = np.int64(state[N_WORDS])
    temper(key, words, min(position, N_WORDS))
    i = values.shape[0] - 1
    mask = np.uint32(0)
    if i > 0:
        mask = np.uint32(i)
        for shift in (1, 2, 4, 8, 16):
            mask |= mask >> np.uint32(shift)
    while i > 0:
        if position == N_WORDS:
            refill(key)
            temper(key, words, 0)
            position = 0
        value = np.int64(words[position] & mask)
        position += 1
        accepted = value <= i
        j = value if accepted else i
        swapped = values[i]
        values[i] = values[j]
        values[j] = swapped
        i -= np.int64(accepted)
        if np.uint32(i) <= mask >> np.uint32(1):
            mask >>= np.uint32(1)
    state[N_WORDS] = np.uint32(position)
