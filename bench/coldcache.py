"""Make file reads cold again between queries, and check that they are.

LMDB reads through a shared read-only mmap. The kernel will not evict a page
from the page cache while some process maps it, so neither
`posix_fadvise(DONTNEED)` nor `echo 3 > /proc/sys/vm/drop_caches` makes an
open LMDB environment cold. `LmdbEvictor` first unmaps the pages from this
process (`madvise(MADV_DONTNEED)`, harmless on a read-only shared mapping: the
next access faults the page in again from the file) and then drops them from
the page cache (`posix_fadvise(DONTNEED)`). It evicts leaf and overflow pages
(the vectors) and keeps the B-tree's branch pages, the meta pages and the
main tree's pages (the named sub-databases' records) cached, as a server
whose data outgrow RAM would: those are ~1% of the file, and every lookup
reads the branch pages, every transaction the main tree (LMDB looks up a
named sub-database's record at its first use in each transaction).

Linux only; every function says so (returns False/None) rather than fail.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import struct
import subprocess

import numpy as np

_MADV_DONTNEED = 4
_P_BRANCH, _P_LEAF, _P_OVERFLOW, _P_META = 0x01, 0x02, 0x04, 0x08
_LMDB_MAGIC = 0xBEEFC0DE

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)


def drop_all_caches() -> bool:
    """sync, then ask the kernel to drop every clean unmapped cached page
    (needs root and a writable /proc/sys). True if the kernel accepted."""
    try:
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def resident_pages(path: str) -> np.ndarray:
    """bool per page of the file: is it in the page cache now (mincore)?"""
    size = os.path.getsize(path)
    if size == 0:
        return np.zeros(0, dtype=bool)
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            vec = (ctypes.c_ubyte * -(-size // mmap.PAGESIZE))()
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return (np.frombuffer(vec, dtype=np.uint8) & 1).astype(bool)
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def fs_type(path: str) -> str:
    """The type of the file system path lives on (/proc/mounts): on tmpfs,
    pages live in RAM and there is no page cache to evict them from."""
    best, kind = "", ""
    with open("/proc/mounts") as f:
        for line in f:
            _, mount, fs = line.split()[:3]
            if os.path.realpath(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fs
    return kind


def resident_fraction(path: str) -> float:
    """Fraction of the file's pages now in the page cache."""
    pages = resident_pages(path)
    return float(pages.mean()) if len(pages) else 0.0


def _mappings(path: str) -> list[tuple[int, int, int]]:
    """(start address, end address, file offset) of this process's maps of path."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip() == real:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi, int(parts[2], 16)))
    return out


def _coalesce(pages: np.ndarray) -> list[tuple[int, int]]:
    """Sorted page numbers -> (first page, page count) runs."""
    if not len(pages):
        return []
    breaks = np.flatnonzero(np.diff(pages) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(pages)]])
    return [(int(pages[s]), int(e - s)) for s, e in zip(starts, ends)]


def lmdb_data_pages(path: str) -> np.ndarray:
    """Page numbers of data.mdb that are not branch or meta pages.

    Reads every page header (offset 10: uint16 flags; offset 12: uint32 page
    count of an overflow run, whose later pages carry no header)."""
    size = os.path.getsize(path)
    ps = mmap.PAGESIZE
    npages = size // ps
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), npages * ps, prot=mmap.PROT_READ)
    try:
        raw = np.frombuffer(buf, dtype=np.uint8).reshape(npages, ps)
        magic = int(raw[0, 16:20].copy().view("<u4")[0])
        flags = raw[:, 10:12].copy().view("<u2")[:, 0]
        runs = raw[:, 12:16].copy().view("<u4")[:, 0]
        del raw  # the mmap cannot close while a view of it exists
    finally:
        buf.close()
    if magic != _LMDB_MAGIC:
        raise ValueError(f"{path}: not an LMDB file with {ps}-byte pages")
    is_data = np.zeros(npages, dtype=bool)
    run_end = 0
    for start in np.flatnonzero(flags & _P_OVERFLOW):
        if start < run_end:
            continue  # raw bytes inside an earlier overflow run, not a header
        count = max(1, min(int(runs[start]), npages - int(start)))
        is_data[start : start + count] = True  # the run's tail pages carry no header
        run_end = start + count
    structural = ((flags & (_P_BRANCH | _P_META)) != 0) & ~is_data
    structural[:2] = True  # the two meta pages
    with open(path, "rb") as f:
        structural[_main_tree_pages(f, ps, npages)] = True
    return np.flatnonzero(~structural)


def _main_tree_pages(f, ps: int, npages: int) -> list[int]:
    """Pages of the main tree (the sub-databases' records) as both meta pages
    see it: its root (offset 88 + 40 of a meta page; depth at 88 + 6), and
    below a branch root, every page its nodes point to."""
    out: list[int] = []
    for meta in (0, 1):
        f.seek(meta * ps)
        page = f.read(ps)
        depth, root = struct.unpack_from("<H", page, 94)[0], struct.unpack_from("<Q", page, 128)[0]
        level = [root] if root < npages else []
        for _ in range(max(depth, 1)):
            out += level
            below = []
            for pg in level:
                f.seek(pg * ps)
                node_page = f.read(ps)
                if not struct.unpack_from("<H", node_page, 10)[0] & _P_BRANCH:
                    continue
                lower = struct.unpack_from("<H", node_page, 12)[0]
                for i in range((lower - 16) // 2):
                    off = struct.unpack_from("<H", node_page, 16 + 2 * i)[0]
                    lo, hi, fl = struct.unpack_from("<HHH", node_page, off)
                    child = lo | hi << 16 | fl << 32
                    if child < npages:
                        below.append(child)
            level = below
    return out


class LmdbEvictor:
    """Evicts the data pages of one LMDB file from this process and the page cache.

    Build it after the last write (page roles are read once); call it between
    queries, with no read transaction of this process open. With
    page_cache=False it only unmaps the pages, which stay cached: the next
    access then costs a page fault but no disk read."""

    def __init__(self, path: str, *, page_cache: bool = True) -> None:
        self.path = path if os.path.isfile(path) else os.path.join(path, "data.mdb")
        self.page_cache = page_cache
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)  # pages still being written back cannot be dropped
        finally:
            os.close(fd)
        self.data_pages = lmdb_data_pages(self.path)
        self.runs = _coalesce(self.data_pages)
        npages = os.path.getsize(self.path) // mmap.PAGESIZE
        self.kept_pages = np.setdiff1d(np.arange(npages), self.data_pages)
        self.full_evictions = 0  # how often the slow path was needed (reported by tests)

    def __call__(self) -> None:
        self._unmap(self.runs)
        if not self.page_cache:
            return
        self._drop(self.runs)
        if resident_pages(self.path)[self.data_pages].any():
            self._evict_all_then_reload_kept()

    def _unmap(self, runs: list[tuple[int, int]]) -> None:
        ps = mmap.PAGESIZE
        for lo, hi, offset in _mappings(self.path):
            for first, count in runs:
                start = max(first * ps, offset)
                end = min((first + count) * ps, offset + (hi - lo))
                if end > start:
                    _libc.madvise(lo + start - offset, end - start, _MADV_DONTNEED)

    def _drop(self, runs: list[tuple[int, int]]) -> None:
        ps = mmap.PAGESIZE
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for first, count in runs:
                os.posix_fadvise(fd, first * ps, count * ps, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

    def _evict_all_then_reload_kept(self) -> None:
        """The kernel caches files in large folios (up to many pages) and drops
        a folio only whole: a branch page sharing a folio with data pages keeps
        them all cached. So drop the whole file, then read the kept pages back
        one page at a time (no readahead), which caches them in small folios;
        later evictions then take the fast path."""
        self.full_evictions += 1
        everything = [(0, os.path.getsize(self.path) // mmap.PAGESIZE)]
        self._unmap(everything)
        self._drop(everything)
        ps = mmap.PAGESIZE
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            for page in self.kept_pages:
                os.pread(fd, ps, int(page) * ps)
        finally:
            os.close(fd)


def evict_files(root: str) -> None:
    """Drop every file under root from the page cache (read with pread, not mmap)."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


_libc.mlock.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.munlock.argtypes = (ctypes.c_void_p, ctypes.c_size_t)


class PinnedFiles:
    """Context manager: every file under root locked in the page cache (a
    read-only shared mapping of each, mlock'ed) while it is open.

    Why: "warm" must mean cached. This host runs a DAMON pageout scheme that
    samples memory by regions; a file read at sparse random places (LMDB
    leaves at 1M vectors) looks idle to it and is paged out within seconds of
    use, so warm passes of file-backed stores read from disk now and then.
    Anonymous memory (faiss's arrays) is not paged out without swap. A pinned
    page cannot be evicted either, so cold runs happen outside this context.
    `pinned` says whether every file could be locked (mlock needs the
    RLIMIT_MEMLOCK room; if it fails the run goes on unpinned)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.pinned = False
        self._maps: list[tuple[int, int, int]] = []  # (fd, address, size)

    def __enter__(self) -> "PinnedFiles":
        ok = True
        for folder, _, files in os.walk(self.root):
            for name in files:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY)
                size = os.fstat(fd).st_size
                addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0) if size else None
                if addr in (None, ctypes.c_void_p(-1).value):
                    os.close(fd)
                    ok = ok and size == 0
                    continue
                self._maps.append((fd, addr, size))
                ok = ok and _libc.mlock(addr, size) == 0
        self.pinned = ok and bool(self._maps)
        return self

    def __exit__(self, *exc) -> None:
        for fd, addr, size in self._maps:
            _libc.munlock(addr, size)
            _libc.munmap(addr, size)
            os.close(fd)
        self._maps = []
        self.pinned = False
