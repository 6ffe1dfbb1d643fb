"""Views of contiguous arrays built directly, without numba's ``reshape``.

The views are the arrays numba's would be (pointer, shape, strides, sharing the
buffer's memory), borrowed as ``numba.carray``'s are: they hold no reference to the
buffer. Invariant: every buffer a kernel views comes from its Python caller and
outlives the call; never take one of an array a kernel allocates (numba may free
it after its last use). Only C-contiguous arrays; the caller keeps ``start +
n_rows * n_cols`` within the buffer. Under ``NUMBA_DISABLE_JIT=1`` plain NumPy
versions run and check sizes.

Why: numba's ``reshape`` calls a C helper per view and counts references with
atomic adds that a split batch's threads share: ``docs/design/call_overhead.md``.
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


def _borrowed_view(context, builder, sig, args):
    """Codegen: ``args[0]``'s view as ``sig.return_type``, borrowed (see above)."""
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


@intrinsic
def borrowed(typingctx, array):
    """``array`` itself, borrowed: the same view with no reference to update.

    For the arrays a kernel gets from Python, at its entry: every view,
    slice and tuple unpacking of them inside then updates no reference
    count (see above).
    """
    if not isinstance(array, types.Array):
        return None
    return array(array), _borrowed_view


@intrinsic
def typed_writable(typingctx, array):
    """``array`` borrowed (as :func:`borrowed`), typed writable even if read-only.

    numba compiles a kernel apart for read-only arrays. The passes only read
    their input rows, so the kernels that hand them read-only rows (a
    prediction's, L-BFGS's) pass them through this and share the passes the
    epoch compiles for its writable batch buffer: one compile of the forward
    pass instead of two in a first fit and predict. Never write through it.
    """
    if not isinstance(array, types.Array):
        return None
    return array.copy(readonly=False)(array), _borrowed_view


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

    def typed_writable(array):  # noqa: F811
        """NumPy stand-in of the intrinsic above (``NUMBA_DISABLE_JIT=1``)."""
        return array
