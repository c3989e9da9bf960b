"""One collection: LMDB sub-databases (the truth) plus a RAM segment (derived).

Sub-databases, keys are ids as 8-byte big-endian so cursor order is id order:
  vectors   id -> float32 row, exactly as given
  payloads  id -> JSON (absent when the point has none)
  slots     id -> slot (uint64 LE), the point's row in the segment
  chunks    chunk number (8-byte BE) -> ids and codes of CHUNK slots
  meta      b"codec" -> learned codec parameters (npz)
            b"payload_indexes" -> declared payload indexes, JSON {key: kind}
"""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Sequence

import lmdb
import numpy as np

import native

from ..config import CollectionConfig
from ..errors import CollectionNotFoundError, InternalError, InvalidVectorError
from ..types import CollectionInfo, Points, SearchResult
from . import validate as V
from .codecs import Codec, make_codec, state_from_bytes, state_to_bytes
from .codecs.exact import flat_topk
from .filters import All, compile_filter
from .keys import id_keys, keys_to_ids
from .oplog import logged_methods
from .payload_index import PayloadIndexes
from .payload_methods import PayloadMethods
from .segment import CHUNK, Segment
from .selection import matching_ids, prefer_exact
from .storage import Storage

if TYPE_CHECKING:
    from .database import Database

SUB_DBS = ("vectors", "payloads", "slots", "chunks", "meta")
TRAIN_SAMPLE = 262_144  # vectors a codec learns from at most
_ENCODE_BLOCK = 65_536  # slots re-encoded per step when (re)building codes
_RERANK_GROUP = 16  # queries whose candidates are fetched together


def sub_db_name(cid: int, sub: str) -> str:
    return f"c{cid}.{sub}"


def _put_sorted(txn: lmdb.Transaction, db: Any, items: list[tuple[bytes, bytes]]) -> None:
    """Write items given in key order. When they all sort after the last key
    (ids that only grow), LMDB's append mode fills pages instead of splitting
    them in half, which halves the disk used by bulk imports."""
    with txn.cursor(db=db) as cur:
        last = cur.key() if cur.last() else None
        cur.putmulti(items, append=last is None or items[0][0] > last)


@logged_methods(
    "upsert", "delete", "count", "get", "search", "scroll", "set_payload", "overwrite_payload",
    "delete_payload_keys", "create_payload_index", "drop_payload_index", "optimize", "info",
)
class Collection(PayloadMethods):
    def __init__(self, database: "Database", cid: int, config: CollectionConfig, dbs: dict[str, Any]) -> None:
        self._database = database
        self._storage: Storage = database._storage
        self.cid = cid
        self.config = config
        self._dbs = dbs
        self._dropped = False
        self._seg = Segment(make_codec(config.quantization, config.dim, config.metric))
        # replaced whole (never mutated) when an index is declared or dropped,
        # so a reader holding it never sees its dict change
        self._payload_indexes = PayloadIndexes()

    # -- properties ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def metric(self) -> str:
        return self.config.metric

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, dim={self.dim}, metric={self.metric!r}, quantization={self.config.quantization.kind!r})"

    def _check_usable(self) -> None:
        self._storage._check_open()
        if self._dropped:
            raise CollectionNotFoundError(f"collection '{self.name}' was dropped")

    # -- writes -------------------------------------------------------------------
    def upsert(self, ids: Any, vectors: Any, payloads: Sequence[dict | None] | None = None) -> int:
        """Insert or replace points; returns once the batch is durable.

        A replaced point takes the new vector and the new payload (None clears
        it). Returns the number of points written.
        """
        self._check_usable()
        ids = V.check_ids(ids)
        V.check_unique(ids)
        x = V.check_vectors(vectors, self.dim, collection=self.name)
        V.check_lengths(len(ids), len(x))
        encoded_payloads = V.check_payloads(payloads, len(ids))
        xp = self._prepare(x, "vector")
        keys = id_keys(ids)
        order = np.argsort(ids, kind="stable")  # key order: LMDB can append
        row_bytes = 4 * self.dim
        raw = x.tobytes()
        with self._storage.write_lock:
            self._check_usable()
            seg = self._seg
            codes = seg.codec.encode(xp) if seg.code_bytes else None

            def write(txn: lmdb.Transaction):
                found = [txn.get(k, db=self._dbs["slots"]) for k in keys]
                is_new = np.fromiter((f is None for f in found), dtype=bool, count=len(keys))
                plan = seg.plan(int(is_new.sum()))
                slots = np.empty(len(keys), dtype=np.int64)
                slots[~is_new] = [int.from_bytes(f, "little") for f in found if f is not None]
                slots[is_new] = plan.slots
                _put_sorted(txn, self._dbs["vectors"], [(keys[i], raw[i * row_bytes : (i + 1) * row_bytes]) for i in order])
                new_idx = order[is_new[order]]
                if len(new_idx):
                    _put_sorted(txn, self._dbs["slots"], [(keys[i], int(slots[i]).to_bytes(8, "little")) for i in new_idx])
                self._write_payloads(txn, keys, encoded_payloads)
                self._write_chunks(txn, seg, slots, ids, codes)
                return plan, slots

            plan, slots = self._storage.write(write)
            self._index_payloads(slots, encoded_payloads or [None] * len(ids))
            seg.apply_upsert(plan, slots, ids, codes)
            if not seg.codec.trained and seg.count >= seg.codec.train_size():
                self._rebuild(retrain=True)
        return len(ids)

    def _write_payloads(self, txn: lmdb.Transaction, keys: list[bytes], payloads: list[bytes | None] | None) -> None:
        db = self._dbs["payloads"]
        for i, key in enumerate(keys):
            value = None if payloads is None else payloads[i]
            if value is None:
                txn.delete(key, db=db)
            else:
                txn.put(key, value, db=db)

    def _write_chunks(
        self, txn: lmdb.Transaction, seg: Segment, slots: np.ndarray, ids: np.ndarray, codes: np.ndarray | None
    ) -> None:
        """Rewrite every chunk the batch touches: committed rows plus the batch."""
        chunk_of = slots // CHUNK
        for chunk in np.unique(chunk_of):
            chunk_ids, chunk_codes = seg.chunk_rows(int(chunk))
            mine = chunk_of == chunk
            offsets = slots[mine] - chunk * CHUNK
            chunk_ids[offsets] = ids[mine]
            if codes is not None:
                chunk_codes[offsets] = codes[mine]
            txn.put(int(chunk).to_bytes(8, "big"), self._chunk_value(seg, chunk_ids, chunk_codes), db=self._dbs["chunks"])

    def _chunk_value(self, seg: Segment, chunk_ids: np.ndarray, chunk_codes: np.ndarray) -> bytes:
        if seg.code_bytes and seg.codec.persist_codes:
            return chunk_ids.tobytes() + chunk_codes.tobytes()
        return chunk_ids.tobytes()

    def delete(self, ids: Any = None, *, filter: dict | None = None) -> int:
        """Delete points by id, or every point matching `filter`; ids that do
        not exist are ignored. Returns how many went."""
        self._check_usable()
        V.check_delete_selector(ids, filter)
        if filter is not None:
            node = compile_filter(filter)
            with self._storage.write_lock:  # nothing changes between selecting and deleting
                return self._delete_ids(matching_ids(self._plan(node), self._seg))
        return self._delete_ids(ids)

    def _delete_ids(self, ids: Any) -> int:
        ids = V.check_ids(ids, allow_empty=True)
        ids = np.unique(ids)
        if not len(ids):
            return 0
        keys = id_keys(ids)
        with self._storage.write_lock:
            self._check_usable()
            seg = self._seg

            def write(txn: lmdb.Transaction):
                found = [(i, txn.get(k, db=self._dbs["slots"])) for i, k in enumerate(keys)]
                found = [(i, int.from_bytes(f, "little")) for i, f in found if f is not None]
                if not found:
                    return np.zeros(0, dtype=np.int64)
                rows = np.array([i for i, _ in found], dtype=np.int64)
                slots = np.array([s for _, s in found], dtype=np.int64)
                for i in rows:
                    for sub in ("vectors", "payloads", "slots"):
                        txn.delete(keys[i], db=self._dbs[sub])
                dead = np.full(len(slots), -1, dtype=np.int64)
                zeros = np.zeros((len(slots), seg.code_bytes), dtype=np.uint8) if seg.code_bytes else None
                self._write_chunks(txn, seg, slots, dead, zeros)
                return slots

            slots = self._storage.write(write)
            if len(slots):
                seg.apply_delete(slots)
                self._unindex_payloads(slots)
        return len(slots)

    # -- reads --------------------------------------------------------------------
    def count(self, *, filter: dict | None = None) -> int:
        """Points in the collection (as LMDB counts them), or those matching `filter`."""
        self._check_usable()
        node = compile_filter(filter)
        if node is not None:
            plan = self._plan(node)
            with self._seg.lock.shared():
                return int(np.count_nonzero(plan.mask(self._seg, self._seg.n)))
        with self._storage.read() as txn:
            return int(txn.stat(self._dbs["vectors"])["entries"])

    def get(self, ids: Any, *, with_vectors: bool = True, with_payloads: bool = True) -> Points:
        """Stored vectors (byte-exact float32) and payloads of the ids that exist, in request order."""
        self._check_usable()
        ids = V.check_ids(ids, allow_empty=True)
        keys = id_keys(ids)
        with self._storage.read() as txn:
            vec_db, pay_db = self._dbs["vectors"], self._dbs["payloads"]
            rows = [(i, txn.get(k, db=vec_db)) for i, k in enumerate(keys)]
            rows = [(i, v) for i, v in rows if v is not None]
            found = [i for i, _ in rows]
            payloads = []
            if with_payloads:
                for i in found:
                    raw = txn.get(keys[i], db=pay_db)
                    payloads.append(None if raw is None else json.loads(raw))
        vectors = (
            np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32).reshape(len(rows), self.dim).copy()
            if with_vectors
            else np.zeros((len(rows), 0), dtype=np.float32)
        )
        return Points(ids=ids[found], vectors=vectors, payloads=payloads)

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        filter: dict | None = None,
        oversampling: float | None = None,
        rescore: bool | None = None,
    ) -> SearchResult:
        """Top-k per query: coarse scan of RAM codes, then an exact rerank from LMDB.

        queries (nq, dim) or (dim,). oversampling / rescore default to the
        collection's quantization settings. rescore=False returns code-space
        scores, which are approximate.

        filter: only points matching it are searched (see `filters`): the
        coarse scan skips the others, so k hits come back whenever k points
        match. When few points match, they are scored exactly instead.
        """
        self._check_usable()
        q = V.check_vectors(queries, self.dim, what="query", collection=self.name)
        k = V.check_k(k)
        oversampling = V.check_oversampling_arg(oversampling)
        rescore = V.check_rescore_arg(rescore)
        qcfg = self.config.quantization
        oversampling = qcfg.oversampling if oversampling is None else oversampling
        rescore = qcfg.rescore if rescore is None else rescore
        qp = self._prepare(q, "query")
        node = compile_filter(filter)
        plan = None if node is None or isinstance(node, All) else self._plan(node)

        seg = self._seg
        match_ids = None  # set when the filter's points are scored exactly
        with seg.lock.shared():
            codec = seg.codec
            n_cand = k if (codec.exact or not rescore) else max(k, math.ceil(k * oversampling))
            n = seg.n
            alive = seg.alive[:n]
            if plan is not None:
                mask = plan.mask(seg, n)
                if not codec.trained or (not codec.exact and prefer_exact(int(np.count_nonzero(mask)), n_cand, n)):
                    match_ids = np.sort(seg.ids[:n][mask])
                alive = mask.view(np.uint8)
            if codec.trained and match_ids is None:
                slots, scores = codec.search(seg.codes[:n], alive, qp, n_cand)
                cand_ids = np.where(slots >= 0, seg.ids[np.maximum(slots, 0)], -1)
        if match_ids is not None:
            # exact over the matching points: they are every query's candidates
            return self._rerank(qp, np.broadcast_to(match_ids, (len(qp), len(match_ids))), k)
        if not codec.trained:
            return self._search_exact_from_lmdb(qp, k)
        if codec.exact or not rescore:
            return self._result(cand_ids[:, :k], scores[:, :k])
        return self._rerank(qp, cand_ids, k)

    def _rerank(self, qp: np.ndarray, cand_ids: np.ndarray, k: int) -> SearchResult:
        """Exact scores of each query's candidates, read from LMDB in key order.

        Queries go in small groups: a large batch's candidates cover much of
        the collection, and one huge fetch would copy it all at once."""
        if len(qp) > _RERANK_GROUP:
            parts = [self._rerank_group(qp[i : i + _RERANK_GROUP], cand_ids[i : i + _RERANK_GROUP], k)
                     for i in range(0, len(qp), _RERANK_GROUP)]
            return SearchResult(ids=np.vstack([p.ids for p in parts]), scores=np.vstack([p.scores for p in parts]))
        return self._rerank_group(qp, cand_ids, k)

    def _rerank_group(self, qp: np.ndarray, cand_ids: np.ndarray, k: int) -> SearchResult:
        valid = cand_ids[cand_ids >= 0]
        # one query's candidates are distinct slots, hence distinct ids
        uniq = np.sort(valid) if len(cand_ids) == 1 else np.unique(valid)
        with self._storage.read() as txn:
            with txn.cursor(db=self._dbs["vectors"]) as cur:
                pairs = cur.getmulti(id_keys(uniq))
        found = keys_to_ids([p[0] for p in pairs])
        vecs = np.frombuffer(b"".join(p[1] for p in pairs), dtype=np.float32).reshape(len(pairs), self.dim)
        # candidates deleted since the scan are simply absent from `found`
        pos = np.searchsorted(found, cand_ids)
        pos_c = np.minimum(pos, max(len(found) - 1, 0))
        hit = (cand_ids >= 0) & (len(found) > 0) & (found[pos_c] == cand_ids) if len(found) else np.zeros(cand_ids.shape, bool)
        rows = np.where(hit, pos_c, -1).astype(np.int64)
        # cosine: qp is unit-length and the kernel divides by each stored norm
        scores, best = native.rerank_topk(qp, vecs, rows, k, self.metric)
        ids = np.where(best >= 0, found[np.maximum(best, 0)] if len(found) else -1, -1)
        internal = -scores if self.metric == "l2" else scores
        return self._result(ids, internal)

    def _search_exact_from_lmdb(self, qp: np.ndarray, k: int) -> SearchResult:
        """Before a codec is trained the collection is small: scan LMDB exactly."""
        with self._storage.read() as txn:
            with txn.cursor(db=self._dbs["vectors"]) as cur:
                pairs = list(cur.iternext(keys=True, values=True))
        ids = keys_to_ids([p[0] for p in pairs])
        vecs = np.frombuffer(b"".join(p[1] for p in pairs), dtype=np.float32).reshape(len(pairs), self.dim)
        vecs = self._prepare(vecs, "stored vector", check=False)
        rows, scores = flat_topk(vecs, np.ones(len(ids), dtype=np.uint8), qp, k, self.metric)
        return self._result(np.where(rows >= 0, ids[np.maximum(rows, 0)] if len(ids) else -1, -1), scores)

    def _result(self, ids: np.ndarray, internal_scores: np.ndarray) -> SearchResult:
        """Internal higher-is-better scores -> API scores; NaN where padded."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        s = np.asarray(internal_scores, dtype=np.float32)
        if self.metric == "l2":
            s = np.sqrt(np.maximum(-s, 0))
        s = np.where(ids >= 0, s, np.nan).astype(np.float32)
        return SearchResult(ids=ids, scores=s)

    def _prepare(self, x: np.ndarray, what: str, check: bool = True) -> np.ndarray:
        """The metric's view of vectors: unit length for cosine."""
        if self.metric != "cosine":
            return x
        norms = np.linalg.norm(x, axis=1)
        if check and (norms == 0).any():
            row = int(np.flatnonzero(norms == 0)[0])
            raise InvalidVectorError(f"{what} {row} is all zeros: cosine similarity needs a non-zero vector")
        norms[norms == 0] = 1
        return (x / norms[:, None]).astype(np.float32)

    # -- codes: load, train, rebuild ------------------------------------------------
    def _load(self) -> None:
        """Read the persisted segment; rebuild it from the vectors when it is
        missing, stale or unreadable."""
        with self._storage.read() as txn:
            raw_state = txn.get(b"codec", db=self._dbs["meta"])
            n_vectors = int(txn.stat(self._dbs["vectors"])["entries"])
            chunks = list(txn.cursor(db=self._dbs["chunks"]).iternext(keys=True, values=True))
        codec = make_codec(self.config.quantization, self.dim, self.metric)
        try:
            if raw_state is not None:
                codec = codec.with_state(state_from_bytes(raw_state))
            ids, codes = self._decode_chunks(chunks, codec)
        except (ValueError, KeyError, OSError) as exc:
            self._database._log(f"collection '{self.name}': persisted codes unreadable ({exc}); rebuilding")
            return self._rebuild_locked(retrain=False, codec=codec)
        if int((ids >= 0).sum()) != n_vectors:
            self._database._log(f"collection '{self.name}': persisted codes are stale; rebuilding")
            return self._rebuild_locked(retrain=False, codec=codec)
        if codec.trained and not codec.persist_codes:
            codes = self._encode_slots(codec, ids)
        self._seg.replace_all(codec, ids, codes)

    def _decode_chunks(self, chunks: list[tuple[bytes, bytes]], codec: Codec) -> tuple[np.ndarray, np.ndarray]:
        code_bytes = codec.code_bytes if codec.trained and codec.persist_codes else 0
        expect = CHUNK * (8 + code_bytes)
        n_chunks = 1 + max((int.from_bytes(k, "big") for k, _ in chunks), default=-1)
        ids = np.full(n_chunks * CHUNK, -1, dtype=np.int64)
        codes = np.zeros((n_chunks * CHUNK, code_bytes), dtype=np.uint8)
        for key, value in chunks:
            if len(value) != expect:
                raise ValueError(f"chunk of {len(value)} bytes, expected {expect}")
            lo = int.from_bytes(key, "big") * CHUNK
            ids[lo : lo + CHUNK] = np.frombuffer(value, dtype=np.int64, count=CHUNK)
            if code_bytes:
                codes[lo : lo + CHUNK] = np.frombuffer(value, dtype=np.uint8, offset=CHUNK * 8).reshape(CHUNK, code_bytes)
        used = np.flatnonzero(ids >= 0)
        n = int(used[-1]) + 1 if len(used) else 0
        return ids[:n].copy(), codes[:n].copy()

    def optimize(self) -> None:
        """Learn the codec again from the current vectors and re-encode all of them."""
        self._check_usable()
        with self._storage.write_lock:
            self._check_usable()
            self._rebuild(retrain=True)

    def _rebuild(self, *, retrain: bool) -> None:
        self._rebuild_locked(retrain=retrain, codec=self._seg.codec)

    def _rebuild_locked(self, *, retrain: bool, codec: Codec) -> None:
        """Rebuild the segment from LMDB (ids from `slots`, codes from `vectors`),
        optionally training the codec first; one write transaction persists it."""
        with self._storage.read() as txn:
            pairs = list(txn.cursor(db=self._dbs["slots"]).iternext(keys=True, values=True))
        point_ids = keys_to_ids([p[0] for p in pairs])
        point_slots = np.frombuffer(b"".join(p[1] for p in pairs), dtype="<u8").astype(np.int64)
        n = int(point_slots.max()) + 1 if len(point_slots) else 0
        ids = np.full(n, -1, dtype=np.int64)
        ids[point_slots] = point_ids
        if retrain or not codec.trained:
            fresh = make_codec(self.config.quantization, self.dim, self.metric)
            if len(point_ids) >= max(fresh.train_size(), 1) or (retrain and len(point_ids)):
                codec = fresh.fit(self._training_sample(point_ids))
            else:
                codec = fresh
        codes = self._encode_slots(codec, ids) if codec.trained else np.zeros((n, 0), dtype=np.uint8)

        seg_view = Segment(codec)
        seg_view.replace_all(codec, ids, codes)

        def write(txn: lmdb.Transaction) -> None:
            chunks_db = self._dbs["chunks"]
            txn.drop(chunks_db, delete=False)
            for chunk in range(-(-n // CHUNK)):
                chunk_ids, chunk_codes = seg_view.chunk_rows(chunk)
                txn.put(chunk.to_bytes(8, "big"), self._chunk_value(seg_view, chunk_ids, chunk_codes), db=chunks_db)
            state = codec.state()
            if state:
                txn.put(b"codec", state_to_bytes(state), db=self._dbs["meta"])
            else:
                txn.delete(b"codec", db=self._dbs["meta"])

        self._storage.write(write)
        self._seg.replace_all(codec, ids, codes)

    def _training_sample(self, point_ids: np.ndarray) -> np.ndarray:
        if len(point_ids) > TRAIN_SAMPLE:
            rng = np.random.default_rng(0)
            point_ids = np.sort(rng.choice(point_ids, TRAIN_SAMPLE, replace=False))
        return self._prepare(self._read_vectors(point_ids), "stored vector", check=False)

    def _read_vectors(self, ids: np.ndarray) -> np.ndarray:
        """float32 rows of ids that must all exist (sorted ids read in page order)."""
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        with self._storage.read() as txn:
            with txn.cursor(db=self._dbs["vectors"]) as cur:
                for lo in range(0, len(ids), _ENCODE_BLOCK):
                    part = ids[lo : lo + _ENCODE_BLOCK]
                    pairs = cur.getmulti(id_keys(part))
                    if len(pairs) != len(part):
                        raise InternalError(f"collection '{self.name}': slots and vectors disagree")
                    out[lo : lo + len(part)] = np.frombuffer(b"".join(v for _, v in pairs), dtype=np.float32).reshape(-1, self.dim)
        return out

    def _encode_slots(self, codec: Codec, ids: np.ndarray) -> np.ndarray:
        codes = np.zeros((len(ids), codec.code_bytes), dtype=np.uint8)
        live = np.flatnonzero(ids >= 0)
        order = live[np.argsort(ids[live])]  # read in id (page) order
        for lo in range(0, len(order), _ENCODE_BLOCK):
            slots = order[lo : lo + _ENCODE_BLOCK]
            x = self._prepare(self._read_vectors(ids[slots]), "stored vector", check=False)
            codes[slots] = codec.encode(x)
        return codes

    # -- info -----------------------------------------------------------------------
    def info(self) -> CollectionInfo:
        self._check_usable()
        with self._storage.read() as txn:
            count = int(txn.stat(self._dbs["vectors"])["entries"])
            disk = 0
            for sub in SUB_DBS:
                st = txn.stat(self._dbs[sub])
                disk += (st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"]) * st["psize"]
        seg = self._seg
        indexes = self._payload_indexes
        index_bytes = indexes.nbytes()
        return CollectionInfo(
            config=self.config,
            count=count,
            trained=seg.codec.trained,
            ram_bytes=seg.nbytes() + index_bytes,
            disk_bytes=disk,
            extra={
                "code_bytes": seg.code_bytes,
                "slots": seg.n,
                "capacity": seg.capacity,
                "payload_indexes": indexes.declared(),
                "payload_index_ram_bytes": index_bytes,
            },
        )
