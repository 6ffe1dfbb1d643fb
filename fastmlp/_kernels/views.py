"""Views of contiguous arrays built directly, without numba's ``reshape``.

numba's ``reshape`` calls a C helper (``numba_attempt_nocopy_reshape``) for
every view it makes, ~16 ns each (measured on a 2-core Zen 5 machine, in a
loop of one slice and one reshape: 16.3 ns against 0.7 ns for the slice
alone). A batch of a small net makes dozens of views (each layer's
activations, deltas and coefficients, and the flat operands of the tiles),
so the kernels take them from here: the same arrays (pointer, shape,
strides, sharing the buffer's memory), built in a few instructions.

The views are borrowed, as ``numba.carray``'s are: they hold no reference
to the buffer's memory, so making and dropping one updates no reference
count. numba's own views do, with an atomic add each way, and the threads
of a split batch make theirs of the same buffers (one cache line, passed
between the cores at every view); borrowed views made small-net epochs
1.09x faster and split 64-unit ones 1.03-1.04x (alternated). Every
buffer a kernel views comes from its Python caller and outlives the call
(kernels allocate nothing), so this is safe in kernels; never take one of
an array a kernel allocates, which numba may free after its last use. A
view returned to Python does not keep its buffer alive (only the tests do
that, holding the buffer).

Only C-contiguous arrays are accepted, so the views are right by
construction; the caller keeps ``start + n_rows * n_cols`` within the
buffer, as its slice did. With ``NUMBA_DISABLE_JIT=1`` the plain NumPy
versions below run instead, and they check the sizes.
"""

from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _array_of(context, builder, view_type, source, data, dims):
    """A borrowed view of ``source``'s memory at ``data``, C strides for ``dims``."""
    view = make_array(view_type)(context, builder)
    intp = context.get_value_type(types.intp)
    strides = []
    stride = source.itemsize
    for dim in reversed(dims):
        strides.insert(0, stride)
        stride = builder.mul(stride, dim)
    populate_array(
        view,
        data=data,
        shape=cgutils.pack_array(builder, dims, ty=intp),
        strides=cgutils.pack_array(builder, strides, ty=intp),
        itemsize=source.itemsize,
        meminfo=None,  # borrowed: no reference count to update (see above)
        parent=source.parent,
    )
    return view._getvalue()


@intrinsic
def matrix_view(typingctx, flat, start, n_rows, n_cols):
    """``flat[start : start + n_rows * n_cols].reshape((n_rows, n_cols))``."""
    if not (isinstance(flat, types.Array) and flat.ndim == 1 and flat.layout == "C"):
        return None
    result = types.Array(flat.dtype, 2, "C", readonly=not flat.mutable)
    signature = result(flat, start, n_rows, n_cols)

    def codegen(context, builder, sig, args):
        offset, rows, cols = (
            context.cast(builder, value, kind, types.intp)
            for value, kind in zip(args[1:], sig.args[1:], strict=True)
        )
        source = make_array(sig.args[0])(context, builder, args[0])
        data = builder.gep(source.data, [offset])
        return _array_of(context, builder, sig.return_type, source, data, [rows, cols])

    return signature, codegen


@intrinsic
def flat_view(typingctx, matrix):
    """``matrix.reshape(matrix.size)`` for a C-contiguous 2-D ``matrix``."""
    if not (
        isinstance(matrix, types.Array) and matrix.ndim == 2 and matrix.layout == "C"
    ):
        return None
    result = types.Array(matrix.dtype, 1, "C", readonly=not matrix.mutable)
    signature = result(matrix)

    def codegen(context, builder, sig, args):
        source = make_array(sig.args[0])(context, builder, args[0])
        rows, cols = cgutils.unpack_tuple(builder, source.shape, 2)
        size = builder.mul(rows, cols)
        return _array_of(context, builder, sig.return_type, source, source.data, [size])

    return signature, codegen


@intrinsic
def borrowed(typingctx, array):
    """``array`` itself, borrowed: the same view with no reference to update.

    For the arrays a kernel gets from Python, at its entry: every view,
    slice and tuple unpacking of them inside then updates no reference
    count (see above).
    """
    if not isinstance(array, types.Array):
        return None
    signature = array(array)

    def codegen(context, builder, sig, args):
        source = make_array(sig.args[0])(context, builder, args[0])
        view = make_array(sig.return_type)(context, builder)
        populate_array(
            view,
            data=source.data,
            shape=source.shape,
            strides=source.strides,
            itemsize=source.itemsize,
            meminfo=None,
            parent=source.parent,
        )
        return view._getvalue()

    return signature, codegen


if config.DISABLE_JIT:  # intrinsics cannot be called from Python

    def matrix_view(flat, start, n_rows, n_cols):  # noqa: F811
        """NumPy stand-in of the intrinsic above (``NUMBA_DISABLE_JIT=1``)."""
        return flat[start : start + n_rows * n_cols].reshape((n_rows, n_cols))

    def flat_view(matrix):  # noqa: F811
        """NumPy stand-in of the intrinsic above (``NUMBA_DISABLE_JIT=1``)."""
        return matrix.reshape(matrix.size)

    def borrowed(array):  # noqa: F811
        """NumPy stand-in of the intrinsic above (``NUMBA_DISABLE_JIT=1``)."""
        return array
