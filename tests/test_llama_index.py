"""vecstore.integrations.llama_index: VecstoreVectorStore under LlamaIndex,
embedded and over gRPC (the `db` fixture), with a deterministic fake embedding
(no network, no LLM)."""
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llama_index.core", reason="the llama-index extra (pip install 'vecstore[llama-index]') is not installed")

from llama_index.core import Document, StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from vecstore.integrations.llama_index import VecstoreVectorStore, hashed_term_frequencies  # noqa: E402

DIM = 32


def bag_of_words(text: str) -> list[float]:
    """Words hashed into DIM buckets, normalised: texts sharing words are close."""
    v = np.full(DIM, 1e-3)
    for word in text.lower().split():
        v[zlib.crc32(word.strip(".,?!").encode()) % DIM] += 1.0
    return (v / np.linalg.norm(v)).tolist()


class FakeEmbedding(BaseEmbedding):
    def _get_query_embedding(self, query: str) -> list[float]:
        return bag_of_words(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return bag_of_words(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return bag_of_words(text)


def make_store(db, **kwargs):
    kwargs.setdefault("collection_kwargs", {"quantization": "none"})  # exact scores: rankings are certain
    return VecstoreVectorStore(db, "nodes", **kwargs)


def unit(v):
    v = np.asarray(v, np.float64)
    return (v / np.linalg.norm(v)).tolist()


# -- end to end through VectorStoreIndex ------------------------------------------------------
DOCS = [
    Document(text="The cat sat on the warm mat in the kitchen.", doc_id="doc-cat", metadata={"animal": "cat"}),
    Document(text="A dog chased the red ball across the park.", doc_id="doc-dog", metadata={"animal": "dog"}),
    Document(text="Bees make honey from flower nectar all summer.", doc_id="doc-bee", metadata={"animal": "bee"}),
]


@pytest.fixture
def index(db):
    store = make_store(db)
    ctx = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex.from_documents(DOCS, storage_context=ctx, embed_model=FakeEmbedding())


def test_index_retriever_finds_the_matching_document(index):
    hits = index.as_retriever(similarity_top_k=1).retrieve("where did the cat sit")
    assert [h.node.ref_doc_id for h in hits] == ["doc-cat"]
    assert "warm mat" in hits[0].node.get_content()
    assert hits[0].node.metadata["animal"] == "cat"
    assert hits[0].score == pytest.approx(np.dot(bag_of_words("where did the cat sit"),
                                                 bag_of_words(hits[0].node.get_content(metadata_mode="embed"))),
                                          abs=1e-4)


def test_index_query_engine_with_mock_llm(index):
    response = index.as_query_engine(llm=MockLLM(), similarity_top_k=2).query("honey from bees")
    assert response.source_nodes[0].node.ref_doc_id == "doc-bee"
    assert len(response.source_nodes) == 2


def test_index_retriever_filters_and_delete_ref_doc(index):
    only_dogs = MetadataFilters(filters=[MetadataFilter(key="animal", value="dog")])
    hits = index.as_retriever(similarity_top_k=3, filters=only_dogs).retrieve("the cat sat on the mat")
    assert [h.node.ref_doc_id for h in hits] == ["doc-dog"]
    index.delete_ref_doc("doc-cat")
    hits = index.as_retriever(similarity_top_k=3).retrieve("the cat sat on the mat")
    assert sorted(h.node.ref_doc_id for h in hits) == ["doc-bee", "doc-dog"]


def test_index_insert_then_retrieve_modes(index):
    index.insert(Document(text="Zebras graze on the savanna grass.", doc_id="doc-zebra"))
    for mode in ("default", "sparse", "hybrid", "mmr"):
        hits = index.as_retriever(similarity_top_k=1, vector_store_query_mode=mode).retrieve("zebras savanna")
        assert [h.node.ref_doc_id for h in hits] == ["doc-zebra"], mode


# -- node storage ---------------------------------------------------------------------------
def node(node_id, embedding, text="", ref_doc_id=None, **metadata):
    rel = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=ref_doc_id)} if ref_doc_id else {}
    return TextNode(id_=node_id, text=text or f"text of {node_id}", embedding=embedding, metadata=metadata,
                    relationships=rel)


def test_add_returns_ids_and_nodes_round_trip(db):
    store = make_store(db)
    n = node("n-1", unit([1, 2, 3] + [0] * (DIM - 3)), text="hello there", ref_doc_id="d-1", lang="en", tags=["a", "b"])
    assert store.add([n]) == ["n-1"]
    (back,) = store.get_nodes(["n-1"])
    assert back.node_id == "n-1" and back.get_content() == "hello there"
    assert back.metadata == {"lang": "en", "tags": ["a", "b"]}
    assert back.ref_doc_id == "d-1"
    assert store.collection.count() == 1
    assert store.collection.config.sparse_vectors is not None  # created for SPARSE / HYBRID


def test_add_rejects_nodes_without_embedding(db):
    with pytest.raises(ValueError, match="no embedding"):
        make_store(db).add([TextNode(id_="x", text="t")])


def test_add_replaces_a_node_with_the_same_id(db):
    store = make_store(db)
    store.add([node("n", unit([1] * DIM), text="first")])
    store.add([node("n", unit([1] * DIM), text="second")])
    assert [n.get_content() for n in store.get_nodes(["n"])] == ["second"]
    assert store.collection.count() == 1


def test_store_on_an_existing_collection_and_reopened_path(tmp_path):
    path = tmp_path / "db"
    store = VecstoreVectorStore(str(path), "nodes")
    store.add([node("a", unit([1] * DIM)), node("b", unit([1, -1] * (DIM // 2)))])
    store.close()
    again = VecstoreVectorStore(path, "nodes")
    assert sorted(n.node_id for n in again.get_nodes()) == ["a", "b"]
    again.close()


def test_int_id_collection_is_refused_with_a_hint(db):
    db.create_collection("ints", dim=DIM)
    with pytest.raises(ValueError, match="id_type='str'"):
        VecstoreVectorStore(db, "ints")


def test_empty_store_reads_nothing(db):
    store = make_store(db)
    assert store.collection is None
    assert store.get_nodes() == []
    result = store.query(VectorStoreQuery(query_embedding=[1.0] * DIM, similarity_top_k=3))
    assert result.nodes == [] and result.ids == []
    store.delete("nothing")
    store.clear()


def test_batches_of_nodes(db):
    store = make_store(db, batch_size=7)
    rng = np.random.default_rng(5)
    nodes = [node(f"n{i:03d}", unit(rng.normal(size=DIM))) for i in range(50)]
    assert store.add(nodes) == [n.node_id for n in nodes]
    assert store.collection.count() == 50
    assert [n.node_id for n in store.get_nodes()] == sorted(n.node_id for n in nodes)


# -- deletes --------------------------------------------------------------------------------
@pytest.fixture
def docs_store(db):
    store = make_store(db)
    rng = np.random.default_rng(7)
    store.add([node(f"{d}-{i}", unit(rng.normal(size=DIM)), ref_doc_id=d, part=i)
               for d in ("alpha", "beta", "gamma") for i in range(3)])
    return store


def ids_of(nodes):
    return sorted(n.node_id for n in nodes)


def test_delete_ref_doc_removes_only_that_documents_nodes(docs_store):
    docs_store.delete("beta")
    assert ids_of(docs_store.get_nodes()) == ["alpha-0", "alpha-1", "alpha-2", "gamma-0", "gamma-1", "gamma-2"]
    docs_store.delete("no-such-doc")
    assert docs_store.collection.count() == 6


def test_get_nodes_by_ids_filters_and_both(docs_store):
    got = docs_store.get_nodes(["gamma-1", "missing", "alpha-0"])
    assert [n.node_id for n in got] == ["gamma-1", "alpha-0"]  # request order, missing left out
    part0 = MetadataFilters(filters=[MetadataFilter(key="part", value=0)])
    assert ids_of(docs_store.get_nodes(filters=part0)) == ["alpha-0", "beta-0", "gamma-0"]
    assert ids_of(docs_store.get_nodes(["alpha-0", "alpha-1"], filters=part0)) == ["alpha-0"]
    assert docs_store.get_nodes([]) == []


def test_delete_nodes_by_ids_filters_and_both(docs_store):
    docs_store.delete_nodes(["alpha-0", "missing"])
    assert "alpha-0" not in ids_of(docs_store.get_nodes())
    docs_store.delete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="part", value=2)]))
    assert ids_of(docs_store.get_nodes()) == ["alpha-1", "beta-0", "beta-1", "gamma-0", "gamma-1"]
    docs_store.delete_nodes(["beta-0", "beta-1"], filters=MetadataFilters(filters=[MetadataFilter(key="part", value=1)]))
    assert ids_of(docs_store.get_nodes()) == ["alpha-1", "beta-0", "gamma-0", "gamma-1"]
    with pytest.raises(ValueError, match="clear"):
        docs_store.delete_nodes()


def test_clear_keeps_the_collection_usable(docs_store):
    docs_store.clear()
    assert docs_store.get_nodes() == [] and docs_store.collection.count() == 0
    docs_store.add([node("new", unit([1] * DIM), ref_doc_id="d")])
    assert ids_of(docs_store.get_nodes()) == ["new"]


# -- filters --------------------------------------------------------------------------------
ROWS = {
    "p0": {"year": 2019, "lang": "en", "tags": ["news", "tech"], "rating": 3.5},
    "p1": {"year": 2020, "lang": "de", "tags": ["tech"], "rating": 4.0},
    "p2": {"year": 2021, "lang": "en", "tags": ["sport"], "rating": 2.5},
    "p3": {"year": 2022, "lang": "fr", "tags": ["news", "sport", "tech"], "rating": 5.0},
    "p4": {"year": 2023, "lang": "en", "tags": [], "rating": 1.0},
    "p5": {"year": 2024, "lang": "it"},  # no tags, no rating
}


@pytest.fixture
def rows_store(db):
    store = make_store(db)
    rng = np.random.default_rng(11)
    store.add([node(i, unit(rng.normal(size=DIM)), ref_doc_id=f"doc-{i}", **m) for i, m in ROWS.items()])
    return store


def where(predicate):
    return sorted(i for i, m in ROWS.items() if predicate(m))


F = MetadataFilter
CASES = [
    (F(key="lang", value="en"), lambda m: m["lang"] == "en"),
    (F(key="lang", value="en", operator="!="), lambda m: m["lang"] != "en"),
    (F(key="year", value=2021, operator=">"), lambda m: m["year"] > 2021),
    (F(key="year", value=2021, operator=">="), lambda m: m["year"] >= 2021),
    (F(key="year", value=2021, operator="<"), lambda m: m["year"] < 2021),
    (F(key="rating", value=3.5, operator="<="), lambda m: "rating" in m and m["rating"] <= 3.5),
    (F(key="lang", value=["de", "fr"], operator="in"), lambda m: m["lang"] in ("de", "fr")),
    (F(key="year", value=[2019, 2024], operator="nin"), lambda m: m["year"] not in (2019, 2024)),
    (F(key="tags", value=["sport", "nope"], operator="any"), lambda m: bool({"sport", "nope"} & set(m.get("tags", [])))),
    (F(key="tags", value=["news", "tech"], operator="all"), lambda m: {"news", "tech"} <= set(m.get("tags", []))),
    (F(key="tags", value="tech", operator="contains"), lambda m: "tech" in m.get("tags", [])),
    (F(key="rating", value=4.0, operator="!="), lambda m: m.get("rating") != 4.0),  # p5 lacks it: != holds
]


@pytest.mark.parametrize("flt,predicate", CASES, ids=[c[0].operator.value for c in CASES])
def test_each_filter_operator(rows_store, flt, predicate):
    expected = where(predicate)
    assert expected and expected != sorted(ROWS)  # each case selects a proper subset
    filters = MetadataFilters(filters=[flt])
    result = rows_store.query(VectorStoreQuery(query_embedding=[1.0] * DIM, similarity_top_k=10, filters=filters))
    assert sorted(result.ids) == expected
    assert ids_of(rows_store.get_nodes(filters=filters)) == expected


def test_and_or_not_and_nesting(rows_store):
    en, recent = F(key="lang", value="en"), F(key="year", value=2021, operator=">=")
    cases = [
        (MetadataFilters(filters=[en, recent]), lambda m: m["lang"] == "en" and m["year"] >= 2021),
        (MetadataFilters(filters=[en, recent], condition="or"), lambda m: m["lang"] == "en" or m["year"] >= 2021),
        (MetadataFilters(filters=[en, recent], condition=FilterCondition.NOT),
         lambda m: not (m["lang"] == "en" or m["year"] >= 2021)),
        (MetadataFilters(filters=[F(key="tags", value=["tech"], operator="any"),
                                  MetadataFilters(filters=[en, F(key="rating", value=2.0, operator=">")],
                                                  condition="or")]),
         lambda m: "tech" in m.get("tags", []) and (m["lang"] == "en" or m.get("rating", 0) > 2.0)),
    ]
    for filters, predicate in cases:
        expected = where(predicate)
        result = rows_store.query(VectorStoreQuery(query_embedding=[1.0] * DIM, similarity_top_k=10, filters=filters))
        assert sorted(result.ids) == expected, filters
        assert ids_of(rows_store.get_nodes(filters=filters)) == expected, filters


@pytest.mark.parametrize("op", [FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE,
                                FilterOperator.IS_EMPTY])
def test_inexpressible_operators_raise(rows_store, op):
    filters = MetadataFilters(filters=[F(key="lang", value="e", operator=op)])
    with pytest.raises(NotImplementedError, match=op.value):
        rows_store.query(VectorStoreQuery(query_embedding=[1.0] * DIM, similarity_top_k=3, filters=filters))


def test_query_doc_ids_and_node_ids(rows_store):
    q = [1.0] * DIM
    result = rows_store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=10, doc_ids=["doc-p1", "doc-p3"]))
    assert sorted(result.ids) == ["p1", "p3"]
    result = rows_store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=10, node_ids=["p0", "p4", "p5"],
                                               filters=MetadataFilters(filters=[F(key="lang", value="en")])))
    assert sorted(result.ids) == ["p0", "p4"]


# -- query modes ----------------------------------------------------------------------------
def axis(i, j=None, w=0.0):
    v = np.zeros(DIM)
    v[i] = 1.0
    if j is not None:
        v[j] = w
    return unit(v)


@pytest.fixture
def modes_store(db):
    store = make_store(db)
    store.add([
        node("near", axis(0), text="plain words here"),
        node("twin", axis(0, 1, 0.05), text="plain words again"),
        node("other", axis(0, 2, 0.6), text="other words"),
        node("rare", axis(3), text="xylophone quartet"),
    ])
    return store


def query(mode, embedding=None, text=None, k=2, **kw):
    return VectorStoreQuery(query_embedding=embedding, query_str=text, similarity_top_k=k, mode=mode, **kw)


def test_default_mode_is_exact_dense_ranking(modes_store):
    result = modes_store.query(query(VectorStoreQueryMode.DEFAULT, axis(0), k=3))
    assert result.ids == ["near", "twin", "other"]
    expected = [float(np.dot(axis(0), e)) for e in (axis(0), axis(0, 1, 0.05), axis(0, 2, 0.6))]
    assert result.similarities == pytest.approx(expected, abs=1e-5)
    assert [n.node_id for n in result.nodes] == result.ids


def test_sparse_mode_matches_terms(modes_store):
    result = modes_store.query(query(VectorStoreQueryMode.SPARSE, text="a xylophone", k=3))
    assert result.ids == ["rare"]  # the only node sharing a term
    assert result.similarities == pytest.approx([1.0])  # 1 + ln(1) times the query's weight 1
    assert modes_store.query(query(VectorStoreQueryMode.SPARSE, text="unheard", k=3)).ids == []
    assert modes_store.query(query(VectorStoreQueryMode.SPARSE, text="...", k=3)).ids == []  # no terms at all


def test_hybrid_mode_fuses_dense_and_sparse(modes_store):
    dense_only = modes_store.query(query(VectorStoreQueryMode.DEFAULT, axis(0), k=2))
    assert "rare" not in dense_only.ids
    fused = modes_store.query(query(VectorStoreQueryMode.HYBRID, axis(0), text="xylophone", k=2))
    # RRF: "rare" is first on the sparse side and last (4th) on the dense side, so it beats "near"
    assert fused.ids == ["rare", "near"]
    all_sparse = modes_store.query(query(VectorStoreQueryMode.HYBRID, axis(0), text="xylophone", k=1, alpha=0.0))
    assert all_sparse.ids == ["rare"]
    all_dense = modes_store.query(query(VectorStoreQueryMode.HYBRID, axis(0), text="xylophone", k=1, alpha=1.0))
    assert all_dense.ids == ["near"]
    no_terms = modes_store.query(query(VectorStoreQueryMode.HYBRID, axis(0), text="?", k=2))
    assert no_terms.ids == ["near", "twin"]
    with pytest.raises(ValueError, match="query_str"):
        modes_store.query(query(VectorStoreQueryMode.HYBRID, axis(0), k=2))


def test_mmr_mode_trades_relevance_for_diversity(modes_store):
    q = axis(0, 2, 0.1)  # nearest "near", then "twin" (cosine 0.999 to "near"), then "other" (0.86 to "near")
    assert modes_store.query(query(VectorStoreQueryMode.DEFAULT, q, k=3)).ids == ["near", "twin", "other"]
    plain = modes_store.query(query(VectorStoreQueryMode.MMR, q, k=2, mmr_threshold=1.0))
    assert plain.ids == ["near", "twin"]  # threshold 1: relevance alone
    diverse = modes_store.query(query(VectorStoreQueryMode.MMR, q, k=2, mmr_threshold=0.5))
    assert diverse.ids == ["near", "other"]  # the twin is too like the first pick
    assert [n.node_id for n in diverse.nodes] == diverse.ids


def test_unsupported_mode_is_refused(modes_store):
    with pytest.raises(NotImplementedError, match="svm"):
        modes_store.query(query(VectorStoreQueryMode.SVM, axis(0)))


def test_custom_sparse_embedding_fn(db):
    vocab = {"apple": 1, "pear": 2, "plum": 3}

    def sparse(text):
        return {vocab[w]: 1.0 for w in text.split() if w in vocab}

    store = make_store(db, sparse_embedding_fn=sparse)
    store.add([node("a", axis(0), text="apple pear"), node("b", axis(1), text="plum")])
    assert store.query(query(VectorStoreQueryMode.SPARSE, text="plum", k=2)).ids == ["b"]
    result = store.query(query(VectorStoreQueryMode.SPARSE, text="apple pear plum", k=2))
    assert result.ids == ["a", "b"] and result.similarities == pytest.approx([2.0, 1.0])


def test_l2_similarities_are_higher_for_closer(db):
    store = make_store(db, metric="l2")
    store.add([node("a", [0.0] * DIM), node("b", [3.0] + [0.0] * (DIM - 1))])
    result = store.query(query(VectorStoreQueryMode.DEFAULT, [1.0] + [0.0] * (DIM - 1), k=2))
    assert result.ids == ["a", "b"]
    assert result.similarities == pytest.approx([1 / 2, 1 / 3])


def test_hashed_term_frequencies():
    tf = hashed_term_frequencies("The cat, the CAT and the dog", vocab_size=1 << 20)
    assert sorted(tf.values()) == pytest.approx(sorted([1 + np.log(3), 1 + np.log(2), 1.0, 1.0]))
    assert all(0 <= t < 1 << 20 for t in tf)
    assert hashed_term_frequencies("...") == {}


def test_store_is_a_llama_index_vector_store(db):
    from llama_index.core.vector_stores.types import BasePydanticVectorStore

    store = make_store(db)
    assert isinstance(store, BasePydanticVectorStore)
    assert store.stores_text and store.client is db
    assert VecstoreVectorStore.class_name() == "VecstoreVectorStore"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## LlamaIndex\n", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md#LlamaIndex", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.splitlines() == [
        "cat The cat sat on the warm mat.", "['dog']", "sparse bee", "hybrid bee", "mmr bee", "['bee', 'cat']",
    ]
