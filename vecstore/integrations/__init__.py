"""Adapters that let other frameworks use vecstore as their vector store.

Each lives in its own subpackage and imports its framework only there, so
`import vecstore` never loads one (tests/test_layers.py checks):

    from vecstore.integrations.langchain import VecstoreVectorStore  # pip install 'vecstore[langchain]'
"""
