"""The server's log: readable text by default, or one JSON object a line
(LOG_FORMAT=json), for uvicorn's lines, the migrations' and Agora's own.

A request's line (`request_done`) holds its id, method, route template,
status, duration, account and client address: never its path or query, which may carry a
mailed link's token, and never a header or a body.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import MutableMapping
from typing import Any

REQUESTS = logging.getLogger("webapp.request")
# Where a request's scope keeps the account it was made by, once its login is read.
ACCOUNT_KEY = "agora.account_id"
# A record's own attributes, and uvicorn's coloured copy of its message: not
# fields of the line.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"color_message"}


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message,
    the request's fields when the line has them, and a traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in line and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def request_done(
    request_id: str,
    method: str,
    route: str,
    status: int,
    seconds: float,
    account_id: int | None,
    client: str,
) -> None:
    """`client`: the address the limits count (a trusted proxy's client)."""
    duration_ms = round(seconds * 1000, 2)
    REQUESTS.info(
        "%s %s %d %.1f ms id=%s account=%s client=%s",
        method,
        route,
        status,
        duration_ms,
        request_id,
        "-" if account_id is None else account_id,
        client or "-",
        extra={
            "client": client,
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "account_id": account_id,
        },
    )


def note_account(scope: MutableMapping[str, Any], account_id: int) -> None:
    """The request's line names this account."""
    scope[ACCOUNT_KEY] = account_id


class SocketAccessLines(logging.Filter):
    """Drops uvicorn's lines for each socket's handshake, opening and closing,
    keeps everything else (errors included)."""

    HANDSHAKE = '%s - "WebSocket %s"'
    OPEN_AND_CLOSE = frozenset({"connection open", "connection closed"})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not isinstance(record.msg, str):
            return True
        return not (record.msg.startswith(self.HANDSHAKE) or record.msg in self.OPEN_AND_CLOSE)


def log_config(log_format: str, *, request_lines: bool) -> dict[str, Any]:
    """uvicorn's logging, extended to every logger (Agora's and Alembic's
    through the root), in the format asked for. uvicorn's own access log is
    off: Agora writes each request's line (when `request_lines`), with its id
    and route template in place of the path. Without request lines, uvicorn's
    lines for each socket's handshake, opening and closing go too (every page
    opens a socket, so they would be most of the log)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if log_format == "json":
        for formatter in config["formatters"].values():
            formatter.clear()
            formatter["()"] = "webapp.core.logs.JsonLines"
    config["handlers"]["default"]["formatter"] = "default"
    config.setdefault("filters", {})["request_id"] = {"()": "webapp.core.request_ids.OnEveryLine"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("request_id")
    config["root"] = {"handlers": ["default"], "level": "INFO"}
    # The root's handler writes them: without this they would be written twice.
    config["loggers"]["uvicorn"]["propagate"] = False
    config["loggers"]["webapp"] = {"level": "INFO"}
    # Alembic says which plugins it set up before every migration.
    config["loggers"]["alembic.runtime.plugins"] = {"level": "WARNING"}
    if not request_lines:
        config.setdefault("filters", {})["socket_access"] = {
            "()": "webapp.core.logs.SocketAccessLines"
        }
        config["handlers"]["default"].setdefault("filters", []).append("socket_access")
        config["loggers"]["webapp.request"] = {"level": "WARNING"}
    return config
