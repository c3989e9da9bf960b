"""Training and re-encoding: learn the codec and the IVF centroids from LMDB,
encode every point, install the result in one write transaction.

The long part (reading vectors, fitting, encoding) holds no lock: searches
keep scanning the old codes and writes keep committing. Slots written
meanwhile are tracked (`ChangedSlots`) and encoded again, under the
write lock, just before the install. The install is a single LMDB
transaction (chunks, codec state, IVF centroids, generated sparse codes)
followed by one swap of the RAM segment: an exception or a crash before the
commit leaves the old codes in use, on disk and in RAM.

Four modes:
  auto      the collection crossed a threshold (see `due`): learn what is due
  optimize  explicit: learn everything again from the current vectors
  rebalance the IVF lists drifted (drift.py; run in the background by
            rebalance.py): what optimize does, if still due when it starts
  reload    at open, persisted codes were missing or stale: keep the learned
            parameters that were read back, re-encode from the vectors

Every install of new centroids also stores the drift baseline (drift.py):
the lists' sizes and the points' mean squared distance to their centroid.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from .codecs import Codec, make_codec, state_from_bytes, state_to_bytes
from .drift import META_KEY as DRIFT_KEY
from .drift import DriftRecord, DriftTracker, imbalance, sum_squares
from .ivf import IVF
from .persist import CHUNK, chunk_value, decode_chunks
from .postings import Postings
from .segment import uses_postings
from ..api.sparse_rows import SparseRows

if TYPE_CHECKING:
    from ..config import CollectionConfig
    from .segment import Segment
    from .storage import Storage

TRAIN_SAMPLE = 262_144  # vectors a codec or k-means learns from at most
ENCODE_BLOCK = 65_536  # vectors read and encoded per step


class ChangedSlots:
    """Slots written while a training runs: its install encodes them again.
    Writers note theirs under the storage write lock; a run starts and takes
    the tracking under it too."""

    def __init__(self) -> None:
        self._slots: list[np.ndarray] | None = None  # None: no run in progress

    def note(self, slots: np.ndarray) -> None:
        if self._slots is not None:
            self._slots.append(np.array(slots, dtype=np.int64))

    def start(self) -> None:
        self._slots = []

    def take(self) -> list[np.ndarray]:
        """What was noted since `start`; tracking stops."""
        slots, self._slots = self._slots, None
        return slots

    def stop(self) -> None:
        self._slots = None


@dataclass(eq=False)
class TrainingHost:
    """Everything training uses of its collection, and training's own state.

    The collection builds one at creation and passes it to `due`, `train` and
    `load`, never itself; it calls `changes.note` for every slot it writes."""

    config: "CollectionConfig"
    storage: "Storage"
    dbs: Mapping[str, Any]  # the collection's sub-database handles, by sub name
    seg: "Segment"  # training replaces its contents (Segment.replace_all), never the object
    # float32 rows of ids and which were found: (ids, *, tolerant) -> (rows, found)
    read_vectors: Callable[..., tuple[np.ndarray, np.ndarray]]
    prepare: Callable[..., np.ndarray]  # the metric's view of vectors: (x, what, check) -> x
    check_usable: Callable[[], None]  # raises once the database closed or the collection was dropped
    log: Callable[[str], None]
    changes: ChangedSlots = field(default_factory=ChangedSlots)
    run_lock: threading.Lock = field(default_factory=threading.Lock)  # one training run at a time
    drift: DriftTracker = field(default_factory=DriftTracker)  # the writer keeps it up to date


def _no_stop() -> None:
    pass


def due(host: TrainingHost) -> bool:
    """Has the collection reached a training threshold it has not trained at yet?"""
    seg = host.seg
    if not seg.codec.trained and seg.count >= max(seg.codec.train_size(), 1):
        return True
    ivf = host.config.ivf
    return ivf is not None and seg.ivf is None and seg.count >= ivf.threshold


def rebalance_due(host: TrainingHost) -> str | None:
    """Why the trained IVF lists need retraining (None: they do not)."""
    if host.config.ivf is None or host.seg.ivf is None:
        return None
    return host.drift.due(host.config.ivf)


def _generated_sparse(codec: Codec) -> bool:
    return uses_postings(codec) and bool(getattr(codec, "generated", False))


@dataclass
class _Encoded:
    """Codes of slots [0, n) under construction."""

    codes: np.ndarray
    list_of: np.ndarray | None
    error: np.ndarray | None = None  # with IVF: each slot's squared distance to its centroid
    sparse_slots: list[np.ndarray] = field(default_factory=list)
    sparse_rows: list[SparseRows] = field(default_factory=list)

    @classmethod
    def empty(cls, n: int, codec: Codec, ivf: IVF | None) -> "_Encoded":
        code_bytes = codec.code_bytes if codec.trained else 0
        if ivf is None:
            return cls(np.zeros((n, code_bytes), np.uint8), None)
        return cls(np.zeros((n, code_bytes), np.uint8), np.full(n, -1, np.int32), np.zeros(n, np.float32))

    def resize(self, n: int) -> None:
        if n > len(self.codes):
            codes = np.zeros((n, self.codes.shape[1]), np.uint8)
            codes[: len(self.codes)] = self.codes
            self.codes = codes
            if self.list_of is not None:
                self.list_of = np.concatenate([self.list_of, np.full(n - len(self.list_of), -1, np.int32)])
                self.error = np.concatenate([self.error, np.zeros(n - len(self.error), np.float32)])

    def forget(self, slots: np.ndarray) -> None:
        """Clear what was encoded for `slots` (to be encoded again)."""
        self.codes[slots] = 0
        if self.list_of is not None:
            self.list_of[slots] = -1
            self.error[slots] = 0
        for i, at in enumerate(self.sparse_slots):
            keep = np.flatnonzero(~np.isin(at, slots))
            if len(keep) < len(at):
                self.sparse_slots[i] = at[keep]
                self.sparse_rows[i] = self.sparse_rows[i].take(keep)


def _encode_into(host: TrainingHost, enc: _Encoded, codec: Codec, ivf: IVF | None,
                 slots: np.ndarray, ids: np.ndarray, *, tolerant: bool,
                 stop: Callable[[], None] = _no_stop) -> None:
    """Encode the points ids[i] (held in slots[i]) from LMDB, reading in id order.

    tolerant: ids deleted meanwhile are skipped (their slots are re-done at install).
    stop: called before each block (a background run raises there to give up)."""
    order = np.argsort(ids, kind="stable")
    for lo in range(0, len(order), ENCODE_BLOCK):
        stop()
        pick = order[lo : lo + ENCODE_BLOCK]
        x, found = host.read_vectors(ids[pick], tolerant=tolerant)
        at = slots[pick[found]]
        xp = host.prepare(x[found], "stored vector", check=False)
        if enc.codes.shape[1]:
            enc.codes[at] = codec.encode(xp)
        if ivf is not None:
            enc.list_of[at], enc.error[at] = ivf.assign_with_error(xp)
        if _generated_sparse(codec):
            enc.sparse_slots.append(at)
            enc.sparse_rows.append(codec.encode_sparse(xp))


def _sample(host: TrainingHost, live_ids: np.ndarray) -> np.ndarray:
    if len(live_ids) > TRAIN_SAMPLE:
        rng = np.random.default_rng(0)
        live_ids = np.sort(rng.choice(live_ids, TRAIN_SAMPLE, replace=False))
    x, found = host.read_vectors(live_ids, tolerant=True)
    return host.prepare(x[found], "stored vector", check=False)


def _fit(host: TrainingHost, snap: np.ndarray, mode: str, codec: Codec, ivf: IVF | None,
         stop: Callable[[], None] = _no_stop) -> tuple[Codec, IVF | None]:
    cfg = host.config
    live_ids = np.sort(snap[snap >= 0])
    count = len(live_ids)
    cache: list[np.ndarray] = []

    def sample() -> np.ndarray:
        if not cache:
            cache.append(_sample(host, live_ids))
            stop()
        return cache[0]

    def train_ivf() -> IVF | None:
        x = sample()
        return IVF.train(x, cfg.ivf.nlist, host.config.metric) if len(x) >= cfg.ivf.nlist else None

    if mode == "reload":
        if not codec.trained and count >= max(codec.train_size(), 1):
            codec = make_codec(cfg.quantization, host.config.dim, host.config.metric).fit(sample())
        if cfg.ivf is not None and ivf is None and count >= cfg.ivf.threshold:
            ivf = train_ivf()
        return codec, ivf
    # a rebalance learns what optimize does: the shift that moved the lists
    # moved the codec's statistics (binary mean, PQ codebooks) too, and every
    # code is encoded again anyway
    explicit = mode in ("optimize", "rebalance")
    codec = make_codec(cfg.quantization, host.config.dim, host.config.metric)
    if not codec.trained and count and (explicit or count >= codec.train_size()):
        codec = codec.fit(sample())
        stop()
    ivf = None
    if cfg.ivf is not None and count >= (cfg.ivf.nlist if explicit else cfg.ivf.threshold):
        ivf = train_ivf()
    return codec, ivf


def _slot_ids_from_lmdb(host: TrainingHost) -> np.ndarray:
    """slot -> id (-1 free) from the `slots` sub-database."""
    with host.storage.read() as txn:
        pairs = list(txn.cursor(db=host.dbs["slots"]).iternext(keys=True, values=True))
    point_ids = np.frombuffer(b"".join(p[0] for p in pairs), dtype=">u8").astype(np.int64)
    point_slots = np.frombuffer(b"".join(p[1] for p in pairs), dtype="<u8").astype(np.int64)
    ids = np.full(int(point_slots.max()) + 1 if len(point_slots) else 0, -1, dtype=np.int64)
    ids[point_slots] = point_ids
    return ids


def train(host: TrainingHost, *, mode: str, codec: Codec | None = None, ivf: IVF | None = None,
          stop: Callable[[], None] = _no_stop) -> bool:
    """Fit, encode and install (see the module doc). Returns False when an
    automatic run or a rebalance found nothing due or another run in progress.

    stop: called between steps; a background run's raises there to give up
    (nothing is installed then)."""
    if not host.run_lock.acquire(blocking=mode not in ("auto", "rebalance")):
        return False
    try:
        if mode == "auto" and not due(host):
            return False
        if mode == "rebalance" and rebalance_due(host) is None:
            return False  # e.g. an optimize just retrained
        with host.storage.write_lock:
            host.check_usable()
            seg = host.seg
            if mode == "reload":
                snap = _slot_ids_from_lmdb(host)
            else:
                snap = seg.ids[: seg.n].copy()
                codec, ivf = seg.codec, seg.ivf
            host.changes.start()
        try:
            prior_ivf = ivf
            codec, ivf = _fit(host, snap, mode, codec, ivf, stop)
            enc = _Encoded.empty(len(snap), codec, ivf)
            live = np.flatnonzero(snap >= 0)
            _encode_into(host, enc, codec, ivf, live, snap[live], tolerant=True, stop=stop)
            stop()
            with host.storage.write_lock:
                host.check_usable()
                stop()
                changed = host.changes.take()
                ids = snap if mode == "reload" else seg.ids[: seg.n].copy()
                _install(host, codec, ivf, enc, ids, len(snap), changed, fresh_ivf=ivf is not prior_ivf)
        finally:
            host.changes.stop()
    finally:
        host.run_lock.release()
    return True


def _install(host: TrainingHost, codec: Codec, ivf: IVF | None, enc: _Encoded,
             ids: np.ndarray, n_snap: int, changed: list[np.ndarray], *, fresh_ivf: bool) -> None:
    """Under the write lock: redo the slots written since the snapshot, then
    persist everything in one transaction and swap the segment.

    fresh_ivf: ivf was learned by this run, so it gets a new drift baseline;
    otherwise (reload) the stored drift record still describes it."""
    n = len(ids)
    enc.resize(n)
    redo = np.unique(np.concatenate([*changed, np.arange(n_snap, n, dtype=np.int64)])).astype(np.int64)
    redo = redo[redo < n]
    if len(redo):
        enc.forget(redo)
        live = redo[ids[redo] >= 0]
        _encode_into(host, enc, codec, ivf, live, ids[live], tolerant=False)

    postings, sparse_slots, sparse_rows = None, None, None
    if _generated_sparse(codec):
        sparse_slots = np.concatenate(enc.sparse_slots) if enc.sparse_slots else np.zeros(0, np.int64)
        sparse_rows = SparseRows.concat(enc.sparse_rows, weighted=False)
        postings = Postings.build(codec.config.expansion_dim, *sparse_rows.pairs(sparse_slots))
    elif uses_postings(codec):
        postings = host.seg.postings  # user codes: unchanged by training

    persist_codes = enc.codes.shape[1] > 0 and codec.persist_codes
    n_chunks = -(-n // CHUNK)
    padded_ids = np.full(n_chunks * CHUNK, -1, np.int64)
    padded_ids[:n] = ids
    padded_lists = None
    baseline = None
    if ivf is not None:
        padded_lists = np.full(n_chunks * CHUNK, -1, np.int32)
        padded_lists[:n] = enc.list_of
        if fresh_ivf:
            baseline = _baseline(ivf, enc.list_of, enc.error, redo)
    kept_record: list[bytes | None] = []

    def write(txn) -> None:
        chunks_db, meta_db = host.dbs["chunks"], host.dbs["meta"]
        txn.drop(chunks_db, delete=False)
        for chunk in range(n_chunks):
            lo, hi = chunk * CHUNK, (chunk + 1) * CHUNK
            codes = None
            if persist_codes:
                codes = np.zeros((CHUNK, enc.codes.shape[1]), np.uint8)
                codes[: max(0, min(hi, n) - lo)] = enc.codes[lo:hi]
            lists = None if padded_lists is None else padded_lists[lo:hi]
            txn.put(chunk.to_bytes(8, "big"), chunk_value(padded_ids[lo:hi], codes, lists), db=chunks_db)
        state = codec.state()
        if state:
            txn.put(b"codec", state_to_bytes(state), db=meta_db)
        else:
            txn.delete(b"codec", db=meta_db)
        if ivf is not None:
            txn.put(b"ivf", state_to_bytes(ivf.state()), db=meta_db)
        else:
            txn.delete(b"ivf", db=meta_db)
        if baseline is not None:
            txn.put(DRIFT_KEY, baseline.to_bytes(), db=meta_db)
        elif ivf is None:
            txn.delete(DRIFT_KEY, db=meta_db)
        else:
            kept_record[:] = [txn.get(DRIFT_KEY, db=meta_db)]
        if sparse_rows is not None:
            sparse_db = host.dbs["sparse"]
            txn.drop(sparse_db, delete=False)
            point_ids = ids[sparse_slots]
            order = np.argsort(point_ids)
            values = sparse_rows.to_values()
            raw_keys = np.asarray(point_ids[order], dtype=">u8").tobytes()
            with txn.cursor(db=sparse_db) as cur:
                cur.putmulti([(raw_keys[8 * j : 8 * j + 8], values[i]) for j, i in enumerate(order)], append=True)

    host.storage.write(write)
    host.seg.replace_all(codec, ids, enc.codes, ivf=ivf, list_of=enc.list_of, postings=postings)
    if baseline is not None or ivf is None:
        host.drift.install(host.seg.lists, baseline)
    else:
        _restore_drift(host, kept_record[0] if kept_record else None)


def _baseline(ivf: IVF, list_of: np.ndarray, error: np.ndarray, redo: np.ndarray) -> DriftRecord:
    """The drift record of a partition just computed (drift.py). The baseline
    is the points of the snapshot the centroids learned from; those written
    during the run (`redo`) count as assigned since, like any later write, so
    that a shift still arriving while the run learned is not hidden."""
    live = list_of >= 0
    late = np.zeros(len(list_of), bool)
    late[redo] = True
    late &= live
    known = live & ~late
    points = int(known.sum())
    sizes = np.bincount(list_of[known], minlength=ivf.nlist)
    mean_error = float(error[known].astype(np.float64).mean()) if points else None
    return DriftRecord(points, mean_error, imbalance(ivf.nlist, sum_squares(sizes), points),
                       assigned=int(late.sum()), assigned_error=float(error[late].astype(np.float64).sum()))


def _restore_drift(host: TrainingHost, raw: bytes | None) -> None:
    problem = host.drift.restore(host.seg.lists, raw)
    if problem is not None:
        host.log(f"collection '{host.config.name}': {problem}; IVF drift is measured from now on")


# -- open: read the persisted segment back --------------------------------------------
def load(host: TrainingHost) -> None:
    """Read the persisted segment; rebuild it from the vectors when it is
    missing, stale or unreadable."""
    meta = host.dbs["meta"]
    with host.storage.read() as txn:
        raw_state = txn.get(b"codec", db=meta)
        raw_ivf = txn.get(b"ivf", db=meta)
        raw_drift = txn.get(DRIFT_KEY, db=meta)
        n_vectors = int(txn.stat(host.dbs["vectors"])["entries"])
        chunks = list(txn.cursor(db=host.dbs["chunks"]).iternext(keys=True, values=True))
    codec = make_codec(host.config.quantization, host.config.dim, host.config.metric)
    ivf = None
    try:
        if raw_state is not None:
            codec = codec.with_state(state_from_bytes(raw_state))
        if raw_ivf is not None and host.config.ivf is not None:
            ivf = IVF.from_state(state_from_bytes(raw_ivf), host.config.metric)
        code_bytes = codec.code_bytes if codec.trained and codec.persist_codes else 0
        ids, codes, list_of = decode_chunks(chunks, code_bytes, ivf is not None)
    except (ValueError, KeyError, OSError) as exc:
        host.log(f"collection '{host.config.name}': persisted codes unreadable ({exc}); rebuilding")
        train(host, mode="reload", codec=codec, ivf=ivf)
        return
    live = ids >= 0
    stale = int(live.sum()) != n_vectors or (ivf is not None and bool((list_of[live] < 0).any()))
    postings = None
    if not stale and uses_postings(codec):
        postings, complete = _load_postings(host, codec, ids)
        if not complete:
            if _generated_sparse(codec):
                stale = True
            else:
                host.log(f"collection '{host.config.name}': some points have no stored sparse code")
    if stale:
        host.log(f"collection '{host.config.name}': persisted codes are stale; rebuilding")
        train(host, mode="reload", codec=codec, ivf=ivf)
        return
    if codec.trained and not codec.persist_codes:
        enc = _Encoded.empty(len(ids), codec, None)
        slots = np.flatnonzero(live)
        _encode_into(host, enc, codec, None, slots, ids[slots], tolerant=False)
        codes = enc.codes
    host.seg.replace_all(codec, ids, codes, ivf=ivf, list_of=list_of, postings=postings)
    _restore_drift(host, raw_drift)


def _load_postings(host: TrainingHost, codec: Codec, ids: np.ndarray) -> tuple[Postings, bool]:
    """The postings of the stored sparse codes, and whether every live point has one."""
    with host.storage.read() as txn:
        pairs = list(txn.cursor(db=host.dbs["sparse"]).iternext(keys=True, values=True))
    point_ids = np.frombuffer(b"".join(p[0] for p in pairs), dtype=">u8").astype(np.int64)
    live = np.flatnonzero(ids >= 0)
    order = np.argsort(ids[live])
    sorted_ids = ids[live][order]
    pos = np.minimum(np.searchsorted(sorted_ids, point_ids), max(len(sorted_ids) - 1, 0))
    known = (sorted_ids[pos] == point_ids) if len(sorted_ids) else np.zeros(len(point_ids), bool)
    rows = SparseRows.from_values([pairs[i][1] for i in np.flatnonzero(known)], codec.config.weighted)
    slots = live[order[pos[known]]]
    postings = codec.new_postings()
    postings.add(*rows.pairs(slots))
    return postings, bool(known.all()) and len(point_ids) == len(live)
