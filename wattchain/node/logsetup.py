"""Structured logging for the daemon: one record per line, to DATADIR/debug.log and stderr.

``text``: ``2026-11-23T12:00:00Z INFO wattchain.node.daemon UpdateTip height=12 ...``;
``json``: one JSON object per line with time, level, logger, message and any ``extra`` fields
(``log.info("UpdateTip", extra={"fields": {...}})``), for log shippers. Configured on the
process's root logger by the daemon only; library code never configures logging.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

LOG_FILENAME = "debug.log"


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        extra = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{stamp} {record.levelname} {record.name} {record.getMessage()}"
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": round(record.created, 3), "level": record.levelname.lower(),
            "logger": record.name, "message": record.getMessage()}
        payload.update(_fields(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def setup_logging(datadir: str | Path, level: str = "info", fmt: str = "text",
                  console: bool = True) -> list[logging.Handler]:
    """Install the handlers on the root logger; returns them so the caller can remove them."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handlers: list[logging.Handler] = [logging.FileHandler(Path(datadir) / LOG_FILENAME)]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper()))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handlers


def remove_logging(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
