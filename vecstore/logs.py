"""Log output of the `vecstore serve` daemon: text lines or one JSON object per line.

    text:  2024-05-01 12:00:00,123 vecstore.requests DEBUG rpc=Points/Search collection=docs status=OK ...
    json:  {"time": "2024-05-01T12:00:00.123+00:00", "level": "DEBUG", "logger": "vecstore.requests",
            "message": "rpc=Points/Search ...", "rpc": "Points/Search", "collection": "docs", ...}

In JSON the fields of a request line (`record.vecstore`) are top-level keys,
so log shippers need no parsing. Request lines are DEBUG; `requests=True`
turns them on without turning on DEBUG for everything else.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

LOG_FORMATS = ("text", "json")
REQUEST_LOGGER = "vecstore.requests"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in (getattr(record, "vecstore", None) or {}).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(fmt: str = "text", *, requests: bool = False, stream: TextIO = sys.stderr) -> None:
    """Root logging at INFO to `stream` in `fmt`; request lines too when `requests`."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {list(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.DEBUG if requests else logging.NOTSET)
