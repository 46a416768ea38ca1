"""Structured logs: one JSON object per line, for the server's own events and uvicorn's."""

from __future__ import annotations

import json
import logging
import logging.config
import os
from datetime import UTC, datetime
from typing import Any

LOGGER = logging.getLogger("aiinfra.serving")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_event(message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    LOGGER.log(level, message, extra={"fields": fields})


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        LOGGER.name: {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "py.warnings": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
"""uvicorn's `log_config`: its logs, ours, Python's warnings and any library's warnings (asyncio, fsspec) as
JSON on stderr (its access log is off: ours has more)."""


def log_as_json() -> None:
    """From now on, every line the server writes is JSON: also warnings raised while importing torch (say, the
    image has no NumPy), which come before uvicorn applies LOG_CONFIG. gRPC's C core (gcsfs reaches GCS's
    control API through it) writes to stderr past Python's logging: it is kept to errors unless GRPC_VERBOSITY
    says otherwise. Call before anything imports grpc."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    logging.config.dictConfig(LOG_CONFIG)
    logging.captureWarnings(True)
