"""One adapter per peer library, all optional: a missing one is reported.

Every peer indexes the same float32 vectors by inner product (the datasets
hold unit vectors, so this is cosine). Where a peer reranks, it reranks from
the float32 vectors held in RAM, which the RAM figure then includes.

RAM per vector is what the index must keep in memory to answer at the
measured speed:
- faiss: the size of `faiss.serialize_index(index)` (codes, lists, graphs,
  refine vectors; allocator slack not counted);
- usearch: `Index.serialized_length` (vectors + graph);
- hnswlib: `Index.index_file_size()` (vectors + graph);
- sign codes + rerank from RAM: codes + the float32 vectors;
- LanceDB: its vector index's size (centroids, PQ codes, row ids), which it
  caches in RAM; the refine reads full vectors from its data files on disk.
"""
from __future__ import annotations

import os
import shutil

import numpy as np

from .measure import dir_bytes
from .peers_scale import scale_peers
from .systems import Params, System, ivf_lists, ivf_probes, pq_subspaces, rerank_parallel

# LanceDB logs a warning per query; its logger reads this once, when lancedb is imported
os.environ.setdefault("LANCEDB_LOG", "error")


def _serialized_size(index) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def _serialized_size_binary(index) -> int:
    import faiss

    return int(faiss.serialize_index_binary(index).nbytes)


class FaissFactory(System):
    """A faiss index made by `index_factory` on inner product.

    The grid's keys are the search-time parameters set before each search:
    nprobe (IVF), efSearch (HNSW), k_factor (refine)."""

    family = "faiss"
    requires = ("faiss",)

    def __init__(self, name: str, spec: str, grid: list[Params], ram_note: str) -> None:
        self.name, self.spec, self.grid, self.ram_note = name, spec, grid, ram_note
        self.index = None

    def sweep(self) -> list[Params]:
        return self.grid

    def build(self, xb, workdir):
        import faiss

        self.index = faiss.index_factory(xb.shape[1], self.spec, faiss.METRIC_INNER_PRODUCT)
        self.index.train(xb)
        self.index.add(xb)
        self.n = len(xb)

    def _apply(self, params: Params) -> None:
        import faiss

        index = self.index
        if "k_factor" in params:
            faiss.downcast_index(index).k_factor = float(params["k_factor"])
        if "nprobe" in params:
            faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
        if "efSearch" in params:
            hnsw = faiss.downcast_index(index)
            hnsw = faiss.downcast_index(hnsw.base_index) if hasattr(hnsw, "base_index") else hnsw
            hnsw.hnsw.efSearch = int(params["efSearch"])

    def search(self, xq, k, params, threads):
        self._apply(params)  # faiss threads are set by measure.thread_limit
        _, ids = self.index.search(xq, k)
        return ids.astype(np.int64)

    def ram_bytes(self):
        return _serialized_size(self.index)

    def candidates(self, k, params):
        return int(k * params["k_factor"]) if "k_factor" in params else None

    def close(self):
        self.index = None


class FaissBinaryRerank(System):
    """Sign bits of (x - mean) in `IndexBinaryFlat`, exact rerank from RAM."""

    name = "faiss BinaryFlat+rerank"
    family = "faiss"
    requires = ("faiss",)
    ram_note = "serialized IndexBinaryFlat (d/8 bytes/vector) + float32 vectors for the rerank"

    def __init__(self, k_factors=(2, 4, 8, 16, 32, 64)) -> None:
        self.k_factors = k_factors

    def sweep(self):
        return [{"k_factor": f} for f in self.k_factors]

    def _codes(self, x):
        bits = np.packbits(x - self.mean > 0, axis=1)
        return np.ascontiguousarray(bits)

    def build(self, xb, workdir):
        import faiss

        self.xb = xb
        self.mean = xb.mean(axis=0)  # centred like vecstore's binary codes
        codes = self._codes(xb)
        self.index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
        self.index.add(codes)

    def search(self, xq, k, params, threads):
        # faiss scans on `threads` cores; the numpy rerank is split the same way
        _, cand = self.index.search(self._codes(xq), int(k * params["k_factor"]))
        return rerank_parallel(self.xb, xq, cand.astype(np.int64), k, threads)

    def ram_bytes(self):
        return _serialized_size_binary(self.index) + self.xb.nbytes

    def candidates(self, k, params):
        return int(k * params["k_factor"])

    def close(self):
        self.index = self.xb = None


class UsearchB1Rerank(System):
    """usearch HNSW over sign bits (Hamming), exact rerank from RAM."""

    name = "usearch b1+rerank"
    family = "usearch"
    requires = ("usearch",)
    ram_note = "usearch serialized_length (bits + graph) + float32 vectors for the rerank"

    def __init__(self, k_factors=(2, 4, 8, 16, 32, 64)) -> None:
        self.k_factors = k_factors

    def sweep(self):
        return [{"k_factor": f} for f in self.k_factors]

    def build(self, xb, workdir):
        from usearch.index import Index

        self.xb = xb
        self.mean = xb.mean(axis=0)
        bits = np.packbits(xb - self.mean > 0, axis=1)
        self.index = Index(ndim=bits.shape[1] * 8, metric="hamming", dtype="b1")
        self.index.add(np.arange(len(xb)), bits, threads=os.cpu_count() or 1)

    def search(self, xq, k, params, threads):
        count = int(k * params["k_factor"])
        self.index.expansion_search = max(64, count)  # the graph walk must reach `count` results
        bits = np.packbits(xq - self.mean > 0, axis=1)
        matches = self.index.search(bits, count, threads=threads)
        cand = np.asarray(matches.keys, dtype=np.int64).reshape(len(xq), -1)
        if cand.shape[1] < count:
            cand = np.pad(cand, ((0, 0), (0, count - cand.shape[1])), constant_values=-1)
        cand[cand >= len(self.xb)] = -1  # usearch pads missing results with a sentinel key
        return rerank_parallel(self.xb, xq, cand, k, threads)

    def ram_bytes(self):
        return int(self.index.serialized_length) + self.xb.nbytes

    def candidates(self, k, params):
        return int(k * params["k_factor"])

    def close(self):
        self.index = self.xb = None


class UsearchI8(System):
    """usearch HNSW over int8-quantized vectors (no rerank)."""

    name = "usearch i8"
    family = "usearch"
    requires = ("usearch",)
    ram_note = "usearch serialized_length (int8 vectors + graph)"

    def __init__(self, efs=(16, 32, 64, 128, 256)) -> None:
        self.efs = efs

    def sweep(self):
        return [{"expansion_search": e} for e in self.efs]

    def build(self, xb, workdir):
        from usearch.index import Index

        self.index = Index(ndim=xb.shape[1], metric="ip", dtype="i8")
        self.index.add(np.arange(len(xb)), xb, threads=os.cpu_count() or 1)
        self.n = len(xb)

    def search(self, xq, k, params, threads):
        self.index.expansion_search = int(params["expansion_search"])
        matches = self.index.search(xq, k, threads=threads)
        ids = np.asarray(matches.keys, dtype=np.int64).reshape(len(xq), -1)
        ids[ids >= self.n] = -1
        return ids

    def ram_bytes(self):
        return int(self.index.serialized_length)

    def close(self):
        self.index = None


class Hnswlib(System):
    name = "hnswlib"
    family = "hnswlib"
    requires = ("hnswlib",)
    ram_note = "hnswlib index_file_size() (float32 vectors + graph, M=16)"

    def __init__(self, efs=(16, 32, 64, 128, 256), m: int = 16, ef_construction: int = 100) -> None:
        self.efs, self.m, self.ef_construction = efs, m, ef_construction

    def sweep(self):
        return [{"ef": e} for e in self.efs]

    def build(self, xb, workdir):
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=xb.shape[1])
        self.index.init_index(max_elements=len(xb), ef_construction=self.ef_construction, M=self.m)
        self.index.add_items(xb, np.arange(len(xb)), num_threads=os.cpu_count() or 1)

    def search(self, xq, k, params, threads):
        self.index.set_ef(max(int(params["ef"]), k))
        ids, _ = self.index.knn_query(xq, k=k, num_threads=threads)
        return ids.astype(np.int64)

    def ram_bytes(self):
        return int(self.index.index_file_size())

    def close(self):
        self.index = None


class LanceIvfPq(System):
    """LanceDB table with an IVF_PQ index; `refine_factor` rereads full
    vectors from the table's files. LanceDB runs its own thread pools: the
    harness cannot pin it to one thread, so its single-query figures may use
    both cores."""

    name = "LanceDB IVF_PQ+refine"
    family = "lancedb"
    requires = ("lancedb", "pyarrow")
    ram_note = "size of the IVF_PQ index (centroids, PQ codes, row ids) as LanceDB reports it; full vectors stay on disk"
    reads_disk = True

    def __init__(self, nprobes=(16, 32, 64, 128, 256), refine_factors=(5, 20)) -> None:
        self.grid = [{"nprobes": p, "refine_factor": r} for r in refine_factors for p in nprobes]

    def sweep(self):
        return self.grid

    def build(self, xb, workdir):
        import lancedb
        import pyarrow as pa
        from lancedb.index import IvfPq

        self.path = os.path.join(workdir, "lancedb")
        shutil.rmtree(self.path, ignore_errors=True)
        db = lancedb.connect(self.path)
        n, d = xb.shape
        table = pa.table({"id": np.arange(n, dtype=np.int64),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(xb.reshape(-1)), d)})
        self.table = db.create_table("vectors", table)
        self.nlist = ivf_lists(n)
        self.table.create_index("vector", config=IvfPq(distance_type="dot", num_partitions=self.nlist,
                                                       num_sub_vectors=pq_subspaces(d, 1 / 8)))
        self.grid = [g for g in self.grid if g["nprobes"] <= self.nlist] or [{"nprobes": self.nlist, "refine_factor": 4}]

    def _query(self, q, k, params):
        return (self.table.search(q).nprobes(int(params["nprobes"])).refine_factor(int(params["refine_factor"]))
                .limit(k).select(["id", "_distance"]))

    def search(self, xq, k, params, threads):
        out = np.full((len(xq), k), -1, dtype=np.int64)
        if len(xq) == 1:
            ids = self._query(xq[0], k, params).to_arrow()["id"].to_numpy()
            out[0, : len(ids)] = ids
            return out
        res = self._query(xq, k, params).to_arrow()
        qi, ids, dist = (res[c].to_numpy() for c in ("query_index", "id", "_distance"))
        order = np.lexsort((dist, qi))  # by query, then best first (dot distance: lower is better)
        qi, ids = qi[order], ids[order]
        rank = np.arange(len(qi)) - np.searchsorted(qi, qi)
        keep = rank < k
        out[qi[keep], rank[keep]] = ids[keep]
        return out

    def ram_bytes(self):
        for index in self.table.list_indices():
            size = getattr(index, "size_bytes", None)
            if size:
                return int(size)
        return dir_bytes(os.path.join(self.path, "vectors.lance", "_indices"))

    def disk_bytes(self):
        return dir_bytes(self.path)

    def candidates(self, k, params):
        return int(k * params["refine_factor"])

    def evict(self):
        from .coldcache import evict_files

        evict_files(self.path)

    def close(self):
        self.table = None
        if getattr(self, "path", None):
            shutil.rmtree(self.path, ignore_errors=True)


def all_peers(n: int, dim: int) -> list[System]:
    """The peers of issues 7 and 19, parametrised for n vectors of dim dimensions.

    "np" in a faiss spec skips polysemous training, which serves Hamming
    filtering we do not use and takes minutes."""
    m8 = pq_subspaces(dim, 1 / 8)  # PQ48 at 384-d: 48 bytes, like 1-bit codes
    m4 = pq_subspaces(dim, 1 / 4)  # PQ96x4fs at 384-d: 48 bytes of 4-bit codes
    nlist = ivf_lists(n)
    probes = ivf_probes(nlist)
    # k_factor in unit steps near where recall 0.95 falls for the probes that
    # reach it, as vecstore's oversampling is swept
    fine = [{"nprobe": p, "k_factor": f} for f in (4, 5, 6, 7, 8, 10) for p in probes[:3]]
    return [
        FaissBinaryRerank(),
        FaissFactory(f"faiss PQ{m8}", f"PQ{m8}np", [{}], "serialized IndexPQ (M bytes/vector + codebooks)"),
        FaissFactory(
            f"faiss PQ{m4}x4fs+refine", f"PQ{m4}x4fs,RFlat", [{"k_factor": f} for f in (1, 2, 4, 8, 16)],
            "serialized index: 4-bit PQ codes + IndexRefineFlat's float32 vectors",
        ),
        FaissFactory(
            f"faiss IVF{nlist},PQ{m8}+refine", f"IVF{nlist},PQ{m8}np,RFlat",
            fine + [{"nprobe": p, "k_factor": f} for f in (4, 8) for p in probes[3:]]
            + [{"nprobe": p, "k_factor": 16} for p in probes],
            "serialized index: IVF lists (PQ codes + 8-byte ids), centroids, IndexRefineFlat's float32 vectors",
        ),
        FaissFactory(
            "faiss HNSW32,Flat", "HNSW32,Flat", [{"efSearch": e} for e in (16, 32, 64, 128, 256)],
            "serialized IndexHNSWFlat (float32 vectors + graph links)",
        ),
        UsearchB1Rerank(),
        UsearchI8(),
        Hnswlib(),
        LanceIvfPq(),
    ] + scale_peers(n, dim)
