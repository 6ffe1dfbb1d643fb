"""The classifier's label handling, without scikit-learn's repeated checks.

``LabelBinarizer``'s ``fit``, ``transform`` and ``inverse_transform`` and
``unique_labels`` classify ``y`` again at each call. For plain ``y`` (a
non-empty 1-D integer array, a dense indicator matrix) these give the same
result directly; any other ``y`` goes to scikit-learn's own function, with its
errors. Re-verify on every scikit-learn release: the tests compare both ways.
"""

import numpy as np
from sklearn import get_config
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._array_api import indexing_dtype
from sklearn.utils.multiclass import unique_labels

# what LabelBinarizer.inverse_transform thresholds NumPy output into
_INDEX_DTYPE = indexing_dtype(np)


def fitted_binarizer(y):
    """``LabelBinarizer().fit(y)``, without its checks when safe.

    ``fit`` classifies ``y`` (``type_of_target``) and finds its labels
    (``unique_labels``, which classifies it again): 0.65 ms of a 10-epoch
    small-net fit's ~7.5 ms on 5000 integer labels (measured), where for a
    non-empty 1-D array of integers the answer is ``np.unique``: "binary"
    up to two labels, else "multiclass", the classes sorted, in ``y``'s
    dtype. Any other ``y`` gets ``fit`` itself, with its errors; the tests
    compare the two binarizers attribute by attribute.
    """
    binarizer = LabelBinarizer()
    if _is_indicator(y):
        # what type_of_target and unique_labels make of an indicator matrix
        binarizer.y_type_ = "multilabel-indicator"
        binarizer.sparse_input_ = False
        binarizer.classes_ = np.arange(y.shape[1])
        return binarizer
    if not _integer_labels(y):
        return binarizer.fit(y)
    classes = _sorted_labels(y)
    binarizer.y_type_ = "binary" if classes.shape[0] <= 2 else "multiclass"
    binarizer.sparse_input_ = False
    binarizer.classes_ = classes
    return binarizer


def _integer_labels(y):
    """Whether ``y`` is a non-empty 1-D array of integers (binary or multiclass)."""
    return bool(
        isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu" and y.size
    )


def labels_of(y):
    """The labels in ``y``, as ``unique_labels(y)`` (which checks ``y`` first).

    For a non-empty 1-D array of integers, which no check rejects, the labels
    sorted (:func:`_sorted_labels`): ~10 us where ``unique_labels``' two
    classifications of ``y`` take ~100 (a third of a ``partial_fit`` on one
    small batch). Any other ``y`` gets ``unique_labels`` itself, with its errors.
    """
    if _integer_labels(y):
        return _sorted_labels(y)
    return unique_labels(y)


def _sorted_labels(y):
    """``np.unique(y)`` for a non-empty 1-D integer array.

    Labels that are small non-negative integers (the usual 0..k-1) are
    counted instead of sorted: 6 us against ~40 us for 5000 labels (measured).
    """
    low, high = y.min(), y.max()
    countable = y.dtype.kind == "i" or y.dtype.itemsize < 8  # safe cast to intp
    if countable and low >= 0 and high <= 4 * y.shape[0] + 1024:
        return np.flatnonzero(np.bincount(y)).astype(y.dtype)
    return np.unique(y)


def _is_indicator(y):
    """Whether ``type_of_target(y)`` is "multilabel-indicator", for dense integers.

    scikit-learn's test is ``np.unique`` (at most two values), which
    ``LabelBinarizer`` runs four times between ``fit`` and ``transform``:
    1.3 ms of a 15-epoch multilabel fit (5000 x 5 labels, measured), where
    the values' minimum and maximum tell the same. False for anything else
    (other dtypes, sparse, empty), which goes to scikit-learn's own code.
    """
    if not (
        isinstance(y, np.ndarray)
        and y.ndim == 2
        and y.shape[0] > 0
        and y.shape[1] > 1
        and y.dtype.kind in "biu"
    ):
        return False
    low, high = y.min(), y.max()
    return bool(low == high or not ((y != low) & (y != high)).any())


def binarize_labels(binarizer, y):
    """``binarizer.transform(y).astype(bool)``, without its checks when safe.

    ``LabelBinarizer.transform`` classifies ``y`` again (``type_of_target``,
    twice) and builds a sparse matrix first: 2.4 ms of a 10-epoch fit's ~35 ms
    on 5000 binary labels (measured), for a result that an index into the
    sorted classes gives. Only 1-D labels that all are among the classes take
    this path; anything else gets ``transform`` itself, with its errors.
    """
    classes = binarizer.classes_
    if (
        binarizer.y_type_ == "multilabel-indicator"
        and not binarizer.sparse_output
        and _is_indicator(y)
        and y.shape[1] == len(classes)
    ):
        # label_binarize's indicator path: y as int, then bool
        return y != 0
    index = _class_index(binarizer, y)
    if index is None:
        return binarizer.transform(y).astype(bool)
    if len(classes) == 2:  # one column: the second class
        return (index == 1)[:, np.newaxis]
    binary = np.zeros((y.shape[0], len(classes)), dtype=bool)
    binary[np.arange(y.shape[0]), index] = True
    return binary


def labels_from_output(binarizer, output):
    """``binarizer.inverse_transform(output)``, without its checks when safe.

    ``inverse_transform`` checks the binarizer is fitted and looks up the
    array namespace and device of ``output`` twice before it thresholds or
    takes the greatest value: ~20 us, 40% of a ``predict`` on a few rows
    (measured), for a result one comparison or ``argmax`` gives. Only the
    network's dense NumPy output, for a binarizer with the default labels
    (``neg_label=0``, ``pos_label=1``, threshold 0.5) that saw no sparse
    ``y``, takes this path; anything else gets ``inverse_transform`` itself.
    """
    classes = binarizer.classes_
    if (
        type(output) is not np.ndarray
        or binarizer.sparse_input_
        or binarizer.neg_label != 0
        or binarizer.pos_label != 1
        or get_config()["array_api_dispatch"]
    ):
        return binarizer.inverse_transform(output)
    if binarizer.y_type_ == "multiclass" and output.ndim == 2:
        # what inverse_transform does, in one call (np.clip alone costs ~2 us)
        return classes.take(output.argmax(axis=1), mode="clip")
    if binarizer.y_type_ == "binary" and output.ndim == 1:
        if classes.shape[0] == 1:
            return np.repeat(classes[0], output.shape[0])
        return classes[(output > 0.5).astype(_INDEX_DTYPE)]
    if (
        binarizer.y_type_ == "multilabel-indicator"
        and output.ndim == 2
        and output.shape[1] == classes.shape[0]
    ):
        return (output > 0.5).astype(_INDEX_DTYPE)
    return binarizer.inverse_transform(output)


def _class_index(binarizer, y):
    """Each label's index in ``binarizer.classes_``; None unless all are there.

    Also None wherever :func:`binarize_labels` must leave ``y`` to
    ``transform``: multilabel or sparse binarizers, fewer than two classes,
    labels that are not a 1-D array or do not compare with the classes.
    """
    classes = binarizer.classes_
    if (
        binarizer.y_type_ not in ("binary", "multiclass")
        or binarizer.sparse_output
        or len(classes) < 2
        or not isinstance(y, np.ndarray)
        or y.ndim != 1
    ):
        return None
    try:
        index = np.searchsorted(classes, y)
        known = index < len(classes)
        known[known] = classes[index[known]] == y[known]
    except TypeError:
        return None
    return index if known.all() else None
