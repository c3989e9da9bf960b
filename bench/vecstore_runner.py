"""vecstore through its embedded API, one System per collection configuration.

The configurations come from the engine itself, so new work shows up in the
harness without editing it:
- every kind in `vecstore.config.QUANTIZATION_KINDS`, with its defaults, its
  oversampling swept around the kind's own default;
- every non-exact kind again with IVF, when `create_collection` accepts `ivf`
  (and `search` an `nprobe`, which is then swept too);
- the default kind with float16 vector storage, when the engine offers it.

Points are ingested in batches of 10,000 with durability on (the default
`sync=True`), ids 0..n-1 so they equal the dataset's rows, metric cosine (the
product's default; the datasets hold unit vectors, so cosine ranks like the
inner-product ground truth).
"""
from __future__ import annotations

import inspect
import math
import os
import re
import shutil

import numpy as np

from .measure import split_across_threads
from .report import IN_RAM
from .systems import Params, System, ivf_lists, ivf_probes

INGEST_BATCH = 10_000
_RAM_NOTE = "col.info().ram_bytes: RAM codes + slot->id map + liveness (the vectors stay in LMDB)"


class VecstoreSystem(System):
    family = "vecstore"
    requires = ("vecstore",)
    ram_note = _RAM_NOTE
    reads_disk = True

    def __init__(self, label: str, create: dict, grid: list[Params]) -> None:
        self.label = label
        self.name = f"vecstore {label}"
        self.create = create
        self.grid = grid
        # the exact kind, and vectors_in_ram, rerank vectors held in RAM: nothing to read cold
        self.reads_disk = create.get("quantization") != "none" and not create.get("vectors_in_ram")
        # with a rerank margin the reads per query vary: count them (a wrapper
        # around the engine's rerank reader, ~0.3 us per search)
        self.counts_reads = bool(isinstance(create.get("quantization"), dict) and create["quantization"].get("margin"))
        self._keys_read = None  # count_reads of the built collection, if it counts
        self._searches = 0  # queries since the sweep point began
        self._params = None
        self.db = self.col = self._evictor = None

    def sweep(self):
        return self.grid

    def build(self, xb, workdir):
        import vecstore

        self.path = os.path.join(workdir, "vecstore-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label))
        shutil.rmtree(self.path, ignore_errors=True)
        self.db = vecstore.open(self.path)
        self.col = self.db.create_collection("bench", dim=xb.shape[1], metric="cosine", **self.create)
        for lo in range(0, len(xb), INGEST_BATCH):
            hi = min(lo + INGEST_BATCH, len(xb))
            self.col.upsert(np.arange(lo, hi), xb[lo:hi])
        self._evictor = None
        self._keys_read = count_reads(self.col) if self.counts_reads else None

    def search(self, xq, k, params, threads):
        if params != self._params:
            self._params, self._searches = params, 0
            if self._keys_read is not None:
                self._keys_read[:] = [0, 0]
        self._searches += len(xq)

        def one_call(q):
            return self.col.search(q, k=k, **params).ids

        return split_across_threads(one_call, xq, threads)

    def ram_bytes(self):
        return int(self.col.info().ram_bytes)

    def disk_bytes(self):
        return int(self.col.info().disk_bytes)

    def candidates(self, k, params):
        q = self.col.config.quantization
        rescore = params.get("rescore", q.rescore)
        if not rescore or self.create.get("quantization") == "none":
            return None
        if self._keys_read is not None and self._searches:  # measured: the margin leaves out some
            return round(self._keys_read[0] / self._searches, 1)
        return max(k, math.ceil(k * params.get("oversampling", q.oversampling)))

    def evict(self):
        from .coldcache import LmdbEvictor

        if self._evictor is None:
            self._evictor = LmdbEvictor(self.path)
        self._evictor()

    def close(self):
        if self.db is not None:
            self.db.close()
            shutil.rmtree(self.path, ignore_errors=True)  # 2 GB per million vectors
        self.db = self.col = self._evictor = None


class Unavailable(System):
    """A configuration the engine could not provide; reported, not run."""

    family = "vecstore"

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason

    def missing(self):
        return self.reason


def oversampling_grid(default: float) -> list[float]:
    """Oversampling around a kind's default: /8 .. x4, never below 1, with
    unit steps near the default (where recall 0.95-0.98 usually falls)."""
    steps = {default * f for f in (1 / 8, 1 / 4, 1 / 2, 1, 2, 4)} | {default + d for d in (-2, -1, 1)}
    values = sorted({max(1.0, v) for v in steps})
    return [int(v) if float(v).is_integer() else v for v in values]


def _search_accepts(name: str) -> bool:
    from vecstore.engine import Collection

    return name in inspect.signature(Collection.search).parameters


def count_reads(col) -> list[int]:
    """[keys read, reads] from now on (reset by assigning [0, 0]): a wrapper
    around the engine's rerank reader, for settings (a rerank margin) that
    read a varying number of candidates per query (~0.3 us per search)."""
    counts = [0, 0]
    if col.config.vectors_in_ram:  # no reads: count the rows reranked from RAM
        inner_ram = col._rerank_ram

        def counted_ram(seg, qp, slots, k):
            counts[0] += int((slots >= 0).sum())
            counts[1] += 1
            return inner_ram(seg, qp, slots, k)

        col._rerank_ram = counted_ram
        return counts
    reader = col._vectors
    inner = reader.get

    def counted(keys):
        counts[0] += len(keys)
        counts[1] += 1
        return inner(keys)

    reader.get = counted
    return counts


def _create_accepts(name: str) -> bool:
    from vecstore.engine import Database

    return name in inspect.signature(Database.create_collection).parameters


MARGIN = 2.0  # the rerank margin of the margin variants (BinaryQuantization.margin)


def _with_margin(kind: str) -> str | dict:
    """The kind with a rerank margin, as create_collection takes it; the bare
    kind when the engine's config of that kind has no margin."""
    import dataclasses

    import vecstore.config as vc

    cls = vc.QUANTIZATION_KINDS.get(kind)
    if cls is None or "margin" not in {f.name for f in dataclasses.fields(cls)}:
        return kind
    return {"kind": kind, "margin": MARGIN}


def vecstore_systems(n: int, dim: int) -> list[System]:
    try:
        import vecstore.config as vc
    except Exception as exc:
        return [Unavailable("vecstore", f"vecstore not importable ({exc})")]
    out: list[System] = []
    lossy: list[tuple[str, float]] = []
    for kind, cls in vc.QUANTIZATION_KINDS.items():
        try:
            cfg = cls()
        except Exception as exc:  # a kind with required parameters has no default to run
            out.append(Unavailable(f"vecstore {kind}", f"no default config ({exc})"))
            continue
        if kind == "none" or not cfg.rescore:
            out.append(VecstoreSystem(kind, {"quantization": kind}, [{}]))
            continue
        grid = [{"oversampling": o} for o in oversampling_grid(cfg.oversampling)]
        out.append(VecstoreSystem(kind, {"quantization": kind}, grid))
        lossy.append((kind, cfg.oversampling))

    if hasattr(vc, "IVFConfig") and _create_accepts("ivf"):
        nlist = ivf_lists(n)
        probes = ivf_probes(nlist)
        per_query = _search_accepts("nprobe")
        for kind, default in lossy:
            # unit steps near the default (where recall 0.95 falls) for the few
            # probes that reach it; the larger probes at the default only
            overs = [o for o in oversampling_grid(default) if o in (default / 2, default, default * 2)]
            fine = sorted(set(overs) | {default + d for d in (-1, 1, 2, 3, 4) if default + d < default * 2})
            fine = [int(o) if float(o).is_integer() else o for o in fine]
            if per_query:
                ivf = vc.IVFConfig(nlist=nlist, nprobe=probes[len(probes) // 2])
                grid = [{"nprobe": p, "oversampling": o} for o in fine for p in probes[:3]]
                grid += [{"nprobe": p, "oversampling": default} for p in probes[3:]]
                out.append(VecstoreSystem(f"{kind}+IVF{nlist}", {"quantization": kind, "ivf": ivf}, grid))
                if kind == lossy[0][0] and "float16" in getattr(vc, "VECTOR_DTYPES", ()):
                    # the rerank's reads halve: more rows per page, fewer pages to fault in;
                    # the margin reads only candidates that could still make the top k
                    out.append(VecstoreSystem(f"{kind}+IVF{nlist} f16-vectors margin{MARGIN:g}",
                                              {"quantization": _with_margin(kind), "ivf": ivf,
                                               "vector_dtype": "float16"}, grid))
                    if _create_accepts("vectors_in_ram"):
                        # the same with the rerank's vectors kept in RAM too: no reads per search
                        out.append(VecstoreSystem(f"{kind}+IVF{nlist} f16-vectors margin{MARGIN:g} {IN_RAM}",
                                                  {"quantization": _with_margin(kind), "ivf": ivf,
                                                   "vector_dtype": "float16", "vectors_in_ram": True}, grid))
            else:  # nprobe fixed per collection: one collection per value
                for p in probes:
                    ivf = vc.IVFConfig(nlist=nlist, nprobe=p)
                    grid = [{"oversampling": o} for o in overs]
                    out.append(VecstoreSystem(f"{kind}+IVF{nlist},nprobe{p}", {"quantization": kind, "ivf": ivf}, grid))
    else:
        out.append(Unavailable("vecstore +IVF", "this engine has no IVF option yet (create_collection(ivf=...))"))

    if "float16" in getattr(vc, "VECTOR_DTYPES", ()) and lossy:
        kind, default = lossy[0]
        grid = [{"oversampling": o} for o in oversampling_grid(default)]
        out.append(VecstoreSystem(f"{kind} f16-vectors", {"quantization": kind, "vector_dtype": "float16"}, grid))
        if _with_margin(kind) != kind:
            out.append(VecstoreSystem(f"{kind} f16-vectors margin{MARGIN:g}",
                                      {"quantization": _with_margin(kind), "vector_dtype": "float16"}, grid))
    return out
