"""LangChain's VectorStore on a vecstore collection (README "LangChain").

    store = VecstoreVectorStore(embedding=emb, database=vecstore.open("data"), collection_name="docs")

Needs langchain-core: `pip install 'vecstore[langchain]'`.
"""
try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("vecstore.integrations.langchain needs langchain-core: "
                      "pip install 'vecstore[langchain]'") from exc

from .documents import PAYLOAD_METADATA, PAYLOAD_TEXT, metadata_filter
from .store import VecstoreVectorStore

__all__ = ["VecstoreVectorStore", "metadata_filter", "PAYLOAD_TEXT", "PAYLOAD_METADATA"]
