"""Which leaf page of an LMDB data file holds each key: a walk of the branch
pages only, so the leaves can be read ahead, all at once, before a
transaction touches them.

A cold get faults its leaf in through LMDB's map, one page per disk read,
and each fault costs ~35 us of CPU on this machine's VM besides the wait.
Knowing the leaf pages first lets the caller ask the kernel for all of them
in one go (posix_fadvise WILLNEED) and then read them with plain gets.

The walk reads LMDB's on-disk format (data version 1, every 0.9.x release)
from a read-only view of the file. It is a hint only: every offset is checked
against the view and the page, and anything unexpected gives -1 (no page) for
a key instead of a guess. Pages of the snapshot a read transaction sees are
never reused while it lives, so a walk inside one reads a stable tree.

Layout, little-endian (lmdb's mdb.c): a page starts with pgno u64, pad u16,
flags u16, lower u16, upper u16 (16 bytes), then u16 offsets of its nodes. A
node is lo u16, hi u16, flags u16, ksize u16, key, data. In a branch node
lo | hi << 16 | flags << 32 is the child's page; node 0's key counts as
smaller than every key. Pages 0 and 1 are the meta pages: magic u32 at 16,
version at 20, the free and main trees' records (48 bytes each) at 40 and 88,
the transaction id at 144. A tree record is pad u32 (the page size, in a
meta's free record), flags u16, depth u16, four counts u64, root u64. A named
sub-database is a node of the main tree whose data is its tree record.
"""
import struct
from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["leaf_pages", "read_meta", "MetaPage", "MAGIC", "DATA_VERSION"]

MAGIC = 0xBEEFC0DE
DATA_VERSION = 1
_HDR = 16  # page header bytes
_NODE = 8  # node header bytes
_META_DBS = 40  # offset of the free tree's record in a meta page; the main tree's follows
_DB_BYTES = 48
_META_LAST_PG = 136  # the last page the snapshot uses (mm_last_pg)
_META_TXNID = 144
_META_BYTES = _META_TXNID + 8
_P_BRANCH = 0x01
_P_LEAF = 0x02
_F_SUBDATA = 0x02
_MAX_DEPTH = 64
_NO_ROOT = 0xFFFFFFFFFFFFFFFF  # an empty tree's root (P_INVALID)


class MetaPage(NamedTuple):
    """One meta page's fields, as read (unchecked)."""

    magic: int
    version: int
    page_size: int  # the free tree record's pad
    last_page: int
    txn_id: int


def read_meta(head: bytes, at: int) -> MetaPage | None:
    """The meta page starting at byte `at` of `head` (the file's first bytes),
    None when head is too short to hold it. Plain Python: it runs once per
    open, before LMDB maps the file."""
    if at + _META_BYTES > len(head):
        return None
    magic, version = struct.unpack_from("<II", head, at + _HDR)
    (page_size,) = struct.unpack_from("<I", head, at + _META_DBS)
    last_page, txn_id = struct.unpack_from("<QQ", head, at + _META_LAST_PG)
    return MetaPage(magic, version, page_size, last_page, txn_id)


@njit(cache=True, nogil=True, inline="always")
def _u16(buf, at):
    return np.int64(buf[at]) | (np.int64(buf[at + 1]) << 8)


@njit(cache=True, nogil=True, inline="always")
def _u64(buf, at):
    v = np.uint64(0)
    for i in range(8):
        v |= np.uint64(buf[at + i]) << np.uint64(8 * i)
    return v


@njit(cache=True, nogil=True)
def _node_at(buf, page_at, psize, i, nkeys):
    """Offset of node i of the page at page_at, -1 if it does not fit the page."""
    if i >= nkeys:
        return -1
    off = _u16(buf, page_at + _HDR + 2 * i)
    if off < _HDR or off + _NODE > psize:
        return -1
    node = page_at + off
    if off + _NODE + _u16(buf, node + 6) > psize:
        return -1
    return node


@njit(cache=True, nogil=True)
def _nkeys(buf, page_at, psize):
    """Nodes on the page, -1 when its header is not a sane one."""
    lower = _u16(buf, page_at + 12)
    if lower < _HDR or lower > psize or (lower - _HDR) % 2:
        return -1
    return (lower - _HDR) >> 1


@njit(cache=True, nogil=True)
def _cmp_key(buf, node, key):
    """memcmp order of the node's key against key (LMDB's default compare)."""
    ks = _u16(buf, node + 6)
    m = min(ks, len(key))
    for j in range(m):
        a = buf[node + _NODE + j]
        b = key[j]
        if a != b:
            return -1 if a < b else 1
    return (ks > len(key)) - (ks < len(key))


@njit(cache=True, nogil=True)
def _page_at(pgno, psize, size):
    """Byte offset of page pgno, -1 when the view does not hold all of it."""
    if pgno >= np.uint64(size // psize):
        return -1
    return np.int64(pgno) * psize


@njit(cache=True, nogil=True)
def _child(buf, page_at, psize, key):
    """The page under the branch node whose key range holds key: the last node
    whose key is <= key, node 0 counting as the smallest. -1 if malformed."""
    if not _u16(buf, page_at + 10) & _P_BRANCH:
        return np.uint64(_NO_ROOT), False
    n = _nkeys(buf, page_at, psize)
    if n < 1:
        return np.uint64(_NO_ROOT), False
    lo, hi, best = 1, n - 1, 0
    while lo <= hi:
        mid = (lo + hi) >> 1
        node = _node_at(buf, page_at, psize, mid, n)
        if node < 0:
            return np.uint64(_NO_ROOT), False
        if _cmp_key(buf, node, key) <= 0:
            best = mid
            lo = mid + 1
        else:
            hi = mid - 1
    node = _node_at(buf, page_at, psize, best, n)
    if node < 0:
        return np.uint64(_NO_ROOT), False
    pg = np.uint64(_u16(buf, node)) | (np.uint64(_u16(buf, node + 2)) << np.uint64(16)) \
        | (np.uint64(_u16(buf, node + 4)) << np.uint64(32))
    return pg, True


@njit(cache=True, nogil=True)
def _leaf_of(buf, psize, root, depth, key):
    """The leaf page holding key in the tree (root, depth); -1 if unknown.
    The leaf itself is never read: that is the read this walk saves."""
    if root == np.uint64(_NO_ROOT) or depth < 1 or depth > _MAX_DEPTH:
        return -1
    pg = root
    for _ in range(depth - 1):
        at = _page_at(pg, psize, len(buf))
        if at < 0:
            return -1
        pg, ok = _child(buf, at, psize, key)
        if not ok:
            return -1
    if _page_at(pg, psize, len(buf)) < 0:
        return -1
    return np.int64(pg)


@njit(cache=True, nogil=True)
def _tree(buf, psize, txnid, name):
    """(root, depth) of the sub-database `name` in the snapshot txnid; depth 0
    when it cannot be found."""
    meta_at = -1
    for m in range(2):
        at = m * psize
        if at + _META_TXNID + 8 > len(buf):
            return np.uint64(0), 0
        magic = _u16(buf, at + _HDR) | (_u16(buf, at + _HDR + 2) << 16)
        version = _u16(buf, at + _HDR + 4) | (_u16(buf, at + _HDR + 6) << 16)
        if magic != MAGIC or version != DATA_VERSION:
            return np.uint64(0), 0
        if _u16(buf, at + _META_DBS) | (_u16(buf, at + _META_DBS + 2) << 16) != psize:
            return np.uint64(0), 0
        if _u64(buf, at + _META_TXNID) == txnid:
            meta_at = at
    if meta_at < 0:
        return np.uint64(0), 0
    main = meta_at + _META_DBS + _DB_BYTES
    leaf = _leaf_of(buf, psize, _u64(buf, main + 40), _u16(buf, main + 6), name)
    if leaf < 0:
        return np.uint64(0), 0
    at = leaf * psize
    if not _u16(buf, at + 10) & _P_LEAF:
        return np.uint64(0), 0
    n = _nkeys(buf, at, psize)
    for i in range(max(n, 0)):
        node = _node_at(buf, at, psize, i, n)
        if node < 0:
            return np.uint64(0), 0
        if _cmp_key(buf, node, name) == 0:
            rec = node + _NODE + _u16(buf, node + 6)
            if not _u16(buf, node + 4) & _F_SUBDATA or rec + _DB_BYTES > at + psize:
                return np.uint64(0), 0
            return _u64(buf, rec + 40), _u16(buf, rec + 6)
    return np.uint64(0), 0


@njit(cache=True, nogil=True)
def _leaf_pages_kernel(buf, psize, txnid, name, keys, out):
    root, depth = _tree(buf, psize, txnid, name)
    for i in range(keys.shape[0]):
        out[i] = _leaf_of(buf, psize, root, depth, keys[i]) if depth > 0 else -1


def leaf_pages(buf, psize, txnid, name, keys):
    """The leaf page number of every key, -1 where unknown: int64 (n,).

    buf: uint8 (size,), a read-only view of the data file from its first byte
    (pages past its end count as unknown); psize: the environment's page size;
    txnid: the id of the read transaction whose snapshot to walk (it must stay
    open while the pages are used); name: the sub-database's name (bytes);
    keys: uint8 (n, key_bytes), compared as LMDB's default compare does
    (memcmp, then length).
    """
    if not isinstance(buf, np.ndarray) or buf.dtype != np.uint8 or buf.ndim != 1:
        raise TypeError("buf must be a uint8 array (size,)")
    if not isinstance(keys, np.ndarray) or keys.dtype != np.uint8 or keys.ndim != 2:
        raise TypeError("keys must be a uint8 array (n, key_bytes)")
    psize = int(psize)
    if psize < 512 or psize & (psize - 1):
        raise ValueError(f"page size must be a power of two >= 512, not {psize}")
    name = np.frombuffer(bytes(name), dtype=np.uint8)
    out = np.empty(len(keys), np.int64)
    _leaf_pages_kernel(buf, psize, np.uint64(txnid), name, np.ascontiguousarray(keys), out)
    return out
