"""The client's plan of a hybrid search (RemoteCollection.search with a
sparse_query, or sparse retrieval alone): the engine's checks first, then
one Search call per part of the batch that fits a message. Shared by the
blocking and the asyncio client, like every plan of client.py."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..api import validate as V
from ..api.fusion import check_fusion
from ..api.sparse_vectors import check_sparse_query
from ..errors import InvalidQueryError
from . import client as _c
from . import convert as C
from .v1 import vecstore_pb2 as pb

if TYPE_CHECKING:
    from .client import RemoteCollection


def search_plan(col: "RemoteCollection", queries: Any, k: int, *, filter: dict | None, oversampling: Any,
                rescore: Any, nprobe: Any, sparse_queries: Any, margin: Any, sparse_query: Any, fusion: Any,
                rrf_k: Any, dense_weight: Any, with_payloads: bool, with_vectors: bool,
                timeout: float | None) -> Any:
    fusion, rrf_k, dense_weight = check_fusion(fusion, rrf_k, dense_weight)
    k = V.check_k(k)
    q = None
    if queries is not None:
        q = V.check_vectors(queries, col.dim, what="query", collection=col.name)
        V.check_norms(q, col.config.metric, what="query")
    if sparse_query is None:
        raise InvalidQueryError("search needs queries, a sparse_query, or both")
    q_rows = check_sparse_query(sparse_query, None if q is None else len(q), col.config)
    oversampling = V.check_oversampling_arg(oversampling)
    rescore = V.check_rescore_arg(rescore)
    nprobe = V.check_nprobe_arg(nprobe, col.config.ivf, col.name)
    margin = V.check_margin_arg(margin, col.config)
    if nprobe is not None:
        nprobe = min(nprobe, _c._UINT32_MAX)
    u_rows = None
    if q is not None:
        u_rows = V.check_user_sparse(sparse_queries, len(q), col.config, what="sparse_queries")
    elif sparse_queries is not None:
        raise InvalidQueryError("sparse_queries go with dense queries: sparse retrieval alone takes only sparse_query")
    flt = _c._filter_to_proto(filter)
    with_payloads, with_vectors = bool(with_payloads), bool(with_vectors)
    per_query = col._answer_bytes(k, with_payloads, with_vectors) + 16 + _c._sparse_row_bytes(q_rows)
    if q is not None:
        per_query = per_query + 4 * col.dim
    if u_rows is not None:
        per_query = per_query + _c._sparse_row_bytes(u_rows)

    def request(lo: int, hi: int) -> pb.SearchRequest:
        return pb.SearchRequest(
            collection=col._ref, k=k, filter=flt, oversampling=oversampling, rescore=rescore, nprobe=nprobe,
            margin=margin, sparse_query=C.sparse_to_proto(_c._rows_part(q_rows, lo, hi)), fusion=fusion,
            rrf_k=rrf_k, dense_weight=dense_weight,
            queries=None if q is None else C.vectors_to_proto(q[lo:hi]),
            sparse_queries=C.sparse_to_proto(_c._rows_part(u_rows, lo, hi)),
            with_payloads=with_payloads, with_vectors=with_vectors,
        )

    sizes = np.broadcast_to(np.asarray(per_query, np.int64), (len(q_rows),))
    return (yield from col._searches("Search", sizes, flt, request, k, with_payloads, with_vectors, timeout))
