"""VecstoreVectorStore: LangChain's VectorStore over one vecstore collection.

The database is any of vecstore's three surfaces: `vecstore.open(path)` and
`vecstore.connect(target)` serve the sync methods (LangChain runs the async
ones in a thread for them), `vecstore.connect_async(target)` serves the async
methods natively (and only those: a blocking call cannot wait on the event
loop it runs in). The collection is created on the first add, with string ids
and the embedding's dimension; the payload layout and filters are in
documents.py.
"""
from __future__ import annotations

import inspect
import uuid
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from ...errors import AlreadyExistsError, InvalidConfigError, NotFoundError
from .documents import RELEVANCE, document_of, hits, metadata_filter, payload_of

DEFAULT_COLLECTION = "langchain"
DEFAULT_BATCH = 1000  # texts embedded and upserted per call


def _batches(n: int, batch_size: int) -> range:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return range(0, n, batch_size)


class VecstoreVectorStore(VectorStore):
    """LangChain documents in a vecstore collection.

    embedding: the Embeddings model (documents and queries).
    database: `vecstore.open(...)`, `vecstore.connect(...)` or `vecstore.connect_async(...)`.
    collection_name: the collection; made on the first add if missing, with
        `metric` and `collection_options` (other `create_collection` arguments,
        e.g. {"quantization": "none"}). An existing one keeps its own metric.
    relevance_score_fn: maps a search score to [0, 1]; the default depends on the metric
        (cosine and dot: (1 + s) / 2, clamped; l2: 1 / (1 + distance)).
    """

    def __init__(self, embedding: Embeddings, database: Any, collection_name: str = DEFAULT_COLLECTION, *,
                 metric: str = "cosine", collection_options: dict[str, Any] | None = None,
                 relevance_score_fn: Callable[[float], float] | None = None) -> None:
        self.embedding = embedding
        self.database = database
        self.collection_name = collection_name
        self.metric = metric
        self.collection_options = dict(collection_options or {})
        self.override_relevance_score_fn = relevance_score_fn
        self.is_async = inspect.iscoroutinefunction(getattr(database, "get_collection", None))
        self._collection: Any = None

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    # -- the collection ------------------------------------------------------------------
    def delete_collection(self) -> None:
        """Drop the collection (if any); the next add creates it again."""
        self._sync_only("delete_collection")
        try:
            self.database.drop_collection(self.collection_name)
        except NotFoundError:
            pass
        self._collection = None

    async def adelete_collection(self) -> None:
        """delete_collection; natively async on the async client."""
        if not self.is_async:
            return await self._in_thread(self.delete_collection)
        try:
            await self.database.drop_collection(self.collection_name)
        except NotFoundError:
            pass
        self._collection = None

    def _sync_only(self, method: str) -> None:
        if self.is_async:
            raise TypeError(f"VecstoreVectorStore.{method} is blocking, but the database is an async client "
                            f"(vecstore.connect_async): use a{method} instead")

    def _adopt(self, collection: Any) -> Any:
        if collection.config.id_type != "str":
            raise InvalidConfigError(f"collection {self.collection_name!r} has {collection.config.id_type} ids; "
                                     "LangChain needs string ids (create it with id_type='str', or let the "
                                     "store create it)")
        self._collection = collection
        self.metric = collection.metric
        return collection

    def _create_options(self, dim: int) -> dict[str, Any]:
        return {"metric": self.metric, **self.collection_options, "dim": dim, "id_type": "str"}

    def get_collection(self, *, create_dim: int | None = None) -> Any:
        """The collection's handle, or None if it does not exist yet; with
        `create_dim`, created with that dimension when missing."""
        self._sync_only("get_collection")
        if self._collection is None:
            try:
                self._adopt(self.database.get_collection(self.collection_name))
            except NotFoundError:
                if create_dim is None:
                    return None
                try:
                    self._adopt(self.database.create_collection(self.collection_name,
                                                                **self._create_options(create_dim)))
                except AlreadyExistsError:  # another writer made it first
                    self._adopt(self.database.get_collection(self.collection_name))
        return self._collection

    async def aget_collection(self, *, create_dim: int | None = None) -> Any:
        """get_collection as a coroutine (in a thread for a blocking database)."""
        if not self.is_async:
            return await self._in_thread(self.get_collection, create_dim=create_dim)
        if self._collection is None:
            try:
                self._adopt(await self.database.get_collection(self.collection_name))
            except NotFoundError:
                if create_dim is None:
                    return None
                try:
                    self._adopt(await self.database.create_collection(self.collection_name,
                                                                      **self._create_options(create_dim)))
                except AlreadyExistsError:
                    self._adopt(await self.database.get_collection(self.collection_name))
        return self._collection

    # -- writing -------------------------------------------------------------------------
    @staticmethod
    def _points(texts: list[str], metadatas: list[dict] | None, ids: Sequence[str | None] | None) -> tuple:
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValueError(f"got {len(metadatas)} metadatas for {len(texts)} texts")
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"got {len(ids)} ids for {len(texts)} texts")
        # documents without an id (add_documents passes None for those) get a fresh UUID
        ids = [str(uuid.uuid4()) if i is None else str(i) for i in (ids or [None] * len(texts))]
        payloads = [payload_of(text, (metadatas or [None] * len(texts))[n]) for n, text in enumerate(texts)]
        return ids, payloads

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                  ids: Sequence[str | None] | None = None, batch_size: int = DEFAULT_BATCH,
                  **kwargs: Any) -> list[str]:
        """Embed and upsert, batch_size texts at a time (each batch durable when
        it returns); returns the ids (given ones, fresh UUIDs for the rest). An
        id already stored is replaced: text, metadata and vector."""
        self._sync_only("add_texts")
        texts = list(texts)
        ids, payloads = self._points(texts, metadatas, ids)
        for start in _batches(len(texts), batch_size):
            part = slice(start, start + batch_size)
            vectors = np.asarray(self.embedding.embed_documents(texts[part]), dtype=np.float32)
            self.get_collection(create_dim=vectors.shape[1]).upsert(ids[part], vectors, payloads[part], **kwargs)
        return ids

    async def aadd_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                         ids: Sequence[str | None] | None = None, batch_size: int = DEFAULT_BATCH,
                         **kwargs: Any) -> list[str]:
        if not self.is_async:
            return await super().aadd_texts(texts, metadatas, ids=ids, batch_size=batch_size, **kwargs)
        texts = list(texts)
        ids, payloads = self._points(texts, metadatas, ids)
        for start in _batches(len(texts), batch_size):
            part = slice(start, start + batch_size)
            vectors = np.asarray(await self.embedding.aembed_documents(texts[part]), dtype=np.float32)
            collection = await self.aget_collection(create_dim=vectors.shape[1])
            await collection.upsert(ids[part], vectors, payloads[part], **kwargs)
        return ids

    def delete(self, ids: list[str] | None = None, *, filter: dict | None = None, **kwargs: Any) -> bool:
        """Delete these ids (missing ones are ignored), or the documents whose
        metadata matches `filter`, or with neither, every document."""
        self._sync_only("delete")
        collection = self.get_collection()
        if collection is not None:
            ids, filter = self._delete_selector(ids, filter)
            collection.delete(ids, filter=filter, **kwargs)
        return True

    async def adelete(self, ids: list[str] | None = None, *, filter: dict | None = None,
                      **kwargs: Any) -> bool:
        if not self.is_async:
            return await super().adelete(ids, filter=filter, **kwargs)
        collection = await self.aget_collection()
        if collection is not None:
            ids, filter = self._delete_selector(ids, filter)
            await collection.delete(ids, filter=filter, **kwargs)
        return True

    @staticmethod
    def _delete_selector(ids: list[str] | None, filter: dict | None) -> tuple[Any, dict | None]:
        if ids is not None and filter is not None:
            raise ValueError("delete takes ids or filter, not both")
        if ids is not None:
            return [str(i) for i in ids], None
        return None, metadata_filter(filter) if filter is not None else {}

    # -- reading -------------------------------------------------------------------------
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents among `ids`, in request order (missing ones left out)."""
        self._sync_only("get_by_ids")
        collection = self.get_collection()
        if collection is None or not ids:
            return []
        return self._documents(collection.get([str(i) for i in ids], with_vectors=False))

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        if not self.is_async:
            return await super().aget_by_ids(ids)
        collection = await self.aget_collection()
        if collection is None or not ids:
            return []
        return self._documents(await collection.get([str(i) for i in ids], with_vectors=False))

    @staticmethod
    def _documents(points: Any) -> list[Document]:
        return [document_of(str(i), payload) for i, payload in zip(points.ids, points.payloads)]

    # -- similarity search ---------------------------------------------------------------
    def similarity_search_with_score_by_vector(self, embedding: Sequence[float], k: int = 4,
                                               filter: dict | None = None,
                                               **kwargs: Any) -> list[tuple[Document, float]]:
        """(document, score) best first; the score is vecstore's: a similarity for
        cosine and dot (higher is closer), the Euclidean distance for l2 (lower is)."""
        self._sync_only("similarity_search_with_score_by_vector")
        collection = self.get_collection()
        if collection is None:
            return []
        result = collection.search(self._query(embedding), k=k, **self._search_options(filter, kwargs))
        return self._scored(result)

    async def asimilarity_search_with_score_by_vector(self, embedding: Sequence[float], k: int = 4,
                                                      filter: dict | None = None,
                                                      **kwargs: Any) -> list[tuple[Document, float]]:
        if not self.is_async:
            return await self._in_thread(self.similarity_search_with_score_by_vector, embedding, k, filter,
                                         **kwargs)
        collection = await self.aget_collection()
        if collection is None:
            return []
        result = await collection.search(self._query(embedding), k=k, **self._search_options(filter, kwargs))
        return self._scored(result)

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """similarity_search_with_score_by_vector on the query's embedding."""
        self._sync_only("similarity_search_with_score")
        return self.similarity_search_with_score_by_vector(self.embedding.embed_query(query), k, filter,
                                                           **kwargs)

    async def asimilarity_search_with_score(self, query: str, k: int = 4, filter: dict | None = None,
                                            **kwargs: Any) -> list[tuple[Document, float]]:
        if not self.is_async:
            return await self._in_thread(self.similarity_search_with_score, query, k, filter, **kwargs)
        return await self.asimilarity_search_with_score_by_vector(await self.embedding.aembed_query(query), k,
                                                                  filter, **kwargs)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict | None = None,
                                    **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)]

    async def asimilarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict | None = None,
                                           **kwargs: Any) -> list[Document]:
        scored = await self.asimilarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [doc for doc, _ in scored]

    def similarity_search(self, query: str, k: int = 4, filter: dict | None = None,
                          **kwargs: Any) -> list[Document]:
        """The k documents nearest the query; `filter` on metadata (vecstore's filter language)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, filter: dict | None = None,
                                 **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, filter, **kwargs)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self.override_relevance_score_fn is not None:
            return self.override_relevance_score_fn
        try:
            return RELEVANCE[self.metric]
        except KeyError:
            raise ValueError(f"no relevance score function for metric {self.metric!r}") from None

    # -- maximal marginal relevance ------------------------------------------------------
    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: dict | None = None,
                                                **kwargs: Any) -> list[Document]:
        """k documents picked by MMR among the fetch_k nearest (their stored
        vectors come with the search)."""
        self._sync_only("max_marginal_relevance_search_by_vector")
        collection = self.get_collection()
        if collection is None:
            return []
        options = self._search_options(filter, kwargs, with_vectors=True)
        result = collection.search(self._query(embedding), k=max(k, fetch_k), **options)
        return self._mmr(embedding, result, k, lambda_mult)

    async def amax_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4,
                                                       fetch_k: int = 20, lambda_mult: float = 0.5,
                                                       filter: dict | None = None,
                                                       **kwargs: Any) -> list[Document]:
        if not self.is_async:
            return await self._in_thread(self.max_marginal_relevance_search_by_vector, embedding, k, fetch_k,
                                         lambda_mult, filter, **kwargs)
        collection = await self.aget_collection()
        if collection is None:
            return []
        options = self._search_options(filter, kwargs, with_vectors=True)
        result = await collection.search(self._query(embedding), k=max(k, fetch_k), **options)
        return self._mmr(embedding, result, k, lambda_mult)

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: dict | None = None, **kwargs: Any) -> list[Document]:
        self._sync_only("max_marginal_relevance_search")
        return self.max_marginal_relevance_search_by_vector(self.embedding.embed_query(query), k, fetch_k,
                                                            lambda_mult, filter, **kwargs)

    async def amax_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20,
                                             lambda_mult: float = 0.5, filter: dict | None = None,
                                             **kwargs: Any) -> list[Document]:
        if not self.is_async:
            return await self._in_thread(self.max_marginal_relevance_search, query, k, fetch_k, lambda_mult,
                                         filter, **kwargs)
        return await self.amax_marginal_relevance_search_by_vector(await self.embedding.aembed_query(query), k,
                                                                   fetch_k, lambda_mult, filter, **kwargs)

    @staticmethod
    def _mmr(embedding: Sequence[float], result: Any, k: int, lambda_mult: float) -> list[Document]:
        found = list(hits(result))
        if not found:
            return []
        chosen = maximal_marginal_relevance(np.asarray(embedding, dtype=np.float32),
                                            [vector for *_, vector in found], lambda_mult=lambda_mult, k=k)
        return [document_of(found[i][0], found[i][2]) for i in chosen]

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, database: Any = None,
                   collection_name: str = DEFAULT_COLLECTION, **kwargs: Any) -> "VecstoreVectorStore":
        """A store on `database` (required) holding these texts; other keyword
        arguments go to the constructor."""
        store = cls(embedding, cls._required(database), collection_name, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                          ids: list[str] | None = None, database: Any = None,
                          collection_name: str = DEFAULT_COLLECTION, **kwargs: Any) -> "VecstoreVectorStore":
        store = cls(embedding, cls._required(database), collection_name, **kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    @staticmethod
    def _required(database: Any) -> Any:
        if database is None:
            raise ValueError("from_texts needs database= (vecstore.open, vecstore.connect or connect_async)")
        return database

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _query(embedding: Sequence[float]) -> np.ndarray:
        return np.asarray(embedding, dtype=np.float32)

    @staticmethod
    def _search_options(filter: dict | None, kwargs: dict[str, Any], *, with_vectors: bool = False) -> dict:
        # other keywords (oversampling, rescore, nprobe, ...) are vecstore's search options
        return {**kwargs, "filter": metadata_filter(filter), "with_payloads": True, "with_vectors": with_vectors}

    @staticmethod
    def _scored(result: Any) -> list[tuple[Document, float]]:
        return [(document_of(i, payload), score) for i, score, payload, _ in hits(result)]

    @staticmethod
    async def _in_thread(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # what LangChain's own default async methods do for a blocking store
        return await run_in_executor(None, method, *args, **kwargs)
