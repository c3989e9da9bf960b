"""vecstore as a LangChain VectorStore: LangChain's own standard suite (sync and
async) embedded, over gRPC and over the async client, then what the suite does
not cover: scores, relevance, MMR, filters, retrievers, construction."""
import uuid
import warnings

import numpy as np
import pytest

pytest.importorskip("langchain_core", reason="the LangChain integration needs langchain-core "
                                             "(pip install 'vecstore[langchain]' or '.[test]')")
pytest.importorskip("langchain_tests", reason="LangChain's standard suite needs langchain-tests (in the test extra)")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings  # noqa: E402
from langchain_tests.integration_tests import VectorStoreIntegrationTests  # noqa: E402

import vecstore  # noqa: E402
from vecstore.integrations.langchain import VecstoreVectorStore, metadata_filter  # noqa: E402

from conftest import serving  # noqa: E402


# -- LangChain's standard suite ----------------------------------------------------------
class TestStandardSuite(VectorStoreIntegrationTests):
    """Sync tests, and async ones through LangChain's thread executor, on the
    embedded engine and on the sync gRPC client (conftest's two-mode `db`)."""

    @pytest.fixture()
    def vectorstore(self, db):
        yield VecstoreVectorStore(embedding=self.get_embeddings(), database=db, collection_name="standard")


class TestStandardSuiteAsyncClient(VectorStoreIntegrationTests):
    """The async tests on `vecstore.connect_async`, natively async end to end.
    (Its blocking methods refuse an async client, so the sync half does not apply.)"""

    @property
    def has_sync(self) -> bool:
        return False

    @pytest.fixture()
    async def vectorstore(self, tmp_path):
        with serving(tmp_path / "served") as address:
            db = vecstore.connect_async(address)
            try:
                yield VecstoreVectorStore(embedding=self.get_embeddings(), database=db, collection_name="standard")
            finally:
                await db.close()


# -- our own ---------------------------------------------------------------------------
class Table(Embeddings):
    """Embeddings looked up in a table, so scores can be computed by hand."""

    def __init__(self, table):
        self.table = {text: [float(x) for x in vector] for text, vector in table.items()}

    def embed_documents(self, texts):
        return [self.table[text] for text in texts]

    def embed_query(self, text):
        return self.table[text]


PLANE = Table({"east": [1, 0, 0], "north": [0, 1, 0], "up": [0, 0, 1], "north-east": [1, 1, 0],
               "q": [1, 0.2, 0.1]})


def store(db, embedding=PLANE, **options):
    return VecstoreVectorStore(embedding=embedding, database=db, collection_name="docs", **options)


def test_collection_created_on_first_add_with_the_embedding_dim(db):
    s = store(db, embedding=DeterministicFakeEmbedding(size=11), collection_options={"quantization": "none"})
    assert s.similarity_search("anything") == []  # no collection yet: nothing found, nothing created
    assert s.get_by_ids(["x"]) == []
    assert s.delete(["x"]) is True
    assert s.add_texts([]) == []
    assert "docs" not in db.list_collections()
    ids = s.add_texts(["a", "b"])
    collection = db.get_collection("docs")
    assert (collection.dim, collection.metric, collection.config.id_type) == (11, "cosine", "str")
    assert collection.config.quantization.kind == "none"
    assert all(isinstance(i, str) and uuid.UUID(i) for i in ids)
    assert collection.count() == 2


def test_existing_collection_keeps_its_metric(db):
    db.create_collection("docs", dim=3, metric="l2", id_type="str")
    s = store(db, metric="dot")  # the collection's own metric wins
    s.add_texts(["east"])
    assert s.metric == "l2"
    assert s.similarity_search_with_score("east", k=1)[0][1] == pytest.approx(0.0, abs=1e-6)


def test_an_integer_id_collection_is_refused(db):
    db.create_collection("docs", dim=3)
    with pytest.raises(vecstore.errors.InvalidConfigError, match="string ids"):
        store(db).add_texts(["east"])


def test_similarity_search_with_score(db):
    s = store(db, collection_options={"quantization": "none"})
    texts = ["east", "north", "up", "north-east"]
    ids = s.add_texts(texts, [{"n": i} for i in range(4)], ids=["e", "n", "u", "ne"])
    assert ids == ["e", "n", "u", "ne"]
    found = s.similarity_search_with_score("q", k=3)
    q = np.array(PLANE.table["q"])
    expected = sorted(((float(q @ v / np.linalg.norm(q) / np.linalg.norm(v)), t) for t, v in
                       ((t, np.array(PLANE.table[t])) for t in texts)), reverse=True)[:3]
    assert [doc.page_content for doc, _ in found] == [t for _, t in expected]
    assert [score for _, score in found] == pytest.approx([score for score, _ in expected], abs=1e-6)
    doc = found[0][0]
    assert doc == Document(page_content="east", metadata={"n": 0}, id="e")
    # the same through the vector entry point
    by_vector = s.similarity_search_by_vector(PLANE.table["q"], k=3)
    assert by_vector == [doc for doc, _ in found]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_relevance_scores_are_in_0_1_and_keep_the_order(db, metric):
    s = store(db, embedding=DeterministicFakeEmbedding(size=8), metric=metric)
    texts = [f"text {i}" for i in range(30)]
    s.add_texts(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LangChain warns when a relevance score leaves [0, 1]
        found = s.similarity_search_with_relevance_scores("text 3", k=30)
    relevance = [r for _, r in found]
    assert len(found) == 30 and all(0.0 <= r <= 1.0 for r in relevance)
    assert relevance == sorted(relevance, reverse=True)
    assert found[0][0].page_content == "text 3"
    if metric != "dot":  # the query itself: similarity 1 / distance 0
        assert relevance[0] == pytest.approx(1.0, abs=1e-5)
    raw = [score for _, score in s.similarity_search_with_score("text 3", k=30)]
    assert relevance == pytest.approx([s._select_relevance_score_fn()(x) for x in raw])
    # the threshold keeps only the relevant ones
    kept = s.similarity_search_with_relevance_scores("text 3", k=30, score_threshold=relevance[5])
    assert [d.id for d, _ in kept] == [d.id for d, _ in found[:len(kept)]] and 6 <= len(kept) < 30


def test_relevance_functions():
    s = VecstoreVectorStore(PLANE, database=None)
    for metric, pairs in {"cosine": [(1, 1), (-1, 0), (0, 0.5), (1.0000001, 1)],
                          "dot": [(1, 1), (-1, 0), (0, 0.5), (7.5, 1), (-3, 0)],
                          "l2": [(0, 1), (1, 0.5), (3, 0.25), (float("inf"), 0)]}.items():
        s.metric = metric
        fn = s._select_relevance_score_fn()
        assert [fn(x) for x, _ in pairs] == pytest.approx([y for _, y in pairs]), metric
    custom = VecstoreVectorStore(PLANE, database=None, relevance_score_fn=lambda x: 0.25)
    assert custom._select_relevance_score_fn()(3) == 0.25


# nearest q first: a (cos .995), a2 (.976), a3 (.948), b (.832); a2 and a3 lie close to a, b does not
MMR = Table({"a": [1, 0.1, 0], "a2": [1, 0, 0.1], "a3": [1, 0.05, 0.3], "b": [0.7, 0.7, 0], "q": [1, 0.2, 0]})


def test_max_marginal_relevance_prefers_diversity(db):
    s = store(db, embedding=MMR)
    s.add_texts(["a", "a2", "a3", "b"], [{"group": g} for g in ("x", "x", "y", "y")], ids=["a", "a2", "a3", "b"])
    assert [d.id for d in s.similarity_search("q", k=2)] == ["a", "a2"]
    picked = s.max_marginal_relevance_search("q", k=2, fetch_k=4, lambda_mult=0.3)
    assert [d.id for d in picked] == ["a", "b"]  # b is farther from q but unlike a
    assert picked[1] == Document(page_content="b", metadata={"group": "y"}, id="b")
    # lambda_mult=1 is plain relevance; fetch_k bounds the candidates; filter applies first
    assert [d.id for d in s.max_marginal_relevance_search("q", k=2, fetch_k=4, lambda_mult=1)] == ["a", "a2"]
    assert [d.id for d in s.max_marginal_relevance_search("q", k=2, fetch_k=2, lambda_mult=0.3)] == ["a", "a2"]
    assert [d.id for d in s.max_marginal_relevance_search("q", k=3, filter={"group": "y"})] == ["a3", "b"]
    by_vector = s.max_marginal_relevance_search_by_vector(MMR.table["q"], k=2, fetch_k=4, lambda_mult=0.3)
    assert by_vector == picked


def test_mmr_on_a_missing_collection_is_empty(db):
    assert store(db, embedding=MMR).max_marginal_relevance_search("q") == []


def test_metadata_filter_moves_field_keys_under_metadata():
    f = {"source": "a", "year": {"$gte": 2020, "$not": {"$eq": 2021}},
         "$or": [{"tags": "x"}, {"$not": {"author.name": "bo"}}], "$and": [{"n": {"$in": [1, 2]}}]}
    assert metadata_filter(f) == {"metadata.source": "a", "metadata.year": {"$gte": 2020, "$not": {"$eq": 2021}},
                                  "$or": [{"metadata.tags": "x"}, {"$not": {"metadata.author.name": "bo"}}],
                                  "$and": [{"metadata.n": {"$in": [1, 2]}}]}
    assert metadata_filter(None) is None and metadata_filter({}) == {}
    with pytest.raises(vecstore.errors.InvalidFilterError):
        metadata_filter(["source", "a"])


def test_filters_in_vecstore_language(db):
    s = store(db, embedding=DeterministicFakeEmbedding(size=8))
    metadata = [{"source": f"s{i % 3}", "year": 2018 + i, "author": {"name": ["ann", "bo"][i % 2]},
                 "tags": ["odd" if i % 2 else "even", "all"]} for i in range(10)]
    ids = s.add_texts([f"doc {i}" for i in range(10)], metadata)

    def found(filter, k=10):
        return sorted(int(d.page_content.split()[1]) for d in s.similarity_search("doc 4", k=k, filter=filter))

    assert found({"source": "s1"}) == [1, 4, 7]
    assert found({"year": {"$gte": 2024}}) == [6, 7, 8, 9]
    assert found({"source": {"$in": ["s0", "s2"]}, "year": {"$lt": 2023}}) == [0, 2, 3]
    assert found({"$or": [{"source": "s0"}, {"author.name": "bo"}]}) == [0, 1, 3, 5, 6, 7, 9]
    assert found({"$not": {"tags": "odd"}}) == [0, 2, 4, 6, 8]
    nearest = s.similarity_search("doc 4", k=3, filter={"tags": "all"})
    assert len(nearest) == 3 and nearest[0].page_content == "doc 4"
    assert found({"source": "nowhere"}) == []
    scored = s.similarity_search_with_score("doc 4", k=10, filter={"year": 2020})
    assert [d.metadata["year"] for d, _ in scored] == [2020]
    with pytest.raises(vecstore.errors.InvalidFilterError):
        s.similarity_search("doc 4", filter={"year": {"$gtx": 1}})
    # delete by filter, then by ids, then everything
    s.delete(filter={"author.name": "ann"})
    assert found({}) == [1, 3, 5, 7, 9]
    s.delete([ids[1], ids[3]])
    assert found({}) == [5, 7, 9]
    with pytest.raises(ValueError, match="not both"):
        s.delete([ids[5]], filter={"year": 2023})
    s.delete()
    assert found({}) == [] and db.get_collection("docs").count() == 0


def test_as_retriever(db):
    s = store(db, embedding=MMR)
    s.add_texts(["a", "a2", "a3", "b"], [{"group": g} for g in ("x", "x", "y", "y")], ids=["a", "a2", "a3", "b"])
    assert [d.id for d in s.as_retriever(search_kwargs={"k": 2}).invoke("q")] == ["a", "a2"]
    filtered = s.as_retriever(search_kwargs={"k": 2, "filter": {"group": "y"}})
    assert [d.id for d in filtered.invoke("q")] == ["a3", "b"]
    mmr = s.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.3})
    assert [d.id for d in mmr.invoke("q")] == ["a", "b"]
    threshold = s.as_retriever(search_type="similarity_score_threshold",
                               search_kwargs={"k": 4, "score_threshold": 0.98})
    assert [d.id for d in threshold.invoke("q")] == ["a", "a2"]  # relevance .998 and .988; a3 has .974


async def test_as_retriever_async_through_the_thread_executor(db):
    s = store(db, embedding=MMR)
    await s.aadd_texts(["a", "a2", "a3", "b"], ids=["a", "a2", "a3", "b"])
    mmr = s.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.3})
    assert [d.id for d in await mmr.ainvoke("q")] == ["a", "b"]


def test_from_texts_and_from_documents(db):
    s = VecstoreVectorStore.from_texts(["east", "north"], PLANE, [{"k": 1}, {"k": 2}], ids=["1", "2"],
                                       database=db, collection_name="made", metric="dot")
    assert db.get_collection("made").metric == "dot"
    assert s.get_by_ids(["2", "missing", "1"]) == [Document(page_content="north", metadata={"k": 2}, id="2"),
                                                   Document(page_content="east", metadata={"k": 1}, id="1")]
    t = VecstoreVectorStore.from_documents([Document(page_content="up", id="u")], PLANE, database=db,
                                           collection_name="made")
    assert [d.id for d in t.similarity_search("up", k=3)] == ["u", "1", "2"]
    with pytest.raises(ValueError, match="database="):
        VecstoreVectorStore.from_texts(["east"], PLANE)


class Counting(DeterministicFakeEmbedding):
    calls: list = []

    def embed_documents(self, texts):
        self.calls.append(len(texts))
        return super().embed_documents(texts)


def test_batches_and_delete_collection(db):
    embedding = Counting(size=4)
    s = store(db, embedding=embedding)
    ids = s.add_texts([f"t{i}" for i in range(7)], batch_size=3)
    assert embedding.calls == [3, 3, 1] and db.get_collection("docs").count() == 7
    assert [d.page_content for d in s.get_by_ids(ids)] == [f"t{i}" for i in range(7)]
    with pytest.raises(ValueError, match="batch_size"):
        s.add_texts(["x"], batch_size=0)
    s.delete_collection()
    assert "docs" not in db.list_collections() and s.similarity_search("t1") == []
    s.delete_collection()  # nothing to drop: no error
    s.add_texts(["again"])
    assert db.get_collection("docs").count() == 1


def test_langchain_indexing_api(db):
    from langchain_core.indexing import InMemoryRecordManager, index

    s = store(db, embedding=DeterministicFakeEmbedding(size=4))
    records = InMemoryRecordManager("vecstore/docs")
    records.create_schema()
    docs = [Document(page_content=f"page {i}", metadata={"source": f"f{i % 2}"}) for i in range(4)]
    assert index(docs, records, s, cleanup="full", source_id_key="source", key_encoder="sha256")["num_added"] == 4
    assert index(docs[:3], records, s, cleanup="full", source_id_key="source", key_encoder="sha256") == {
        "num_added": 0, "num_updated": 0, "num_skipped": 3, "num_deleted": 1}
    assert sorted(d.page_content for d in s.similarity_search("page 1", k=10)) == ["page 0", "page 1", "page 2"]


def test_metadata_is_copied_and_kept_exactly(db):
    s = store(db)
    metadata = {"n": 1, "f": 0.5, "ok": True, "none": None, "tags": ["a", "b"], "nested": {"x": {"y": 2}}}
    [i] = s.add_texts(["east"], [metadata])
    metadata["n"] = 99
    [doc] = s.get_by_ids([i])
    assert doc.metadata == {"n": 1, "f": 0.5, "ok": True, "none": None, "tags": ["a", "b"], "nested": {"x": {"y": 2}}}
    assert type(doc.metadata["n"]) is int


def test_points_written_by_other_code_still_read_back(db):
    collection = db.create_collection("docs", dim=3, id_type="str")
    collection.upsert(["raw", "bare"], np.eye(3, dtype=np.float32)[:2], [{"title": "t"}, None])
    docs = store(db).get_by_ids(["raw", "bare"])
    assert docs == [Document(page_content="", metadata={"title": "t"}, id="raw"),
                    Document(page_content="", metadata={}, id="bare")]


# -- the async client, beyond the standard suite ------------------------------------------
@pytest.fixture()
async def async_db(tmp_path):
    with serving(tmp_path / "served") as address:
        db = vecstore.connect_async(address)
        try:
            yield db
        finally:
            await db.close()


async def test_async_client_search_mmr_filters_and_relevance(async_db):
    s = await VecstoreVectorStore.afrom_texts(["a", "a2", "a3", "b"], MMR, [{"group": g} for g in "xxyy"],
                                              ids=["a", "a2", "a3", "b"], database=async_db, collection_name="d")
    assert [d.id for d in await s.asimilarity_search("q", k=2)] == ["a", "a2"]
    assert [d.id for d in await s.asimilarity_search("q", k=4, filter={"group": "y"})] == ["a3", "b"]
    picked = await s.amax_marginal_relevance_search("q", k=2, fetch_k=4, lambda_mult=0.3)
    assert [d.id for d in picked] == ["a", "b"]
    scored = await s.asimilarity_search_with_relevance_scores("q", k=4)
    assert all(0 <= r <= 1 for _, r in scored) and [d.id for d, _ in scored][:1] == ["a"]
    retriever = s.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.3})
    assert [d.id for d in await retriever.ainvoke("q")] == ["a", "b"]
    await s.adelete(filter={"group": "x"})
    assert [d.id for d in await s.aget_by_ids(["a", "b"])] == ["b"]
    await s.adelete()
    assert await s.asimilarity_search("q") == []


async def test_blocking_methods_refuse_an_async_client(async_db):
    s = store(async_db)
    for call in (lambda: s.add_texts(["east"]), lambda: s.similarity_search("q"), lambda: s.get_by_ids(["x"]),
                 lambda: s.delete(["x"]), lambda: s.max_marginal_relevance_search("q")):
        with pytest.raises(TypeError, match="async client"):
            call()


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## LangChain\n", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md#langchain", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "1.000 binary codes stay in RAM"
    assert lines[-1].startswith("['search']")


def test_embedded_use_does_not_load_grpc():
    from test_layers import modules_after

    mods = modules_after("import vecstore, vecstore.integrations.langchain; vecstore.open")
    assert "langchain_core.vectorstores" in mods
    assert not {m for m in mods if m == "grpc" or m.startswith("grpc.") or m.startswith("vecstore.rpc")}
