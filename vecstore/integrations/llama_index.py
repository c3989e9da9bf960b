"""LlamaIndex vector store on a vecstore collection (`pip install 'vecstore[llama-index]'`).

    import vecstore
    from llama_index.core import StorageContext, VectorStoreIndex
    from vecstore.integrations.llama_index import VecstoreVectorStore

    store = VecstoreVectorStore(vecstore.open("data"), "docs")   # or vecstore.connect(...)
    index = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store))

Nodes are points of a collection with string ids (the node ids), created on the
first add with the embeddings' dimension and sparse vectors for the SPARSE and
HYBRID modes. Each payload is LlamaIndex's `node_to_metadata_dict` of the node:
the node's metadata at the top level (so filters reach it), the whole node as
JSON under "_node_content", and "ref_doc_id" (indexed, for delete(ref_doc_id)).
"""
from __future__ import annotations

import math
import os
import re
import zlib
from collections import Counter
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence

import numpy as np

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
    from llama_index.core.schema import BaseNode, MetadataMode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
except ImportError as exc:  # the extra is optional: say which one brings it
    raise ImportError(
        "vecstore.integrations.llama_index needs llama-index-core; "
        "install it with: pip install 'vecstore[llama-index]'"
    ) from exc

from ..api.filters import compile_filter
from ..errors import CollectionExistsError, CollectionNotFoundError

__all__ = ["VecstoreVectorStore", "hashed_term_frequencies", "to_vecstore_filter"]

SparseFn = Callable[[str], Mapping[int, float]]

#: payload key holding the node id, so query.node_ids can be a filter
NODE_ID_KEY = "_node_id"
REF_DOC_ID_KEY = "ref_doc_id"
_TOKEN = re.compile(r"\w+")
_SCROLL_PAGE = 1000
_MAX_K = 10_000  # vecstore's bound on k
_MODES = (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.HYBRID, VectorStoreQueryMode.SPARSE,
          VectorStoreQueryMode.MMR)


def hashed_term_frequencies(text: str, vocab_size: int = 2**24) -> dict[int, float]:
    """The default sparse embedding: lower-cased word tokens hashed (CRC-32,
    stable across processes) into [0, vocab_size), weighted 1 + ln(count).
    No vocabulary to fit, so it works from the first document; collisions are
    rare at the default 2^24 terms."""
    counts = Counter(zlib.crc32(t.encode()) % vocab_size for t in _TOKEN.findall(text.lower()))
    return {term: 1.0 + math.log(n) for term, n in counts.items()}


# -- MetadataFilters -> vecstore filter dict ------------------------------------------------
_COMPARISONS = {
    FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte",
}


_SUPPORTED = sorted(o.value for o in (*_COMPARISONS, FilterOperator.IN, FilterOperator.NIN, FilterOperator.ANY,
                                      FilterOperator.ALL, FilterOperator.CONTAINS))


def _values(f: MetadataFilter) -> list:
    return list(f.value) if isinstance(f.value, (list, tuple)) else [f.value]


def _one(f: MetadataFilter) -> dict:
    op = FilterOperator(f.operator)
    if op in _COMPARISONS:
        return {f.key: {_COMPARISONS[op]: f.value}}
    if op == FilterOperator.IN:
        return {f.key: {"$in": _values(f)}}
    if op == FilterOperator.NIN:
        return {f.key: {"$nin": _values(f)}}
    # a condition on a list field holds if any element satisfies it (README "Filters"),
    # so "any of these in the list" is $in and "all of them" is one equality per value
    if op == FilterOperator.ANY:
        return {f.key: {"$in": _values(f)}}
    if op == FilterOperator.ALL:
        values = _values(f)
        return {"$and": [{f.key: v} for v in values]} if values else {}
    if op == FilterOperator.CONTAINS:
        return {f.key: {"$eq": f.value}}
    raise NotImplementedError(
        f"VecstoreVectorStore: filter operator {op.value!r} (on key {f.key!r}) has no exact vecstore "
        f"equivalent; supported: {_SUPPORTED}"
    )


def to_vecstore_filter(filters: MetadataFilters | None) -> dict | None:
    """LlamaIndex MetadataFilters (nested, and/or/not) as a vecstore filter dict;
    None for no filter. Operators vecstore cannot express exactly (text_match,
    text_match_insensitive, is_empty) raise NotImplementedError."""
    if filters is None or not filters.filters:
        return None
    parts = [(to_vecstore_filter(f) or {}) if isinstance(f, MetadataFilters) else _one(f) for f in filters.filters]
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition == FilterCondition.AND:
        return {"$and": parts}
    if condition == FilterCondition.OR:
        return {"$or": parts}
    if condition == FilterCondition.NOT:  # LlamaIndex: none of the filters holds
        return {"$not": {"$or": parts}}
    raise NotImplementedError(f"VecstoreVectorStore: unknown filter condition {condition!r}")


def _all_of(*filters: dict | None) -> dict | None:
    present = [f for f in filters if f is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}


# -- the store ------------------------------------------------------------------------------
class VecstoreVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store on one vecstore collection.

    db: a vecstore database, embedded (`vecstore.open`) or a client
    (`vecstore.connect`); or a path, which the store opens (and `close()`
    closes). collection_name: created on the first `add` if missing, with
    `metric` and `collection_kwargs` (e.g. quantization="none"); an existing one
    must have string ids. sparse_embedding_fn: text -> {term index: weight},
    the sparse vector stored with each node for the SPARSE / HYBRID modes
    (default `hashed_term_frequencies`); sparse_query_fn: the same for query
    strings (default sparse_embedding_fn). hybrid_fusion: "rrf" or "weighted";
    a query's `alpha` (0 sparse .. 1 dense) picks weighted fusion with that
    dense weight. mmr_prefetch_factor: MMR re-ranks that many times top-k
    dense hits.

    Similarities are vecstore's scores for cosine and dot, 1 / (1 + distance)
    for l2 (so higher is better), and the fused scores in HYBRID mode.
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    flat_metadata: bool = False
    collection_name: str = "llama_index"
    metric: str = "cosine"
    hybrid_fusion: str = "rrf"
    mmr_prefetch_factor: float = 4.0
    batch_size: int = 512

    _db: Any = PrivateAttr()
    _owns_db: bool = PrivateAttr(default=False)
    _collection: Any = PrivateAttr(default=None)
    _collection_kwargs: dict = PrivateAttr(default_factory=dict)
    _sparse_fn: Optional[SparseFn] = PrivateAttr(default=None)
    _sparse_query_fn: Optional[SparseFn] = PrivateAttr(default=None)

    def __init__(self, db: Any, collection_name: str = "llama_index", *, metric: str = "cosine",
                 collection_kwargs: Optional[dict] = None, sparse_embedding_fn: Optional[SparseFn] = None,
                 sparse_query_fn: Optional[SparseFn] = None, hybrid_fusion: str = "rrf",
                 mmr_prefetch_factor: float = 4.0, batch_size: int = 512, **kwargs: Any) -> None:
        if hybrid_fusion not in ("rrf", "weighted"):
            raise ValueError(f"hybrid_fusion must be 'rrf' or 'weighted', got {hybrid_fusion!r}")
        super().__init__(collection_name=collection_name, metric=metric, hybrid_fusion=hybrid_fusion,
                         mmr_prefetch_factor=mmr_prefetch_factor, batch_size=batch_size, **kwargs)
        if isinstance(db, (str, os.PathLike)):
            import vecstore

            db, self._owns_db = vecstore.open(db), True
        self._db = db
        self._collection_kwargs = dict(collection_kwargs or {})
        self._sparse_fn = sparse_embedding_fn
        self._sparse_query_fn = sparse_query_fn or sparse_embedding_fn
        if collection_name in db.list_collections():
            self._attach(db.get_collection(collection_name))

    @classmethod
    def class_name(cls) -> str:
        return "VecstoreVectorStore"

    @property
    def client(self) -> Any:
        """The vecstore database (embedded or client) the store writes to."""
        return self._db

    @property
    def collection(self) -> Any:
        """The vecstore collection, or None before the first add created it."""
        return self._collection

    def close(self) -> None:
        """Close the database if the store opened it from a path."""
        if self._owns_db:
            self._db.close()

    # -- the collection -------------------------------------------------------------------
    def _attach(self, col: Any) -> None:
        id_type = getattr(col.config, "id_type", "int")
        if id_type != "str":
            raise ValueError(
                f"collection {col.name!r} has {id_type} ids; LlamaIndex node ids are strings: "
                "use another collection_name, or create it with id_type='str'"
            )
        self._collection = col

    def _ensure_collection(self, dim: int) -> Any:
        if self._collection is None:
            options = {"sparse_vectors": True, **self._collection_kwargs}
            try:
                col = self._db.create_collection(self.collection_name, dim=dim, metric=self.metric,
                                                 id_type="str", **options)
                col.create_payload_index(REF_DOC_ID_KEY, "keyword")
            except CollectionExistsError:  # another writer created it meanwhile
                col = self._db.get_collection(self.collection_name)
            self._attach(col)
        return self._collection

    def _existing(self) -> Any:
        """The collection, or None if it does not exist (yet, or any more)."""
        if self._collection is None and self.collection_name in self._db.list_collections():
            self._attach(self._db.get_collection(self.collection_name))
        return self._collection

    @property
    def _has_sparse(self) -> bool:
        return self._collection is not None and self._collection.config.sparse_vectors is not None

    def _sparse(self, fn: Optional[SparseFn], text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """A text's sparse vector in vecstore's (indices, weights) form; None when empty."""
        if fn is None:
            vocab = self._collection.config.sparse_vectors.vocab_size
            terms = hashed_term_frequencies(text, vocab)
        else:
            terms = fn(text)
        items = sorted((int(i), float(w)) for i, w in terms.items() if w != 0)  # a 0 weight adds nothing
        if not items:
            return None
        return np.array([i for i, _ in items], np.int64), np.array([w for _, w in items], np.float32)

    # -- writes ---------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> List[str]:
        """Upsert nodes (with their embeddings) as points; returns their ids."""
        nodes = list(nodes)
        if not nodes:
            return []
        for node in nodes:
            if node.embedding is None:
                raise ValueError(f"node {node.node_id!r} has no embedding; embed nodes before adding them")
        col = self._ensure_collection(len(nodes[0].embedding))
        for start in range(0, len(nodes), self.batch_size):
            batch = nodes[start:start + self.batch_size]
            payloads = []
            for node in batch:
                payload = node_to_metadata_dict(node, remove_text=False, flat_metadata=self.flat_metadata)
                payload[NODE_ID_KEY] = node.node_id
                payloads.append(payload)
            sparse = None
            if self._has_sparse:
                sparse = [self._sparse(self._sparse_fn, n.get_content(metadata_mode=MetadataMode.NONE)) for n in batch]
            col.upsert([n.node_id for n in batch], np.array([n.embedding for n in batch], np.float32), payloads,
                       sparse_vectors=sparse)
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the document ref_doc_id."""
        col = self._existing()
        if col is not None:
            col.delete(filter={REF_DOC_ID_KEY: ref_doc_id})

    def delete_nodes(self, node_ids: Optional[List[str]] = None, filters: Optional[MetadataFilters] = None,
                     **delete_kwargs: Any) -> None:
        """Delete the nodes with these ids, or matching filters, or both (ids that match)."""
        where = to_vecstore_filter(filters)
        if node_ids is None and where is None:
            raise ValueError("delete_nodes needs node_ids or filters; clear() deletes every node")
        col = self._existing()
        if col is None:
            return
        if node_ids is None:
            col.delete(filter=where)
        elif where is None:
            if node_ids:
                col.delete(list(node_ids))
        else:
            matching = [str(i) for i, _ in self._get_matching(col, node_ids, where)]
            if matching:
                col.delete(matching)

    def clear(self) -> None:
        """Delete every node (the collection and its settings stay)."""
        col = self._existing()
        if col is not None:
            col.delete(filter={})

    # -- reads ----------------------------------------------------------------------------
    def get_nodes(self, node_ids: Optional[List[str]] = None,
                  filters: Optional[MetadataFilters] = None) -> List[BaseNode]:
        """Nodes by id (in that order, missing ones left out), or those matching
        filters (in id order), or both; every node when given neither."""
        col = self._existing()
        if col is None:
            return []
        where = to_vecstore_filter(filters)
        if node_ids is not None:
            return [metadata_dict_to_node(p) for _, p in self._get_matching(col, node_ids, where)]
        return [metadata_dict_to_node(p) for p in self._scroll(col, where)]

    def _get_matching(self, col: Any, node_ids: Sequence[str], where: dict | None) -> list[tuple[Any, dict]]:
        """(id, payload) of the existing ids, in request order, that match `where`
        (evaluated here with vecstore's own filter semantics)."""
        if not node_ids:
            return []
        points = col.get(list(node_ids), with_vectors=False)
        test = compile_filter(where)
        return [(i, p) for i, p in zip(points.ids, points.payloads) if test is None or test.matches(p)]

    def _scroll(self, col: Any, where: dict | None) -> Iterable[dict]:
        after = None
        while True:
            page = col.scroll(_SCROLL_PAGE, after=after, filter=where)
            yield from page.points.payloads
            if page.next_cursor is None:
                return
            after = page.next_cursor

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """DEFAULT (dense), SPARSE (query_str's sparse vector alone), HYBRID (both,
        fused) or MMR (dense hits re-ranked for diversity), with query.filters,
        doc_ids and node_ids (when not empty) as filters."""
        mode = VectorStoreQueryMode(query.mode)
        if mode not in _MODES:
            raise NotImplementedError(
                f"VecstoreVectorStore: query mode {mode.value!r} is not supported; "
                f"use one of {[m.value for m in _MODES]}"
            )
        col = self._existing()
        if col is None:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        # empty doc_ids / node_ids mean no restriction: VectorStoreIndex.as_retriever passes
        # node_ids=[] for stores that keep the text, like this one
        where = _all_of(
            to_vecstore_filter(query.filters),
            {REF_DOC_ID_KEY: {"$in": list(query.doc_ids)}} if query.doc_ids else None,
            {NODE_ID_KEY: {"$in": list(query.node_ids)}} if query.node_ids else None,
        )
        k = min(query.similarity_top_k, _MAX_K)
        if mode == VectorStoreQueryMode.MMR:
            return self._mmr(col, query, k, where, kwargs)
        if mode == VectorStoreQueryMode.DEFAULT:
            hits = col.search(self._dense(query), k, filter=where, with_payloads=True)
            return self._result(hits, dense=True)
        sparse = self._sparse_query(query)
        if mode == VectorStoreQueryMode.SPARSE:
            if sparse is None:  # no term of the query can match anything
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
            hits = col.search(None, min(query.sparse_top_k or k, _MAX_K), filter=where, sparse_query=sparse,
                              with_payloads=True)
            return self._result(hits, dense=False)
        k = min(query.hybrid_top_k or k, _MAX_K)
        if sparse is None:  # nothing to fuse: the dense hits alone
            return self._result(col.search(self._dense(query), k, filter=where, with_payloads=True), dense=True)
        fusion = {"fusion": self.hybrid_fusion}
        if query.alpha is not None:
            fusion = {"fusion": "weighted", "dense_weight": float(query.alpha)}
        hits = col.search(self._dense(query), k, filter=where, sparse_query=sparse, with_payloads=True, **fusion)
        return self._result(hits, dense=False)

    def _dense(self, query: VectorStoreQuery) -> np.ndarray:
        if query.query_embedding is None:
            raise ValueError(f"{VectorStoreQueryMode(query.mode).value} mode needs query.query_embedding")
        return np.asarray(query.query_embedding, np.float32)

    def _sparse_query(self, query: VectorStoreQuery) -> tuple[np.ndarray, np.ndarray] | None:
        if not self._has_sparse:
            raise ValueError(
                f"collection {self.collection_name!r} has no sparse vectors; SPARSE and HYBRID modes need a "
                "collection created with sparse_vectors (the store creates its own that way)"
            )
        if query.query_str is None:
            raise ValueError(f"{VectorStoreQueryMode(query.mode).value} mode needs query.query_str")
        return self._sparse(self._sparse_query_fn, query.query_str)

    def _similarity(self, score: float, dense: bool) -> float:
        if dense and self._collection.metric == "l2":
            return 1.0 / (1.0 + float(score))
        return float(score)

    def _result(self, hits: Any, dense: bool) -> VectorStoreQueryResult:
        nodes, sims, ids = [], [], []
        for hit_id, score, payload in zip(hits.ids[0], hits.scores[0], hits.payloads[0]):
            if hit_id is None or payload is None:  # padding
                continue
            nodes.append(metadata_dict_to_node(payload))
            sims.append(self._similarity(score, dense))
            ids.append(str(hit_id))
        return VectorStoreQueryResult(nodes=nodes, similarities=sims, ids=ids)

    def _mmr(self, col: Any, query: VectorStoreQuery, k: int, where: dict | None,
             kwargs: dict) -> VectorStoreQueryResult:
        prefetch = kwargs.get("mmr_prefetch_k") or math.ceil(k * kwargs.get("mmr_prefetch_factor",
                                                                             self.mmr_prefetch_factor))
        q = self._dense(query)
        hits = col.search(q, min(max(prefetch, k), _MAX_K), filter=where, with_payloads=True, with_vectors=True)
        found = [(str(i), p, v) for i, p, v in zip(hits.ids[0], hits.payloads[0], hits.vectors[0])
                 if i is not None and p is not None]
        if not found:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        threshold = kwargs.get("mmr_threshold", query.mmr_threshold)
        scores, order = get_top_k_mmr_embeddings(
            q.tolist(), [v.tolist() for _, _, v in found], similarity_top_k=k,
            embedding_ids=list(range(len(found))), mmr_threshold=threshold,
        )
        chosen = [found[i] for i in order]
        return VectorStoreQueryResult(nodes=[metadata_dict_to_node(p) for _, p, _ in chosen],
                                      similarities=[float(s) for s in scores], ids=[i for i, _, _ in chosen])
