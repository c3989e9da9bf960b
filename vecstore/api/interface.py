"""The public interface, as abstract base classes: what both `vecstore.open`
(the embedded engine) and `vecstore.connect` (the gRPC client) return.

The engine's Database/Collection and the client's Client/RemoteCollection
subclass these; tests/test_grpc_congruence.py checks both match them (same
signatures, nothing public missing). A router in front of many engines
implements the same two classes. The client adds a keyword-only `timeout` to
each call; the asyncio client (rpc/aio_client.py) offers the same methods as
coroutines and is not a subclass.
"""
from __future__ import annotations

import abc
import os
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from ..config import CollectionConfig
    from ..types import CollectionInfo, Points, ScrollPage, SearchResult


class NamedByConfig:
    """name, dim and metric, read from the `config` a collection handle pins."""

    config: CollectionConfig

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self.config.dim

    @property
    def metric(self) -> str:
        """"cosine", "dot" or "l2"."""
        return self.config.metric

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.config.name


class Collection(NamedByConfig, abc.ABC):
    """A named set of vectors (with optional payloads and sparse parts) of one dimension and metric."""

    @abc.abstractmethod
    def count(self, *, filter: dict | None = None) -> int:
        """Points in the collection (as LMDB counts them), or those matching `filter`."""

    @abc.abstractmethod
    def create_payload_index(self, key: str, kind: str) -> None:
        """Index a payload key in RAM ("keyword", "integer" or "float") so
        filters on it are decided without reading payloads. Declaring it again
        with another kind replaces it. Kept across reopen.
        """

    @abc.abstractmethod
    def delete(self, ids: Any = None, *, filter: dict | None = None) -> int:
        """Delete points by id, or every point matching `filter`; ids that do
        not exist are ignored. Returns how many went.
        """

    @abc.abstractmethod
    def delete_payload_keys(self, ids: Any, keys: Sequence[str]) -> int:
        """Remove keys (dotted keys reach nested fields) from each point's payload."""

    @abc.abstractmethod
    def drop_payload_index(self, key: str) -> bool:
        """Forget a payload index; returns whether there was one."""

    @abc.abstractmethod
    def get(self, ids: Any, *, with_vectors: bool = True, with_payloads: bool = True) -> Points:
        """Stored vectors and payloads of the ids that exist, in request order.

        Vectors come back as float32: byte-exact for float32 collections,
        upcast from the stored float16 rows otherwise (`Points.stored_dtype`).
        """

    @abc.abstractmethod
    def info(self) -> CollectionInfo:
        """Size, disk use, training and index state of the collection."""

    @abc.abstractmethod
    def optimize(self) -> None:
        """Learn the codec (and IVF centroids) again from the current vectors and
        re-encode all of them. Searches and writes go on meanwhile; the new
        codes replace the old ones in one step at the end.
        """

    @abc.abstractmethod
    def overwrite_payload(self, ids: Any, payload: dict | None) -> int:
        """Replace each point's payload (None removes it); vectors are untouched."""

    @abc.abstractmethod
    def payload_indexes(self) -> dict[str, str]:
        """Declared payload indexes: key -> kind."""

    @abc.abstractmethod
    def scroll(self, limit: int = 100, *, after: int | str | None = None, filter: dict | None = None,
               with_vectors: bool = False, with_payloads: bool = True) -> ScrollPage:
        """Up to `limit` points in id order, those with ids above `after`,
        optionally only those matching `filter`. Pass the page's `next_cursor`
        as `after` to get the next page; it is None after the last page.
        str ids (id_type="str") come in UTF-8 byte order, and `after` is a str.
        """

    @abc.abstractmethod
    def search(self, queries: Any, k: int = 10, *, filter: dict | None = None, oversampling: float | None = None,
               rescore: bool | None = None, nprobe: int | None = None, sparse_queries: Any = None,
               margin: float | None = None, sparse_query: Any = None, fusion: str = "rrf", rrf_k: float = 60,
               dense_weight: float = 0.5, with_payloads: bool = False, with_vectors: bool = False) -> SearchResult:
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
        vectors (`SearchResult.payloads` / `.vectors`, see SearchResult).
        """

    @abc.abstractmethod
    def search_by_id(self, ids: Any, k: int = 10, *, filter: dict | None = None, oversampling: float | None = None,
                     rescore: bool | None = None, nprobe: int | None = None, margin: float | None = None,
                     with_payloads: bool = False, with_vectors: bool = False) -> SearchResult:
        """Top-k per stored point ("more like these"): each point's stored vector
        (and, with user sparse codes, its stored code) is the query, and the point
        itself is left out of its own hits. Result shape (len(ids), k); other
        arguments as in `search`. An unknown id raises PointNotFoundError.
        """

    @abc.abstractmethod
    def set_payload(self, ids: Any, payload: dict) -> int:
        """Merge payload's top-level keys into each point's payload; vectors are
        untouched. Unknown ids are ignored; returns how many points changed.
        """

    @abc.abstractmethod
    def upsert(self, ids: Any, vectors: Any, payloads: Sequence[dict | None] | None = None, *,
               sparse: Any = None, sparse_vectors: Any = None) -> int:
        """Insert or replace points; returns once the batch is durable.

        A replaced point takes the new vector and the new payload (None clears
        it). `sparse`: one sparse code per point, required by (and only
        accepted by) collections with SparseQuantization(user_codes=True).
        `sparse_vectors`: for collections created with sparse_vectors, one
        user sparse vector (or None) per point, for hybrid search.
        Returns the number of points written.
        """


class Database(abc.ABC):
    """A set of collections, embedded (`vecstore.open`) or on a server (`vecstore.connect`)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Wait for running operations, then close. Idempotent."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """Whether close() has run."""

    @abc.abstractmethod
    def create_collection(self, name: str, *, dim: int, metric: str = "cosine", quantization: Any = "binary",
                          vector_dtype: str = "float32", ivf: Any = None, vectors_in_ram: bool = False,
                          sparse_vectors: Any = None, id_type: str = "int", shards: int = 1,
                          replicas: int = 1) -> Collection:
        """Create a collection. quantization: a kind name ("none", "binary",
        "sparse") or a config object such as `BinaryQuantization(oversampling=8)`.
        vector_dtype: how vectors are kept on disk, "float32" or "float16".
        ivf: None, or an IVFConfig (or dict) to partition the codes.
        vectors_in_ram: also keep the vectors in RAM and rerank from there
        (dim * 2 or 4 more bytes of RAM per vector, no disk reads per search).
        sparse_vectors: True (or a SparseVectorsConfig / dict) to give points a
        user sparse vector beside the dense one, for hybrid search.
        id_type: "int" (non-negative int64 ids) or "str" (UTF-8 ids of 1 to
        256 bytes, UUIDs included); every call then takes and returns that type.
        shards / replicas: split the points by id into this many shards, each
        kept by this many replicas; only a cluster (`vecstore.cluster`, or a
        server started with `vecstore serve --ray`) takes more than 1.
        """

    @abc.abstractmethod
    def drop_collection(self, name: str) -> None:
        """Delete a collection and all its points."""

    @abc.abstractmethod
    def get_collection(self, name: str) -> Collection:
        """An existing collection; NotFoundError if there is none by that name."""

    @abc.abstractmethod
    def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""

    @abc.abstractmethod
    def snapshot(self, dest: str | os.PathLike) -> str:
        """Write a consistent copy of the whole database into directory `dest`
        (created; must not exist or be empty) while writes go on. The copy is
        one LMDB read transaction, compacted; open it with `vecstore.open`.
        """
