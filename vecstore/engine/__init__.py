"""The storage engine: LMDB truth, RAM codes, search. Never imports the wire layer."""
from .collection import Collection
from .database import Database, open

__all__ = ["Collection", "Database", "open"]
