"""The compiled shuffle against RandomState.shuffle, its reference."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.utils import check_random_state

from fastmlp._engine import randomness
from fastmlp._kernels.shuffle import N_WORDS, refill, shuffle_in_place, temper

pytestmark = pytest.mark.kernel

# sizes around the masks' powers of two and the generator's 624-word blocks
SIZES = [0, 1, 2, 3, 4, 5, 17, 623, 624, 625, 1024, 1025, 1500]


def assert_same_generator(ours, theirs):
    _, our_key, our_position, _, _ = ours.get_state(legacy=True)
    _, their_key, their_position, _, _ = theirs.get_state(legacy=True)
    assert_array_equal(our_key, their_key)
    assert our_position == their_position
    assert ours.randint(2**31) == theirs.randint(2**31)


@pytest.mark.parametrize("seed", [0, 7])
def test_refill_and_temper_give_the_generators_next_words(seed):
    generator = np.random.RandomState(seed)
    generator.randint(2**31, size=624 * 3)  # at the end of a block
    key = randomness._state_words(generator._bit_generator)[:N_WORDS].copy()
    refill(key)
    words = np.empty(N_WORDS, np.uint32)
    temper(key, words, 0)
    # the full 32-bit range: NumPy's raw words, no rejection
    assert_array_equal(
        words, generator.randint(0, 2**32, size=N_WORDS, dtype=np.uint32)
    )
    tail = np.zeros(N_WORDS, np.uint32)
    temper(key, tail, 600)
    assert_array_equal(tail[600:], words[600:])
    assert not tail[:600].any()


@pytest.mark.parametrize("seed", [0, 1, 42])
@pytest.mark.parametrize("drawn_before", [0, 1, 623, 624, 700])
def test_shuffle_in_place_is_random_states_shuffle(seed, drawn_before):
    ours, theirs = np.random.RandomState(seed), np.random.RandomState(seed)
    # start anywhere in a block: the fresh generator, its middle, its end
    ours.randint(2**31, size=drawn_before)
    theirs.randint(2**31, size=drawn_before)
    words = np.empty(N_WORDS, np.uint32)
    for size in SIZES:
        mine = np.arange(size, dtype=np.int64) * 7 - 3
        expected = mine.copy()
        theirs.shuffle(expected)
        shuffle_in_place(mine, randomness._state_words(ours._bit_generator), words)
        assert_array_equal(mine, expected)
    assert_same_generator(ours, theirs)


def test_state_layout_is_numpys():
    # the compiled path is taken (and so tested) on this NumPy
    assert randomness._layout_is_numpys()
    assert randomness._compiled_shuffle_applies(
        np.arange(5, dtype=np.int64), np.random.RandomState(0)
    )


def test_shuffled_is_a_shuffled_copy():
    ours, theirs = np.random.RandomState(3), np.random.RandomState(3)
    values = np.arange(5000, dtype=np.int64)[::-1].copy()
    for _ in range(3):  # epochs: each shuffles the last order
        expected = values.copy()
        theirs.shuffle(expected)
        got = randomness.shuffled(values, ours)
        assert got is not values
        assert_array_equal(got, expected)
        values = got
    assert_same_generator(ours, theirs)


@pytest.mark.parametrize(
    "values, make_random_state",
    [
        (np.arange(50, dtype=np.int32), lambda: np.random.RandomState(0)),  # dtype
        (np.arange(50), lambda: np.random.RandomState(np.random.PCG64(0))),  # PCG64
        (np.arange(12).reshape(6, 2), lambda: np.random.RandomState(0)),  # rows
    ],
)
def test_shuffled_falls_back_to_numpy(values, make_random_state):
    random_state, twin = make_random_state(), make_random_state()
    assert not randomness._compiled_shuffle_applies(values, random_state)
    expected = values.copy()
    twin.shuffle(expected)
    assert_array_equal(randomness.shuffled(values, random_state), expected)
    assert random_state.randint(2**31) == twin.randint(2**31)


def test_shuffled_falls_back_when_the_layout_differs(monkeypatch):
    monkeypatch.setattr(randomness, "_layout_is_numpys", lambda: False)
    ours, theirs = np.random.RandomState(9), np.random.RandomState(9)
    expected = np.arange(100, dtype=np.int64)
    theirs.shuffle(expected)
    assert_array_equal(
        randomness.shuffled(np.arange(100, dtype=np.int64), ours), expected
    )
    assert_same_generator(ours, theirs)


@pytest.mark.parametrize(
    "seed", [0, 1, 42, 2**31, 2**32 - 1, np.int64(7), np.uint32(5), np.int8(3), True]
)
def test_check_random_state_gives_numpys_generator_for_integer_seeds(seed):
    ours = randomness.check_random_state(seed)
    assert type(ours) is np.random.RandomState
    assert type(ours._bit_generator) is np.random.MT19937
    theirs = check_random_state(seed)
    assert_same_generator(ours, theirs)
    assert_array_equal(ours.randint(10**6, size=700), theirs.randint(10**6, size=700))
    assert ours.standard_normal() == theirs.standard_normal()
    assert ours.get_state(legacy=True)[3:] == theirs.get_state(legacy=True)[3:]
    assert_same_generator(ours, theirs)
    # each call gives a generator of its own
    assert randomness.check_random_state(seed) is not randomness.check_random_state(
        seed
    )


def test_check_random_state_passes_other_seeds_to_sklearn():
    generator = np.random.RandomState(3)
    assert randomness.check_random_state(generator) is generator
    assert randomness.check_random_state(None) is check_random_state(None)
    for bad in (1.5, "seed", np.random.default_rng(0)):
        with pytest.raises(ValueError) as ours:
            randomness.check_random_state(bad)
        with pytest.raises(ValueError) as theirs:
            check_random_state(bad)
        assert str(ours.value) == str(theirs.value)
    out_of_range = "Seed must be between 0 and 2\\*\\*32 - 1"
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match=out_of_range):
            randomness.check_random_state(bad)
        with pytest.raises(ValueError, match=out_of_range):
            check_random_state(bad)
