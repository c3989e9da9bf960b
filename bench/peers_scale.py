"""The peers of issue 19: DiskANN (diskannpy), Intel SVS (scalable-vs) and
milvus-lite. Each is optional; a missing or unusable one is reported with the
reason and the run goes on.

RAM per vector, per peer (each also logs the RSS delta it can see, as a check):
- DiskANN StaticDiskIndex: the files it loads into RAM (PQ codes, PQ pivots)
  plus its node cache (0 nodes by default: the same RAM budget as vecstore).
  The graph and full vectors stay in `ann_disk.index`, read with O_DIRECT.
- SVS Vamana: the size of its saved graph and data (what it holds in memory).
- milvus-lite: what its loaded segments hold, read from its in-process
  engine: float32 vectors, their Arrow table and the faiss index.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

from .measure import current_threads, dir_bytes, rss_bytes
from .systems import Params, System, ivf_lists, ivf_probes

#: DiskANN's PQ bytes per vector: the issue's RAM budget (bench.compare --diskann-pq-bytes)
DISKANN_PQ_BYTES = 64


@contextlib.contextmanager
def native_output_to(path: str):
    """Send the process's stdout and stderr (fds 1 and 2) to a file:
    DiskANN's C++ prints hundreds of lines per build and per load."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for target, old in zip((1, 2), saved):
            os.dup2(old, target)
            os.close(old)
        os.close(fd)


def diskann_ram_limit_gb(pq_bytes: int, n: int) -> float:
    """search_memory_maximum that makes DiskANN choose pq_bytes PQ chunks.

    It takes floor(limit / n) chunks, after subtracting 0.25 GB for a node
    cache when the limit exceeds 1.25 GB; half a byte of slack per vector
    keeps the floor from rounding down."""
    gb = (pq_bytes + 0.5) * n / 2**30
    return gb + 0.25 if gb > 1.0 else gb


class DiskAnnStatic(System):
    """diskannpy StaticDiskIndex: PQ codes in RAM, the Vamana graph and the
    full float32 vectors on disk. Built on L2, which orders unit vectors
    exactly as inner product does (DiskANN's own advice for cosine data;
    its MIPS adds a dimension).

    Two faults of diskannpy 0.7.0 are worked around: loading with one thread
    deadlocks, so the index is loaded with >= 2 thread contexts; and
    `search` (one query) returns one id repeated k times, so single queries
    go through `batch_search` with a (1, d) batch on one thread."""

    family = "diskann"
    requires = ("diskannpy",)
    reads_disk = True

    def __init__(self, pq_bytes: int | None = None, graph_degree: int = 64, build_complexity: int = 100,
                 complexities=(16, 32, 64, 128, 256), beam_widths=(2, 4), cache_nodes: int = 0) -> None:
        self.pq_bytes = pq_bytes if pq_bytes is not None else DISKANN_PQ_BYTES
        self.graph_degree, self.build_complexity, self.cache_nodes = graph_degree, build_complexity, cache_nodes
        self.grid = [{"complexity": c, "beam_width": w} for w in beam_widths for c in complexities]
        self.name = f"DiskANN PQ{self.pq_bytes} R{graph_degree}"
        self.ram_note = (f"PQ codes ({self.pq_bytes} B/vector) + PQ pivots loaded in RAM, {cache_nodes} cached "
                         "nodes; graph and float32 vectors on disk, read with O_DIRECT (no page cache: warm "
                         "and cold runs both read the disk)")
        self.index = None
        self.index_dir = None  # not `path`: the harness would mlock the whole disk index to pin it

    def sweep(self):
        return self.grid

    def build(self, xb, workdir):
        import diskannpy

        self.index_dir = os.path.join(workdir, "diskann")
        shutil.rmtree(self.index_dir, ignore_errors=True)
        os.makedirs(self.index_dir)
        self.log = os.path.join(self.index_dir, "native.log")  # removed with the index
        self.n, self.dim = xb.shape
        threads = current_threads()
        with native_output_to(self.log):
            diskannpy.build_disk_index(
                data=np.ascontiguousarray(xb, dtype=np.float32), distance_metric="l2",
                index_directory=self.index_dir, complexity=self.build_complexity, graph_degree=self.graph_degree,
                search_memory_maximum=diskann_ram_limit_gb(self.pq_bytes, self.n),
                build_memory_maximum=max(1.0, 4 * xb.nbytes / 2**30), num_threads=threads, pq_disk_bytes=0)
        os.remove(os.path.join(self.index_dir, "ann_vectors.bin"))  # the input copy; the index holds the vectors
        with open(self.log) as f:
            said = re.findall(r"into (\d+) bytes per vector", f.read())
        if not said or int(said[-1]) != min(self.pq_bytes, self.dim):
            raise RuntimeError(f"DiskANN chose {said[-1:] or '?'} PQ bytes per vector, not {self.pq_bytes}")
        gc.collect()
        before = rss_bytes()
        with native_output_to(self.log):
            self.index = diskannpy.StaticDiskIndex(index_directory=self.index_dir, num_threads=max(2, threads),
                                                   num_nodes_to_cache=self.cache_nodes)
        self.rss_delta = rss_bytes() - before

    def search(self, xq, k, params, threads):
        res = self.index.batch_search(np.ascontiguousarray(xq, dtype=np.float32), k,
                                      max(k, int(params["complexity"])), int(params["beam_width"]), max(1, threads))
        ids = np.asarray(res.identifiers, dtype=np.int64).reshape(len(xq), -1)
        ids[ids >= self.n] = -1
        return ids

    def ram_bytes(self):
        files = sum(os.path.getsize(os.path.join(self.index_dir, f))
                    for f in ("ann_pq_compressed.bin", "ann_pq_pivots.bin"))
        node = self.dim * 4 + 4 * (self.graph_degree + 1)  # a cached node: vector + degree + neighbours
        return files + self.cache_nodes * node

    def ram_rss_delta(self):
        return self.rss_delta

    def disk_bytes(self):
        return dir_bytes(self.index_dir)

    def evict(self):
        from .coldcache import evict_files

        evict_files(self.index_dir)

    def close(self):
        if self.index is not None:
            with native_output_to(self.log):  # its destructor prints too
                self.index = None
                gc.collect()
        if self.index_dir:
            shutil.rmtree(self.index_dir, ignore_errors=True)


_LVQ_PROBE = """
import numpy as np, os, sys, svs, tempfile
d = tempfile.mkdtemp()
x = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
svs.write_vecs(x, os.path.join(d, "x.fvecs"))
data = svs.LVQLoader(svs.VectorDataLoader(os.path.join(d, "x.fvecs"), svs.DataType.float32), primary=4, residual=8)
svs.Vamana.build(svs.VamanaBuildParameters(graph_max_degree=8, window_size=16), data, svs.DistanceType.MIP)
print("lvq ok")
"""
_lvq_verdict: dict[str, str | None] = {}


def svs_lvq_missing() -> str | None:
    """Why SVS's LVQ cannot run here, or None. Probed in a child process: on
    a non-Intel CPU the PyPI build prints a message and exits the process."""
    if "v" not in _lvq_verdict:
        try:
            out = subprocess.run([sys.executable, "-c", _LVQ_PROBE], capture_output=True, text=True, timeout=120)
            ok = out.returncode == 0 and "lvq ok" in out.stdout
            said = (out.stderr.strip().splitlines() or out.stdout.strip().splitlines() or ["no message"])[-1]
            _lvq_verdict["v"] = None if ok else f"an LVQ build exits the process (code {out.returncode}): {said}"
        except subprocess.TimeoutExpired:
            _lvq_verdict["v"] = "an LVQ probe build did not finish in 120 s"
    return _lvq_verdict["v"]


class SvsVamana(System):
    """Intel SVS Vamana graph in RAM over LVQ-compressed vectors (primary
    bits for the walk, residual bits for the rerank), or over float16
    vectors where LVQ is unavailable (the PyPI build runs LVQ on Intel CPUs
    only). Inner product."""

    family = "svs"
    requires = ("svs",)

    def __init__(self, encoding: str = "lvq4x8", graph_degree: int = 64, window: int = 128,
                 windows=(16, 32, 64, 128, 256)) -> None:
        self.encoding, self.graph_degree, self.window, self.windows = encoding, graph_degree, window, windows
        self.name = f"SVS Vamana {encoding} R{graph_degree}"
        self.ram_note = f"size of the saved SVS index: graph (R={graph_degree}) + {encoding} vectors"
        self.index = None
        self.dir = None

    def missing(self):
        return super().missing() or (svs_lvq_missing() if self.encoding.startswith("lvq") else None)

    def sweep(self):
        return [{"window": w} for w in self.windows]

    def build(self, xb, workdir):
        import svs

        self.dir = os.path.join(workdir, "svs")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.n = len(xb)
        params = svs.VamanaBuildParameters(graph_max_degree=self.graph_degree, window_size=self.window)
        gc.collect()
        before = rss_bytes()
        if self.encoding.startswith("lvq"):
            primary, _, residual = self.encoding[3:].partition("x")
            svs.write_vecs(np.ascontiguousarray(xb, dtype=np.float32), os.path.join(self.dir, "base.fvecs"))
            data = svs.LVQLoader(svs.VectorDataLoader(os.path.join(self.dir, "base.fvecs"), svs.DataType.float32,
                                                      dims=xb.shape[1]),
                                 primary=int(primary), residual=int(residual or 0))
        else:
            data = np.ascontiguousarray(xb, dtype=self.encoding)
        self.index = svs.Vamana.build(params, data, svs.DistanceType.MIP, num_threads=current_threads())
        del data
        gc.collect()
        self.rss_delta = rss_bytes() - before
        self.saved = os.path.join(self.dir, "saved")
        os.makedirs(self.saved)
        self.index.save(*(os.path.join(self.saved, p) for p in ("config", "graph", "data")))

    def search(self, xq, k, params, threads):
        self.index.num_threads = max(1, threads)
        self.index.search_window_size = max(k, int(params["window"]))
        ids, _ = self.index.search(np.ascontiguousarray(xq, dtype=np.float32), k)
        ids = np.asarray(ids).astype(np.int64).reshape(len(xq), -1)
        ids[(ids < 0) | (ids >= self.n)] = -1
        return ids

    def ram_bytes(self):
        return dir_bytes(os.path.join(self.saved, "graph")) + dir_bytes(os.path.join(self.saved, "data"))

    def ram_rss_delta(self):
        return self.rss_delta

    def close(self):
        self.index = None
        gc.collect()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


_milvus_verdict: dict[str, str | None] = {}


def milvus_index_missing(index_type: str) -> str | None:
    """Why milvus-lite cannot build index_type, or None. Asked of its index
    factory directly: through the client, an index type it lacks is accepted,
    reported as built, and searched by brute force."""
    if index_type not in _milvus_verdict:
        from milvus_lite.index.factory import build_index_from_spec
        from milvus_lite.index.spec import IndexSpec

        x = np.random.default_rng(0).standard_normal((256, 8)).astype(np.float32)
        spec = IndexSpec(field_name="v", index_type=index_type, metric_type="IP", build_params={"nlist": 4})
        try:
            build_index_from_spec(spec, x)
            _milvus_verdict[index_type] = None
        except Exception as exc:
            import milvus_lite

            _milvus_verdict[index_type] = (f"milvus-lite {milvus_lite.__version__} has no {index_type} index "
                                           f"({type(exc).__name__}: {exc})")
    return _milvus_verdict[index_type]


def _faiss_bytes(index) -> int:
    """Serialized size of the faiss index inside a milvus-lite segment index."""
    inner = getattr(index, "_index", None)
    if inner is None:
        return 0
    import faiss

    return int(faiss.serialize_index(inner).nbytes)


class MilvusLite(System):
    """milvus-lite through pymilvus's MilvusClient on a local file: in this
    version a pure-Python engine serving gRPC on a loopback port in a
    thread of this process, with faiss indexes per segment. Every query is
    a gRPC call. faiss's OpenMP is pinned by the harness; its gRPC threads
    are not."""

    family = "milvus"
    requires = ("pymilvus", "milvus_lite")

    def __init__(self, index_type: str = "IVF_FLAT", nlist: int | None = None, grid: list[Params] | None = None) -> None:
        self.index_type, self.nlist, self.grid = index_type, nlist, grid or [{}]
        self.name = f"milvus-lite {index_type}"
        self.ram_note = ("what its loaded segments hold in this process, read from its engine: the float32 "
                         "vectors (numpy), their Arrow table (vectors again + ids) and the serialized faiss "
                         "index; the RSS delta of a reload undercounts (a release frees only the index)")
        self.client = None
        self.path = None
        self.engine = None

    def missing(self):
        return super().missing() or milvus_index_missing(self.index_type)

    def sweep(self):
        return self.grid

    def build(self, xb, workdir):
        from pymilvus import DataType, MilvusClient

        self.path = os.path.join(workdir, "milvus")
        shutil.rmtree(self.path, ignore_errors=True)
        os.makedirs(self.path)
        self.n, dim = xb.shape
        self.client = MilvusClient(os.path.join(self.path, "vectors.db"))
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=dim)
        build = {"nlist": self.nlist} if self.nlist else {}
        if self.index_type.startswith("HNSW"):
            build = {"M": 16, "efConstruction": 100}
        index = self.client.prepare_index_params()
        # JSON in one "params" key: milvus-lite 3.2 reads only that, and pymilvus 3
        # sends a plain dict as separate keys, which it drops for its defaults
        index.add_index(field_name="v", index_type=self.index_type, metric_type="IP",
                        params={"params": json.dumps(build)})
        self.client.create_collection("vectors", schema=schema, index_params=index)
        for lo in range(0, self.n, 5000):
            rows = xb[lo : lo + 5000]
            self.client.insert("vectors", [{"id": lo + i, "v": v} for i, v in enumerate(rows)])
        self.client.flush("vectors")
        self.client.release_collection("vectors")
        gc.collect()
        before = rss_bytes()
        self.client.load_collection("vectors")  # builds (or reads) every sealed segment's index, synchronously
        self.search(xb[:1], 1, self.grid[0], 1)
        self.rss_delta = rss_bytes() - before
        self.engine = self._engine_state()
        if self.engine and (self.engine["memtable_rows"] or self.engine["unindexed_segments"]):
            raise RuntimeError(f"milvus-lite would search some rows by brute force: {self.engine}")

    def _engine_state(self) -> dict | None:
        """Segments, their index classes and rows still in the memtable, read
        from milvus-lite's engine in this process (None if its internals moved):
        its client reports any index as built, so this is the only check that
        searches really use the index asked for."""
        try:
            from milvus_lite.server_manager import server_manager_instance

            _, db, _ = server_manager_instance._servers[os.path.abspath(os.path.join(self.path, "vectors.db"))]
            col = db._collections[("default", "vectors")]
            segs = [seg for seg in col._segment_cache.values() if seg.num_rows]
            kinds = sorted({type(seg.indexes["v"]).__name__ for seg in segs if "v" in seg.indexes})
            held = sum(int(getattr(seg.vectors, "nbytes", 0)) + int(getattr(seg.table, "nbytes", 0))
                       + _faiss_bytes(seg.indexes.get("v")) for seg in segs)
            return {"segments": len(segs), "index_classes": kinds, "memtable_rows": int(col._memtable.size()),
                    "unindexed_segments": sum("v" not in seg.indexes for seg in segs), "held_bytes": held}
        except Exception:
            return None

    def search(self, xq, k, params, threads):
        res = self.client.search("vectors", data=[q for q in np.asarray(xq, dtype=np.float32)], limit=k,
                                 search_params={"metric_type": "IP", "params": dict(params)}, output_fields=["id"])
        out = np.full((len(xq), k), -1, dtype=np.int64)
        for i, hits in enumerate(res):
            ids = [h["id"] for h in hits][:k]
            out[i, : len(ids)] = ids
        return out

    def ram_bytes(self):
        if self.engine:
            return self.engine["held_bytes"]
        return max(0, self.rss_delta)  # undercounts: a release frees the index, not the segments' vectors

    def ram_rss_delta(self):
        return self.rss_delta

    def disk_bytes(self):
        return dir_bytes(self.path)

    def close(self):
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.drop_collection("vectors")
            with contextlib.suppress(Exception):
                self.client.close()
        self.client = None
        gc.collect()
        if self.path:
            shutil.rmtree(self.path, ignore_errors=True)


def scale_peers(n: int, dim: int) -> list[System]:
    """Issue 19's peers for n vectors. milvus-lite IVF_PQ and DISKANN stand
    in the list to be reported as missing while milvus-lite lacks them."""
    nlist = ivf_lists(n)
    probes = [{"nprobe": p} for p in ivf_probes(nlist)]
    return [
        DiskAnnStatic(),
        SvsVamana("lvq4x8"),
        SvsVamana("float16"),
        MilvusLite("IVF_FLAT", nlist, probes),
        MilvusLite("IVF_SQ8", nlist, probes),
        MilvusLite("HNSW", None, [{"ef": e} for e in (16, 32, 64, 128, 256)]),
        MilvusLite("IVF_PQ", nlist, probes),
        MilvusLite("DISKANN", None, [{}]),
    ]
