"""scikit-learn's parameter checks, run once per set of values.

Every ``fit`` checks every parameter against its constraints, and lists the
parameters through ``inspect.signature``: 78 us a fit on the 2-core machine,
34 us of it listing names (which ``get_params`` and ``clone`` pay too), about
a tenth of a small net's fit outside its epochs. The names of a class's
parameters never change, so they are listed once per class; a set of values
that passed the checks passes them again, so it is remembered (by class,
names, value types and values; containers of other types than tuples, lists
and scalars, such as ``class_weight`` dicts, are checked every time). Values
that fail are never remembered: every error is scikit-learn's own, raised
where it raises it.
"""

import functools
from numbers import Number

from .._kernels.tunables import REMEMBERED_PARAMS

_passed = {}


def _value_key(value):
    """A hashable stand-in for ``value`` that tells its type, or None."""
    if isinstance(value, (tuple, list)):
        parts = tuple(_value_key(item) for item in value)
        if any(part is None for part in parts):
            return None
        return type(value), parts
    if value is None or isinstance(value, (str, Number)):
        try:
            hash(value)
        except TypeError:
            return None
        return type(value), value
    return None


class CheckedOnce:
    """Mixin for a ``BaseEstimator``: its parameter checks remembered."""

    @classmethod
    def _get_param_names(cls):
        return list(_param_names(cls))

    def _validate_params(self):
        params = self.get_params(deep=False)
        parts = tuple((name, _value_key(value)) for name, value in params.items())
        key = None
        if all(part[1] is not None for part in parts):
            key = (type(self), parts)
        if key is not None and key in _passed:
            return
        super()._validate_params()
        if key is not None:
            if len(_passed) >= REMEMBERED_PARAMS:
                _passed.clear()
            _passed[key] = True


@functools.cache
def _param_names(cls):
    return tuple(super(CheckedOnce, cls)._get_param_names())
