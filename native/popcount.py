"""Population count on uint64 words via the LLVM ``ctpop`` intrinsic.

``popcount64(x)`` returns the number of set bits of the 64-bit word ``x`` as an
int64.  Inside a jitted loop LLVM lowers it to the ``popcnt`` instruction, or to
``vpopcntq`` when the loop is vectorized on a CPU with AVX-512 VPOPCNTDQ.
"""
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["popcount64", "popcount_u64"]


@intrinsic
def popcount64(typingctx, x):
    """Number of set bits of a 64-bit integer word, as int64 (usable only inside @njit code)."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None

    # The result is declared int64 rather than uint64 on purpose: Numba promotes
    # uint64 + int64 to float64, which would silently turn distance sums into floats.
    sig = types.int64(x)

    def codegen(context, builder, signature, args):
        (val,) = args
        return builder.ctpop(val)  # llvm.ctpop.i64; the bit pattern is the same for int64/uint64

    return sig, codegen


@njit(cache=True, nogil=True)
def popcount_u64(a):
    """Total number of set bits of a uint64 array: sum_i popcount(a[i]) (used by tests)."""
    flat = a.ravel()
    s = 0
    for i in range(flat.size):
        s += popcount64(flat[i])
    return s
