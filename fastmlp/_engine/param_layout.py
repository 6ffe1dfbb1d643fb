"""The flat parameter buffer and the offsets table that describe it.

All coefficient matrices raveled in C order, then all intercepts: the packing of
scikit-learn's L-BFGS solver, so that the optimizers, L-BFGS and the kernels all
work on one contiguous array. ``coefs_`` and ``intercepts_`` are views of it.
"""

import numpy as np


class ParameterLayout:
    """Where each layer's parameters sit in the flat buffer.

    Parameters
    ----------
    layer_units : sequence of int
        Units of every layer, input and output included.
    """

    def __init__(self, layer_units):
        self.layer_units = np.asarray(layer_units, dtype=np.int64)
        fan_in = self.layer_units[:-1]
        fan_out = self.layer_units[1:]
        coef_sizes = fan_in * fan_out
        self.coef_starts = np.concatenate(([0], np.cumsum(coef_sizes)[:-1])).astype(
            np.int64
        )
        n_coefs = int(coef_sizes.sum())
        self.intercept_starts = (
            n_coefs + np.concatenate(([0], np.cumsum(fan_out)[:-1]))
        ).astype(np.int64)
        self.n_coefs = n_coefs
        self.size = n_coefs + int(fan_out.sum())

    @classmethod
    def of_coefs(cls, coefs):
        """The layout whose coefficient matrices have ``coefs``' shapes."""
        return cls([c.shape[0] for c in coefs] + [coefs[-1].shape[1]])

    @property
    def n_layers(self):
        return len(self.layer_units)

    def shapes(self):
        """Shapes of the coefficient matrices, layer by layer."""
        units = self.layer_units.tolist()
        return list(zip(units[:-1], units[1:], strict=True))

    def views(self, flat):
        """``(coefs, intercepts)`` lists of views of ``flat``."""
        coefs, intercepts = [], []
        for layer, (fan_in, fan_out) in enumerate(self.shapes()):
            start = self.coef_starts[layer]
            coefs.append(
                flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
            )
            start = self.intercept_starts[layer]
            intercepts.append(flat[start : start + fan_out])
        return coefs, intercepts

    def pack(self, coefs, intercepts, dtype):
        """A new flat buffer holding ``coefs`` and ``intercepts``."""
        flat = np.empty(self.size, dtype=dtype)
        self.unpack_into(flat, coefs, intercepts)
        return flat

    def unpack_into(self, flat, coefs, intercepts):
        """Copy ``coefs`` and ``intercepts`` into ``flat``, checking their shapes."""
        shapes = self.shapes()
        if len(coefs) != len(shapes) or len(intercepts) != len(shapes):
            raise ValueError(
                f"coefs_ and intercepts_ must have {len(shapes)} layers to match "
                f"layer units {self.layer_units.tolist()}."
            )
        for layer, (fan_in, fan_out) in enumerate(shapes):
            coef = np.asarray(coefs[layer])
            intercept = np.asarray(intercepts[layer])
            if coef.shape != (fan_in, fan_out) or intercept.shape != (fan_out,):
                raise ValueError(
                    f"Layer {layer} has coefs_ of shape {coef.shape} and intercepts_ "
                    f"of shape {intercept.shape}; expected {(fan_in, fan_out)} and "
                    f"{(fan_out,)}. Did the network's shape change between fits?"
                )
            start = self.coef_starts[layer]
            flat[start : start + fan_in * fan_out] = coef.ravel()
            start = self.intercept_starts[layer]
            flat[start : start + fan_out] = intercept

    def are_views_of(self, flat, coefs, intercepts):
        """Whether ``coefs``/``intercepts`` are the views :meth:`views` makes."""
        if flat is None or len(coefs) != self.n_layers - 1:
            return False
        if len(intercepts) != self.n_layers - 1:
            return False
        base = flat.__array_interface__["data"][0]
        itemsize = flat.itemsize
        for layer, (fan_in, fan_out) in enumerate(self.shapes()):
            for array, start, shape in (
                (coefs[layer], self.coef_starts[layer], (fan_in, fan_out)),
                (intercepts[layer], self.intercept_starts[layer], (fan_out,)),
            ):
                if (
                    not isinstance(array, np.ndarray)
                    or array.dtype != flat.dtype
                    or array.shape != shape
                    or not array.flags.c_contiguous
                    or array.__array_interface__["data"][0] != base + start * itemsize
                ):
                    return False
        return True
