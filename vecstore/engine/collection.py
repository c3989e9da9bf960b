"""One collection: LMDB sub-databases (the truth) plus a RAM segment (derived).

Sub-databases, keys are ids as 8-byte big-endian so cursor order is id order:
  vectors   id -> the row as given, float32 (float16 when vector_dtype says so)
  payloads  id -> JSON (absent when the point has none)
  slots     id -> slot (uint64 LE), the point's row in the segment
  chunks    chunk number (8-byte BE) -> ids, codes and IVF lists of CHUNK slots
  sparse    id -> sparse code (sparse kind only; see persist.py for why here)
  meta      b"codec" -> learned codec parameters (npz), b"ivf" -> IVF centroids (npz)
            b"payload_indexes" -> declared payload indexes, JSON {key: kind}
  sparse_vectors  id -> the point's user sparse vector (collections with
            sparse_vectors only; see hybrid.py)
  str_ids, str_names  str id <-> internal id (id_type="str" only; see str_ids.py)

"id" above is the stored int64 id: the user's for id_type="int", an internal
one for id_type="str". The public methods translate at their edges
(self._ids); everything below them works on stored ids.
"""
from __future__ import annotations

import json
import itertools
import math
from typing import TYPE_CHECKING, Any, Sequence

import lmdb
import numpy as np

import native
from native.half import halves_to_floats
from native.ivf import gather_regions

from ..api import interface
from ..api import payloads as P
from ..api import validate as V
from ..api.ids import check_unique_ids
from ..api.filters import All, Node, compile_filter
from ..api.fusion import check_fusion
from ..api.sparse_rows import SparseRows
from ..api.sparse_vectors import check_sparse_vectors
from ..config import CollectionConfig
from ..errors import CollectionNotFoundError, InternalError, InvalidVectorError
from ..types import CollectionInfo, Points, ScrollPage, SearchResult
from . import drift, hit_data, hybrid, training
from .codecs import make_codec
from .codecs.exact import flat_topk
from .fetch import ValueReader
from .keys import id_keys, keys_to_ids
from .oplog import logged_methods
from .payload_store import PayloadStore
from .rebalance import Rebalancer
from .persist import CHUNK, chunk_value, decode_chunk, get_sparse
from .segment import Segment, SparseChange
from .selection import FilterPlan, matching_ids, prefer_exact
from .storage import Storage
from .str_ids import SUB_DBS as STR_ID_SUB_DBS
from .str_ids import make_ids

if TYPE_CHECKING:
    from .database import Database

_FILL_BLOCK = 65_536  # vectors copied into RAM per step at open
# at open, the data file is read through first when the vectors are at least
# 1/_READ_THROUGH_SHARE of it: sequential reads run ~15x the random ones here
_READ_THROUGH_SHARE = 8
SUB_DBS = ("vectors", "payloads", "slots", "chunks", "meta", "sparse")
_RERANK_GROUP = 16  # queries whose candidates are fetched together


def sub_dbs(config: CollectionConfig) -> tuple[str, ...]:
    """The sub-databases of a collection: SUB_DBS, and its sparse vectors' if it has them."""
    return (SUB_DBS + ((hybrid.SUB_DB,) if config.sparse_vectors is not None else ())
            + (STR_ID_SUB_DBS if config.id_type == "str" else ()))


def sub_db_name(cid: int, sub: str) -> str:
    return f"c{cid}.{sub}"


def _put_sorted(txn: lmdb.Transaction, db: Any, items: list[tuple[bytes, bytes]]) -> None:
    """Write items given in key order. When they all sort after the last key
    (ids that only grow), LMDB's append mode fills pages instead of splitting
    them in half, which halves the disk used by bulk imports."""
    if not items:
        return
    with txn.cursor(db=db) as cur:
        last = cur.key() if cur.last() else None
        cur.putmulti(items, append=last is None or items[0][0] > last)


@logged_methods(
    "upsert", "delete", "count", "get", "search", "scroll", "set_payload", "overwrite_payload",
    "delete_payload_keys", "create_payload_index", "drop_payload_index", "optimize", "info", "search_by_id",
)
class Collection(interface.Collection):
    def __init__(self, database: "Database", cid: int, config: CollectionConfig, dbs: dict[str, Any]) -> None:
        self._database = database
        self._storage: Storage = database._storage
        self.cid = cid
        self.config = config
        self._dbs = dbs
        self._dropped = False
        self._vectors = ValueReader(self._storage, dbs["vectors"], sub_db_name(cid, "vectors"))  # the rerank's reads
        self._row_dtype = np.dtype(np.float16 if config.vector_dtype == "float16" else np.float32)
        # what the rerank kernel reads: float16 as its bit patterns (Numba has no float16)
        self._row_bits = np.dtype(np.uint16 if config.vector_dtype == "float16" else np.float32)
        self._seg = Segment(make_codec(config.quantization, config.dim, config.metric),
                            vector_rows=(config.dim, self._row_bits) if config.vectors_in_ram else None)
        # what training may use of this collection; it also tracks the slots written during a run
        self._training = training.TrainingHost(
            config, self._storage, dbs, self._seg, read_vectors=self._read_vectors, prepare=self._prepare,
            check_usable=self._check_usable, log=database._log,
        )
        # retrains drifted IVF lists on a thread of its own (see _rebalance_if_drifted)
        self._rebalancer = Rebalancer(
            config.name, lambda stop: training.train(self._training, mode="rebalance", stop=stop),
            lambda: training.rebalance_due(self._training), database._log)
        # user ids <-> stored ids (identity for id_type="int")
        self._ids = make_ids(config, self._storage, dbs)
        # payload edits, payload indexes and filter plans; the public payload methods delegate to it
        self._payloads = PayloadStore(self._storage, dbs, self._seg, self._check_usable, self._ids)
        # user sparse vectors for hybrid search, when the collection has them
        self._sparse_vectors = (hybrid.SparseVectorIndex(self._storage, dbs[hybrid.SUB_DB], self._seg)
                                if config.sparse_vectors is not None else None)

    # -- properties ---------------------------------------------------------------
    @property
    def _user_sparse(self) -> bool:
        q = self.config.quantization
        return q.kind == "sparse" and q.user_codes

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, dim={self.dim}, metric={self.metric!r}, quantization={self.config.quantization.kind!r})"

    def _check_usable(self) -> None:
        self._storage._check_open()
        if self._dropped:
            raise CollectionNotFoundError(f"collection '{self.name}' was dropped")

    # -- writes -------------------------------------------------------------------
    def upsert(
        self, ids: Any, vectors: Any, payloads: Sequence[dict | None] | None = None, *, sparse: Any = None,
        sparse_vectors: Any = None,
    ) -> int:
        """Insert or replace points; returns once the batch is durable.

        A replaced point takes the new vector and the new payload (None clears
        it). `sparse`: one sparse code per point, required by (and only
        accepted by) collections with SparseQuantization(user_codes=True).
        `sparse_vectors`: for collections created with sparse_vectors, one
        user sparse vector (or None) per point, for hybrid search.
        Returns the number of points written.
        """
        self._check_usable()
        user_ids = self._ids.check(ids)
        check_unique_ids(user_ids)
        x = V.check_vectors(vectors, self.dim, collection=self.name)
        V.check_norms(x, self.metric)
        n = len(user_ids)
        V.check_lengths(n, len(x))
        encoded_payloads = V.check_payloads(payloads, n)
        if self.config.vector_dtype == "float16":
            x = V.round_to_float16(x)  # encode exactly what the rerank will read back
        user_rows = self._check_user_sparse(sparse, n, "sparse")
        hybrid_rows = check_sparse_vectors(sparse_vectors, n, self.config)
        xp = self._prepare(x, "vector")
        row_bytes = self._row_dtype.itemsize * self.dim
        raw = x.astype(self._row_dtype).tobytes()
        with self._storage.write_lock:
            self._check_usable()
            seg = self._seg
            codes = seg.codec.encode(xp) if seg.code_bytes else None
            lists, errors = seg.ivf.assign_with_error(xp) if seg.ivf is not None else (None, None)
            # the drift figures once this batch commits, persisted with it
            drift_after = self._training.drift.after_write(len(xp), float(errors.sum()), 0) if lists is not None else None
            new_rows = None
            if seg.postings is not None:
                new_rows = user_rows if user_rows is not None else seg.codec.encode_sparse(xp)

            def write(txn: lmdb.Transaction):
                ids = self._ids.assign(txn, user_ids)  # str ids: mapped in this transaction
                keys = id_keys(ids)
                order = np.argsort(ids, kind="stable")  # key order: LMDB can append
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
                old = None
                if new_rows is not None:
                    old = self._swap_sparse(txn, keys, slots, np.flatnonzero(~is_new), new_rows, order)
                old_lists = self._write_chunks(txn, seg, slots, ids, codes, lists)
                sv = self._sparse_vectors
                sv_change = sv.stage_upsert(txn, keys, slots, np.flatnonzero(~is_new), hybrid_rows) if sv else None
                self._put_drift(txn, drift_after)
                return ids, plan, slots, old, sv_change, old_lists

            ids, plan, slots, old, sv_change, old_lists = self._storage.write(write)
            self._note_changed(slots)
            self._index_payloads(slots, encoded_payloads or [None] * len(ids))
            seg.apply_upsert(
                plan, slots, ids, codes, lists=lists, old_lists=old_lists, sparse_old=old,
                sparse_new=None if new_rows is None else SparseChange(slots, new_rows),
                vectors=np.frombuffer(raw, self._row_bits).reshape(len(ids), self.dim) if seg.vectors is not None else None,
            )
            if sv_change is not None:
                self._sparse_vectors.publish(sv_change)
            if seg.lists is not None:
                self._training.drift.committed(drift_after, seg.lists, lists, old_lists)
        self._train_if_due()
        self._rebalance_if_drifted()
        return len(ids)

    def _check_user_sparse(self, value: Any, n: int, what: str) -> SparseRows | None:
        return V.check_user_sparse(value, n, self.config, what=what)

    def _swap_sparse(
        self, txn: lmdb.Transaction, keys: list[bytes], slots: np.ndarray, replaced: np.ndarray,
        rows: SparseRows, order: np.ndarray,
    ) -> SparseChange:
        """Write the batch's sparse codes; return the replaced points' old codes."""
        db = self._dbs["sparse"]
        weighted = rows.weighted
        have, old_rows = get_sparse(txn, db, [keys[i] for i in replaced], weighted)
        values = rows.to_values()
        _put_sorted(txn, db, [(keys[i], values[i]) for i in order])
        return SparseChange(slots[replaced[have]], old_rows)

    def _put_drift(self, txn: lmdb.Transaction, record: drift.DriftRecord | None) -> None:
        if record is not None:
            txn.put(drift.META_KEY, record.to_bytes(), db=self._dbs["meta"])

    def _note_changed(self, slots: np.ndarray) -> None:
        """Called under the write lock: a running training re-encodes these slots."""
        self._training.changes.note(slots)

    def _write_payloads(self, txn: lmdb.Transaction, keys: list[bytes], payloads: list[bytes | None] | None) -> None:
        db = self._dbs["payloads"]
        for i, key in enumerate(keys):
            value = None if payloads is None else payloads[i]
            if value is None:
                txn.delete(key, db=db)
            else:
                txn.put(key, value, db=db)

    def _write_chunks(
        self, txn: lmdb.Transaction, seg: Segment, slots: np.ndarray, ids: np.ndarray,
        codes: np.ndarray | None, lists: np.ndarray | None,
    ) -> np.ndarray | None:
        """Rewrite every chunk the batch touches: committed rows plus the batch.

        With IVF, RAM keeps neither codes nor lists by slot, so the committed
        rows come from the stored chunks; returns the lists the batch's slots
        were in until now (-1: none), None without IVF."""
        chunk_of = slots // CHUNK
        persist = seg.code_bytes > 0 and seg.codec.persist_codes
        db = self._dbs["chunks"]
        old_lists = np.full(len(slots), -1, np.int32) if seg.ivf is not None else None
        for chunk in np.unique(chunk_of):
            key = int(chunk).to_bytes(8, "big")
            mine = chunk_of == chunk
            offsets = slots[mine] - chunk * CHUNK
            if seg.ivf is None:
                chunk_ids, chunk_codes = seg.chunk_rows(int(chunk))
                chunk_lists = None
            else:
                try:
                    chunk_ids, chunk_codes, chunk_lists = decode_chunk(
                        txn.get(key, db=db), seg.code_bytes if persist else 0, True)
                except ValueError as exc:
                    raise InternalError(f"collection '{self.name}': stored chunk {chunk}: {exc}") from None
                old_lists[mine] = chunk_lists[offsets]
                if not persist:
                    chunk_codes = np.zeros((CHUNK, seg.code_bytes), np.uint8)  # not written
            chunk_ids[offsets] = ids[mine]
            if codes is not None:
                chunk_codes[offsets] = codes[mine]
            if seg.ivf is not None:
                chunk_lists[offsets] = lists[mine]
            value = chunk_value(chunk_ids, chunk_codes if persist else None, chunk_lists)
            txn.put(key, value, db=db)
        return old_lists

    def delete(self, ids: Any = None, *, filter: dict | None = None) -> int:
        """Delete points by id, or every point matching `filter`; ids that do
        not exist are ignored. Returns how many went."""
        self._check_usable()
        V.check_delete_selector(ids, filter)
        if filter is not None:
            node = compile_filter(filter)
            with self._storage.write_lock:  # nothing changes between selecting and deleting
                return self._delete_ids(matching_ids(self._plan(node), self._seg), stored=True)
        return self._delete_ids(self._ids.check(ids, allow_empty=True))

    def _delete_ids(self, ids: np.ndarray, *, stored: bool = False) -> int:
        """Delete user ids (stored ids when `stored`)."""
        ids = np.unique(ids)
        if not len(ids):
            return 0
        with self._storage.write_lock:
            self._check_usable()
            seg = self._seg
            drift_after: list[drift.DriftRecord | None] = [None]

            def write(txn: lmdb.Transaction):
                keys = id_keys(ids if stored else self._ids.resolve(txn, ids)[0])
                found = [(i, txn.get(k, db=self._dbs["slots"])) for i, k in enumerate(keys)]
                found = [(i, int.from_bytes(f, "little")) for i, f in found if f is not None]
                if not found:
                    return np.zeros(0, dtype=np.int64), None, None, None
                rows = np.array([i for i, _ in found], dtype=np.int64)
                slots = np.array([s for _, s in found], dtype=np.int64)
                old = None
                if seg.postings is not None:
                    have, old_rows = get_sparse(txn, self._dbs["sparse"], [keys[i] for i in rows], seg.postings.weighted)
                    old = SparseChange(slots[have], old_rows)
                for i in rows:
                    for sub in ("vectors", "payloads", "slots", "sparse"):
                        txn.delete(keys[i], db=self._dbs[sub])
                self._ids.remove(txn, [keys[i] for i in rows])
                dead = np.full(len(slots), -1, dtype=np.int64)
                zeros = np.zeros((len(slots), seg.code_bytes), dtype=np.uint8) if seg.code_bytes else None
                no_list = np.full(len(slots), -1, dtype=np.int32)
                old_lists = self._write_chunks(txn, seg, slots, dead, zeros, no_list)
                if old_lists is not None:
                    drift_after[0] = self._training.drift.after_write(0, 0.0, len(slots))
                    self._put_drift(txn, drift_after[0])
                sv = self._sparse_vectors
                return slots, old, sv.stage_delete(txn, [keys[i] for i in rows], slots) if sv else None, old_lists

            slots, old, sv_change, old_lists = self._storage.write(write)
            if len(slots):
                self._note_changed(slots)
                seg.apply_delete(slots, old, old_lists)
                if sv_change is not None:
                    self._sparse_vectors.publish(sv_change)
                self._unindex_payloads(slots)
                if seg.lists is not None:
                    self._training.drift.committed(drift_after[0], seg.lists, None, old_lists)
        if len(slots):
            self._rebalance_if_drifted()
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
        """Stored vectors and payloads of the ids that exist, in request order.

        Vectors come back as float32: byte-exact for float32 collections,
        upcast from the stored float16 rows otherwise (`Points.stored_dtype`)."""
        self._check_usable()
        ids = self._ids.check(ids, allow_empty=True)
        with self._storage.read() as txn:
            stored, pos = self._ids.resolve(txn, ids)
            if pos is not None:  # str ids: those that exist, in request order
                ids = ids[pos]
            keys = id_keys(stored)
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
            self._decode_rows(b"".join(v for _, v in rows), len(rows), copy=True)
            if with_vectors
            else np.zeros((len(rows), 0), dtype=np.float32)
        )
        return Points(ids=ids[found], vectors=vectors, payloads=payloads, stored_dtype=self.config.vector_dtype)

    def _decode_rows(self, raw: Any, n: int, *, copy: bool = False) -> np.ndarray:
        """Stored rows (bytes, or a contiguous array of them) -> float32 (n, dim);
        float32 rows stay a read-only view of `raw` unless `copy`, float16 rows
        are upcast into a new array."""
        rows = np.frombuffer(raw, dtype=self._row_dtype).reshape(n, self.dim)
        if rows.dtype == np.float16:
            return halves_to_floats(rows)
        return rows.astype(np.float32, copy=copy)

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        filter: dict | None = None,
        oversampling: float | None = None,
        rescore: bool | None = None,
        nprobe: int | None = None,
        sparse_queries: Any = None,
        margin: float | None = None,
        sparse_query: Any = None,
        fusion: str = "rrf",
        rrf_k: float = 60,
        dense_weight: float = 0.5,
        with_payloads: bool = False,
        with_vectors: bool = False,
    ) -> SearchResult:
        """Top-k per query: coarse scan of RAM codes, then an exact rerank from LMDB.

        queries (nq, dim) or (dim,). oversampling / rescore / margin default to
        the collection's quantization settings (margin: binary codes scored
        asymmetrically only), nprobe to its IVF setting (only
        for collections with IVF). rescore=False returns code-space scores,
        which are approximate. sparse_queries: one sparse code per query, for
        collections with SparseQuantization(user_codes=True) (the dense
        queries still rerank).

        filter: only points matching it are searched (see `filters`): the
        coarse scan skips the others, so k hits come back whenever k points
        match. When few points match, they are scored exactly instead.

        sparse_query (collections with sparse_vectors): hybrid search, the
        dense hits fused with exact sparse dot-product hits by `fusion`
        ("rrf" with rrf_k, or "weighted" with dense_weight; README "Hybrid
        search"); with queries=None, sparse retrieval alone.

        with_payloads / with_vectors: also return the hits' payloads / stored
        vectors (`SearchResult.payloads` / `.vectors`), read in one transaction.
        """
        return self._ids.hits(self._search(
            queries, k, filter=filter, oversampling=oversampling, rescore=rescore, nprobe=nprobe,
            sparse_queries=sparse_queries, margin=margin, sparse_query=sparse_query, fusion=fusion, rrf_k=rrf_k,
            dense_weight=dense_weight, with_payloads=with_payloads, with_vectors=with_vectors))

    def _search(
        self, queries: Any, k: int = 10, *, filter: dict | None = None, oversampling: float | None = None,
        rescore: bool | None = None, nprobe: int | None = None, sparse_queries: Any = None,
        margin: float | None = None, sparse_query: Any = None, fusion: str = "rrf", rrf_k: float = 60,
        dense_weight: float = 0.5, with_payloads: bool = False, with_vectors: bool = False,
    ) -> SearchResult:
        """`search` in stored ids (hybrid.py and hit_data.py search through it too)."""
        if with_payloads or with_vectors:  # the hits, then their data (hit_data.py)
            hits = self._search(queries, k, filter=filter, oversampling=oversampling, rescore=rescore,
                               nprobe=nprobe, sparse_queries=sparse_queries, margin=margin,
                               sparse_query=sparse_query, fusion=fusion, rrf_k=rrf_k, dense_weight=dense_weight)
            return hit_data.attach(self, hits, bool(with_payloads), bool(with_vectors))
        self._check_usable()
        if sparse_query is not None or queries is None:
            return hybrid.search(self, queries, k, filter=filter, sparse_query=sparse_query, fusion=fusion,
                                 rrf_k=rrf_k, dense_weight=dense_weight, dense=dict(
                                     oversampling=oversampling, rescore=rescore, nprobe=nprobe,
                                     sparse_queries=sparse_queries, margin=margin))
        check_fusion(fusion, rrf_k, dense_weight)  # unused without a sparse_query, but a typo is an error
        q = V.check_vectors(queries, self.dim, what="query", collection=self.name)
        V.check_norms(q, self.metric, what="query")
        k = V.check_k(k)
        oversampling = V.check_oversampling_arg(oversampling)
        rescore = V.check_rescore_arg(rescore)
        nprobe = V.check_nprobe_arg(nprobe, self.config.ivf, self.name)
        margin = V.check_margin_arg(margin, self.config)
        q_rows = self._check_user_sparse(sparse_queries, len(q), "sparse_queries")
        qcfg = self.config.quantization
        oversampling = qcfg.oversampling if oversampling is None else oversampling
        rescore = qcfg.rescore if rescore is None else rescore
        V.check_search_size(len(q), k, V.candidates_per_query(k, oversampling, rescore, self.config))
        if nprobe is None and self.config.ivf is not None:
            nprobe = self.config.ivf.nprobe
        qp = self._prepare(q, "query")
        node = compile_filter(filter)
        plan = None if node is None or isinstance(node, All) else self._plan(node)

        seg = self._seg
        match_ids = None  # set when the filter's points are scored exactly
        one = False  # a single query reranked through _rerank_one
        from_ram = None  # the result, when reranked from the RAM copy of the vectors
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
                slots, scores = self._scan(seg, qp, q_rows, n_cand, nprobe, alive, plan is not None)
                one = len(qp) == 1 and rescore and not codec.exact
                if seg.vectors is not None and rescore and not codec.exact:
                    # under the lock: the rows a slot holds change only under it
                    if n_cand > k:
                        slots = self._prune(codec, qp, slots, scores, k, margin)
                    from_ram = self._rerank_ram(seg, qp, slots, k)
                elif one:  # the common single query: its ids in one kernel call
                    floor = self._floor(codec, qp, scores, k, margin) if n_cand > k else -np.inf
                    cand = native.candidate_ids(slots[0], scores[0], floor, seg.ids)
                else:
                    if rescore and n_cand > k:
                        slots = self._prune(codec, qp, slots, scores, k, margin)
                    cand_ids = seg.ids_of(slots)
        if match_ids is not None:
            # exact over the matching points: they are every query's candidates
            return self._rerank(qp, np.broadcast_to(match_ids, (len(qp), len(match_ids))), k)
        if not codec.trained:
            return self._search_exact_from_lmdb(qp, k)
        if from_ram is not None:
            return from_ram
        if one:
            return self._rerank_one(qp, cand, k)
        if codec.exact or not rescore:
            return self._result(cand_ids[:, :k], scores[:, :k])
        return self._rerank(qp, cand_ids, k)

    def search_by_id(
        self,
        ids: Any,
        k: int = 10,
        *,
        filter: dict | None = None,
        oversampling: float | None = None,
        rescore: bool | None = None,
        nprobe: int | None = None,
        margin: float | None = None,
        with_payloads: bool = False,
        with_vectors: bool = False,
    ) -> SearchResult:
        """Top-k per stored point ("more like these"): each point's stored vector
        (and, with user sparse codes, its stored code) is the query, and the point
        itself is left out of its own hits. Result shape (len(ids), k); other
        arguments as in `search`. An unknown id raises PointNotFoundError."""
        return self._ids.hits(hit_data.search_by_id(
            self, ids, k, filter=filter, oversampling=oversampling, rescore=rescore, nprobe=nprobe, margin=margin,
            with_payloads=bool(with_payloads), with_vectors=bool(with_vectors)))

    def _scan(
        self, seg: Segment, qp: np.ndarray, q_rows: SparseRows | None, n_cand: int, nprobe: int | None,
        alive: np.ndarray, filtered: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best n_cand slots per query from the RAM codes (under the shared lock),
        among the slots where alive (uint8, (seg.n,): live, or live and matching
        a filter when `filtered`) is 1."""
        codec, n = seg.codec, seg.n
        probes = self._probes(seg, qp, nprobe, n_cand, alive, filtered) if seg.ivf is not None else None
        if seg.postings is not None:
            if q_rows is None:
                q_rows = codec.query_rows(qp)
            if probes is None:
                return codec.search_postings(seg.postings, alive, q_rows, n_cand)
        elif probes is None:
            return codec.search(seg.codes.scan_view(n), alive, qp, n_cand)
        # IVF: per query, only the slots of its probed lists
        lists = seg.lists
        if len(qp) == 1 and seg.postings is None:  # the common single query: no copies
            found = codec.search_lists(lists, probes[0], alive if filtered else None, qp, n_cand)
            if found is not None:
                return found[0][None], found[1][None]
        out_slots = np.full((len(qp), n_cand), -1, dtype=np.int64)
        out_scores = np.full((len(qp), n_cand), -np.inf, dtype=np.float32)
        for i in range(len(qp)):
            if seg.postings is not None:
                eligible = np.zeros(n, dtype=np.uint8)
                for lst in probes[i]:
                    region = lists.region(lst)
                    eligible[region] = alive[region]
                s, sc = codec.search_postings(seg.postings, eligible, q_rows.take([i]), n_cand)
                out_slots[i], out_scores[i] = s[0], sc[0]
                continue
            # a codec that can scans the lists where they lie, the others a copy; lists
            # hold live slots only, so the mask matters only under a filter (read per
            # row, it costs a cache miss per row at 1M)
            found = codec.search_lists(lists, probes[i], alive if filtered else None, qp[i : i + 1], n_cand)
            if found is not None:
                out_slots[i], out_scores[i] = found
                continue
            sel, sub = gather_regions(lists.slots, lists.rows, lists.starts, lists.lengths, probes[i])
            if not len(sel):
                continue
            sub = sub[:, : seg.code_bytes]  # without the lists' word padding
            s, sc = codec.search(sub, np.ascontiguousarray(alive[sel]), qp[i : i + 1], n_cand)
            m = s.shape[1]
            out_slots[i, :m] = np.where(s[0] >= 0, sel[np.maximum(s[0], 0)], -1)
            out_scores[i, :m] = sc[0]
        return out_slots, out_scores

    @staticmethod
    def _floor(codec: Any, qp: np.ndarray, scores: np.ndarray, k: int, margin: float | None) -> float:
        """One query's lowest score still reranked: its k-th best minus the
        codec's margin (-inf without a margin, or with fewer than k candidates)."""
        margins = codec.rerank_margins(qp, margin)
        return -np.inf if margins is None else float(scores[0, k - 1] - margins[0])

    @staticmethod
    def _prune(codec: Any, qp: np.ndarray, slots: np.ndarray, scores: np.ndarray, k: int,
               margin: float | None) -> np.ndarray:
        """Drop (slot -1) the candidates the codec's margin rules out of the
        rerank: those scoring below each query's k-th best minus its margin."""
        margins = codec.rerank_margins(qp, margin)
        if margins is None:
            return slots
        floor = scores[:, k - 1] - margins  # -inf when fewer than k candidates: all stay
        slots[scores < floor[:, None]] = -1  # the scan's own array
        return slots

    @staticmethod
    def _probes(
        seg: Segment, qp: np.ndarray, nprobe: int, n_cand: int, alive: np.ndarray, filtered: bool
    ) -> list[np.ndarray]:
        """Each query's nprobe nearest lists, extended by the next nearest ones
        until they hold n_cand eligible slots (or every list is in): a filter or
        small lists must not cut a search below k hits while k points qualify."""
        ivf, lists = seg.ivf, seg.lists
        out = list(ivf.probe(qp, nprobe))
        counts: dict[int, int] = {}  # eligible slots per list, counted only when reached

        def eligible(lst: int) -> int:
            if not filtered:
                return int(lists.lengths[lst])  # lists hold live slots only
            if lst not in counts:
                counts[lst] = int(alive[lists.region(lst)].sum())
            return counts[lst]

        for i, row in enumerate(out):
            have = int(lists.lengths[row].sum()) if not filtered else sum(eligible(int(x)) for x in row)
            if have >= n_cand or len(row) == ivf.nlist:
                continue
            order = ivf.probe(qp[i : i + 1], ivf.nlist)[0]  # rare: small lists or a selective filter
            used = len(row)
            for lst in order[used:]:
                if have >= n_cand:
                    break
                have += eligible(int(lst))
                used += 1
            out[i] = order[:used]
        return out

    def _rerank(self, qp: np.ndarray, cand_ids: np.ndarray, k: int) -> SearchResult:
        """Exact scores of each query's candidates, read from LMDB in key order."""
        return self._in_groups(self._rerank_group, qp, cand_ids, k)

    @staticmethod
    def _in_groups(rerank: Any, qp: np.ndarray, cands: np.ndarray, k: int) -> SearchResult:
        """rerank(qp, cands, k) over small groups of queries: a large batch's
        candidates cover much of the collection, and one huge fetch (or copy)
        would hold it all at once."""
        if len(qp) <= _RERANK_GROUP:
            return rerank(qp, cands, k)
        parts = [rerank(qp[i : i + _RERANK_GROUP], cands[i : i + _RERANK_GROUP], k)
                 for i in range(0, len(qp), _RERANK_GROUP)]
        return SearchResult(ids=np.vstack([p.ids for p in parts]), scores=np.vstack([p.scores for p in parts]))

    def _rerank_one(self, qp: np.ndarray, ids: np.ndarray, k: int) -> SearchResult:
        """`_rerank` of a single query whose candidates are ids (ascending): every
        row read is a candidate, and float16 rows are widened as they are scored."""
        raw, present = self._vectors.get(id_keys(ids))  # in key (page) order
        found = ids if present is None else ids[present]  # deleted since the scan: left out
        return self._score_one(qp, np.frombuffer(raw, dtype=self._row_bits).reshape(len(found), self.dim), found, k)

    def _rerank_group(self, qp: np.ndarray, cand_ids: np.ndarray, k: int) -> SearchResult:
        valid = cand_ids[cand_ids >= 0]
        # one query's candidates are distinct slots, hence distinct ids
        uniq = np.sort(valid) if len(cand_ids) == 1 else np.unique(valid)
        raw, present = self._vectors.get(id_keys(uniq))  # in key (page) order
        # candidates deleted since the scan are simply left out
        found = uniq if present is None else uniq[present]
        return self._score_group(qp, self._decode_rows(raw, len(found)), found, cand_ids, k)

    def _rerank_ram(self, seg: Segment, qp: np.ndarray, slots: np.ndarray, k: int) -> SearchResult:
        """`_rerank` from the segment's RAM copy of the vectors (caller holds its
        lock): the same rows in the same id order, so the same ids and scores."""
        return self._in_groups(lambda q, s, kk: self._rerank_ram_group(seg, q, s, kk), qp, slots, k)

    def _rerank_ram_group(self, seg: Segment, qp: np.ndarray, slots: np.ndarray, k: int) -> SearchResult:
        valid = slots[slots >= 0]
        ids = seg.ids[valid]
        if len(qp) == 1:  # distinct slots, distinct ids
            order = np.argsort(ids)
            return self._score_one(qp, seg.vectors[valid[order]], ids[order], k)
        found, first = np.unique(ids, return_index=True)
        cand_ids = seg.ids_of(slots)
        return self._score_group(qp, self._decode_rows(seg.vectors[valid[first]], len(found)), found, cand_ids, k)

    def _score_one(self, qp: np.ndarray, rows: np.ndarray, ids: np.ndarray, k: int) -> SearchResult:
        """One query's exact top k over rows (as stored: float32, or float16 bits),
        the rows of ids (ascending)."""
        scores, top = native.rerank_rows(qp[0], rows, ids, k, self.metric)
        return self._result(top[None], (-scores if self.metric == "l2" else scores)[None])

    def _score_group(self, qp: np.ndarray, vecs: np.ndarray, found: np.ndarray, cand_ids: np.ndarray,
                     k: int) -> SearchResult:
        """Each query's exact top k among its candidate ids; vecs (float32) are
        the rows of found (ascending). cosine: qp is unit-length and the kernel
        divides by each stored norm."""
        scores, ids = native.rerank_ids(qp, vecs, found, cand_ids, k, self.metric)
        return self._result(ids, -scores if self.metric == "l2" else scores)

    def _search_exact_from_lmdb(self, qp: np.ndarray, k: int) -> SearchResult:
        """Before a codec is trained the collection is small: scan LMDB exactly."""
        with self._storage.read() as txn:
            with txn.cursor(db=self._dbs["vectors"]) as cur:
                pairs = list(cur.iternext(keys=True, values=True))
        ids = keys_to_ids([p[0] for p in pairs])
        vecs = self._decode_rows(b"".join(p[1] for p in pairs), len(pairs))
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
        with np.errstate(over="ignore", under="ignore"):
            sq = (x * x).sum(axis=1)  # np.linalg.norm's arithmetic, less call overhead
        # squares that overflow (|x| ~1e19+) or underflow float32: those rows in float64
        odd = ~((sq >= 1e-30) & (sq <= 1e38))
        if not odd.any():
            return (x / np.sqrt(sq)[:, None]).astype(np.float32, copy=False)
        out = np.array(x, dtype=np.float32)
        wide = x[odd].astype(np.float64)
        norms = np.sqrt((wide * wide).sum(axis=1))
        zero = norms == 0
        if zero.any():
            if check:
                row = int(np.flatnonzero(odd)[np.flatnonzero(zero)[0]])
                raise InvalidVectorError(f"{what} {row} is all zeros: cosine similarity needs a non-zero vector")
            norms[zero] = 1
        fine = ~odd
        out[fine] = x[fine] / np.sqrt(sq[fine])[:, None]
        out[odd] = wide / norms[:, None]
        return out

    def _read_vectors(self, ids: np.ndarray, *, tolerant: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """float32 rows of ids (sorted ids read in page order) and which were found.

        Unless tolerant, every id must exist (the caller holds the write lock)."""
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        found = np.zeros(len(ids), dtype=bool)
        with self._storage.read() as txn:
            with txn.cursor(db=self._dbs["vectors"]) as cur:
                for lo in range(0, len(ids), training.ENCODE_BLOCK):
                    part = ids[lo : lo + training.ENCODE_BLOCK]
                    pairs = cur.getmulti(id_keys(part))
                    if len(pairs) != len(part) and not tolerant:
                        raise InternalError(f"collection '{self.name}': slots and vectors disagree")
                    got = keys_to_ids([p[0] for p in pairs])
                    at = lo + _positions(part, got)
                    out[at] = self._decode_rows(b"".join(v for _, v in pairs), len(pairs))
                    found[at] = True
        return out, found

    # -- codes: load, train, rebuild ------------------------------------------------
    def _load(self) -> None:
        training.load(self._training)
        if self._seg.vectors is not None:
            self._fill_ram_vectors()
        if self._sparse_vectors is not None:
            self._sparse_vectors.load()

    def _fill_ram_vectors(self) -> None:
        """At open: copy every stored vector into its slot's row of the RAM copy.
        The cursor walks the vectors in key (id) order, so the live slots sorted
        by their ids say where each one goes, with no lookups."""
        seg = self._seg
        live = np.flatnonzero(seg.ids[: seg.n] >= 0)
        by_id = live[np.argsort(seg.ids[live], kind="stable")]
        row_bytes = self._row_bits.itemsize * self.dim
        if len(by_id) * row_bytes * _READ_THROUGH_SHARE >= self._storage.file_bytes():
            # most of the file: one sequential read beats a disk read per page
            self._storage.read_file_through()
        done = 0
        # bytes values, not buffers: a memoryview per value costs ~1.5 s more per million
        with self._storage.read() as txn:
            values = txn.cursor(db=self._dbs["vectors"]).iternext(keys=False, values=True)
            while True:
                raw = b"".join(itertools.islice(values, _FILL_BLOCK))
                if not raw:
                    break
                m = len(raw) // row_bytes
                if m * row_bytes != len(raw) or done + m > len(by_id):
                    raise InternalError(f"collection '{self.name}': slots and vectors disagree")
                seg.vectors[by_id[done : done + m]] = np.frombuffer(raw, self._row_bits).reshape(m, self.dim)
                done += m
        if done != len(by_id):
            raise InternalError(f"collection '{self.name}': slots and vectors disagree")

    def optimize(self) -> None:
        """Learn the codec (and IVF centroids) again from the current vectors and
        re-encode all of them. Searches and writes go on meanwhile; the new
        codes replace the old ones in one step at the end."""
        self._check_usable()
        training.train(self._training, mode="optimize")

    def _rebalance_if_drifted(self) -> None:
        """After a write: start a background retrain when the IVF lists drifted
        past the collection's thresholds (IVFConfig.rebalance*). Never waits
        for it: the retrain runs on its own thread (rebalance.py)."""
        reason = training.rebalance_due(self._training)
        if reason is not None:
            self._rebalancer.start(reason)

    def _stop_background(self) -> None:
        """Close and drop: wait for a background retrain to give up or end."""
        self._rebalancer.stop()

    def _train_if_due(self) -> None:
        """Automatic training once the collection reaches a threshold. The batch
        that crossed it is already durable, so a failure here is logged, not
        raised: the collection keeps its current codes and tries again later."""
        if not training.due(self._training):
            return
        try:
            training.train(self._training, mode="auto")
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self._database._log(f"collection '{self.name}': automatic training failed, keeping the current codes: {exc!r}")

    # -- payloads, payload indexes, scroll (kept by self._payloads) -----------------------
    def scroll(
        self,
        limit: int = 100,
        *,
        after: int | str | None = None,
        filter: dict | None = None,
        with_vectors: bool = False,
        with_payloads: bool = True,
    ) -> ScrollPage:
        """Up to `limit` points in id order, those with ids above `after`,
        optionally only those matching `filter`. Pass the page's `next_cursor`
        as `after` to get the next page; it is None after the last page.
        str ids (id_type="str") come in UTF-8 byte order, and `after` is a str."""
        self._check_usable()
        limit = V.check_limit(limit)
        after = self._ids.cursor(after)
        node = compile_filter(filter)
        if self._ids.id_type == "str":
            ids = self._ids.page(after, limit + 1, self._scroll_accept(node))
            more = len(ids) > limit
            ids = ids[:limit]
            points = self.get(np.array(ids, dtype=object), with_vectors=with_vectors, with_payloads=with_payloads)
            return ScrollPage(points=points, next_cursor=ids[-1] if more else None)
        ids = self._payloads.page_ids(after, limit + 1, node)
        more = len(ids) > limit
        ids = ids[:limit]
        points = self.get(ids, with_vectors=with_vectors, with_payloads=with_payloads)
        return ScrollPage(points=points, next_cursor=int(ids[-1]) if more else None)

    def _scroll_accept(self, node: Node | None) -> Any:
        """For str scrolls (which walk the str map): accept(txn, stored id key)
        saying whether the filter matches it, from a slot mask taken now."""
        if node is None or isinstance(node, All):
            return None
        plan = self._plan(node)
        with self._seg.lock.shared():
            mask = plan.mask(self._seg, self._seg.n).copy()
        slots_db = self._dbs["slots"]

        def accept(txn: lmdb.Transaction, key: bytes) -> bool:
            raw = txn.get(key, db=slots_db)
            slot = -1 if raw is None else int.from_bytes(raw, "little")
            return 0 <= slot < len(mask) and bool(mask[slot])

        return accept

    def set_payload(self, ids: Any, payload: dict) -> int:
        """Merge payload's top-level keys into each point's payload; vectors are
        untouched. Unknown ids are ignored; returns how many points changed."""
        return self._payloads.edit(ids, P.set_keys(payload))

    def overwrite_payload(self, ids: Any, payload: dict | None) -> int:
        """Replace each point's payload (None removes it); vectors are untouched."""
        return self._payloads.edit(ids, P.overwrite(payload))

    def delete_payload_keys(self, ids: Any, keys: Sequence[str]) -> int:
        """Remove keys (dotted keys reach nested fields) from each point's payload."""
        return self._payloads.edit(ids, P.delete_keys(keys))

    def create_payload_index(self, key: str, kind: str) -> None:
        """Index a payload key in RAM ("keyword", "integer" or "float") so
        filters on it are decided without reading payloads. Declaring it again
        with another kind replaces it. Kept across reopen."""
        self._payloads.create_index(key, kind)

    def drop_payload_index(self, key: str) -> bool:
        """Forget a payload index; returns whether there was one."""
        return self._payloads.drop_index(key)

    def payload_indexes(self) -> dict[str, str]:
        """Declared payload indexes: key -> kind."""
        return self._payloads.declared()

    # what the vector paths (and the database's open) use of the payload store
    def _plan(self, node: Node) -> FilterPlan:
        return self._payloads.plan(node)

    def _index_payloads(self, slots: Sequence[int] | np.ndarray, payloads: Sequence[Any]) -> None:
        self._payloads.index(slots, payloads)

    def _unindex_payloads(self, slots: np.ndarray) -> None:
        self._payloads.unindex(slots)

    def _load_payload_indexes(self) -> None:
        self._payloads.load_indexes()

    # -- info -----------------------------------------------------------------------
    def info(self) -> CollectionInfo:
        self._check_usable()
        with self._storage.read() as txn:
            count = int(txn.stat(self._dbs["vectors"])["entries"])
            disk = 0
            for sub in sub_dbs(self.config):
                st = txn.stat(self._dbs[sub])
                disk += (st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"]) * st["psize"]
        seg = self._seg
        indexes = self._payloads.indexes
        index_bytes = indexes.nbytes()
        extra = {
            "code_bytes": seg.code_bytes,
            "slots": seg.n,
            "capacity": seg.capacity,
            "payload_indexes": indexes.declared(),
            "payload_index_ram_bytes": index_bytes,
        }
        if self.config.ivf is not None:
            extra["ivf_trained"] = seg.ivf is not None
            figures = self._training.drift.figures()
            if figures is not None:
                extra["ivf_drift"] = figures
            extra["ivf_rebalance"] = self._rebalancer.figures()
        if seg.postings is not None:
            extra["postings"] = seg.postings.entries
        if seg.vectors is not None:
            extra["vectors_ram_bytes"] = seg.vectors.nbytes  # part of ram_bytes
        sv_bytes = 0
        if self._sparse_vectors is not None:
            sv_bytes = self._sparse_vectors.nbytes()
            extra["sparse_vector_entries"] = self._sparse_vectors.postings.entries
            extra["sparse_vectors_ram_bytes"] = sv_bytes  # part of ram_bytes
        return CollectionInfo(
            config=self.config,
            count=count,
            trained=seg.codec.trained,
            ram_bytes=seg.nbytes() + index_bytes + sv_bytes,
            disk_bytes=disk,
            extra=extra,
        )


def _positions(part: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Index in `part` of every id in `got` (part may be unsorted)."""
    order = np.argsort(part, kind="stable")
    return order[np.searchsorted(part[order], got)]
