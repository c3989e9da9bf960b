"""Plain-Python reference of ``native.lmdb_pages.leaf_pages``: the same walk
written with struct and bytes comparisons, for the tests to hold the kernel to.
"""
import struct

import numpy as np

__all__ = ["leaf_pages_ref"]


def _tree_ref(data: bytes, psize: int, txnid: int, name: bytes):
    metas = []
    for m in range(2):
        page = data[m * psize : m * psize + 152]
        if len(page) < 152:
            return None
        magic, version = struct.unpack_from("<II", page, 16)
        if magic != 0xBEEFC0DE or version != 1 or struct.unpack_from("<I", page, 40)[0] != psize:
            return None
        metas.append(page)
    meta = next((p for p in metas if struct.unpack_from("<Q", p, 144)[0] == txnid), None)
    if meta is None:
        return None
    depth, root = struct.unpack_from("<H", meta, 88 + 6)[0], struct.unpack_from("<Q", meta, 88 + 40)[0]
    leaf = _leaf_ref(data, psize, root, depth, name)
    if leaf < 0:
        return None
    page = data[leaf * psize : (leaf + 1) * psize]
    if not struct.unpack_from("<H", page, 10)[0] & 0x02:
        return None
    for node in _nodes(page, psize):
        if node is None:
            return None
        flags, key, rest, _pgno = node
        if key == name:
            if not flags & 0x02 or len(rest) < 48:
                return None
            return struct.unpack_from("<Q", rest, 40)[0], struct.unpack_from("<H", rest, 6)[0]
    return None


def _nodes(page: bytes, psize: int):
    """(flags, key, bytes after the key up to the page's end) of every node;
    None for a node that does not fit."""
    lower = struct.unpack_from("<H", page, 12)[0]
    if lower < 16 or lower > psize or (lower - 16) % 2:
        yield None
        return
    for i in range((lower - 16) // 2):
        off = struct.unpack_from("<H", page, 16 + 2 * i)[0]
        if off < 16 or off + 8 > psize:
            yield None
            return
        lo, hi, flags, ksize = struct.unpack_from("<HHHH", page, off)
        if off + 8 + ksize > psize:
            yield None
            return
        yield flags, page[off + 8 : off + 8 + ksize], page[off + 8 + ksize :], (lo | hi << 16 | flags << 32)


def _leaf_ref(data: bytes, psize: int, root: int, depth: int, key: bytes) -> int:
    if root == 0xFFFFFFFFFFFFFFFF or not 1 <= depth <= 64:
        return -1
    pages = len(data) // psize
    pg = root
    for _ in range(depth - 1):
        if pg >= pages:
            return -1
        page = data[pg * psize : (pg + 1) * psize]
        if not struct.unpack_from("<H", page, 10)[0] & 0x01:
            return -1
        nodes = list(_nodes(page, psize))
        if not nodes or any(nd is None for nd in nodes):
            # the kernel only looks at the nodes its binary search visits; the
            # tests compare on files where every node is sane or the page is rejected
            return -1
        child = nodes[0][3]
        for _flags, k, _rest, pgno in nodes[1:]:
            if k <= key:
                child = pgno
            else:
                break
        pg = child
    return pg if pg < pages else -1


def leaf_pages_ref(data: bytes, psize: int, txnid: int, name: bytes, keys) -> np.ndarray:
    data = bytes(data)
    tree = _tree_ref(data, psize, txnid, bytes(name))
    out = np.full(len(keys), -1, np.int64)
    if tree is None:
        return out
    root, depth = tree
    for i, key in enumerate(keys):
        out[i] = _leaf_ref(data, psize, root, depth, bytes(key))
    return out
