"""Request ids and the log format: every line logged while serving a request carries its id."""
from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
# A load balancer's or client's id is kept when it is a plain token (uuid, hex, Heroku's…);
# anything else could forge log lines, so it gets a fresh one.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_request_id() -> str:
    """This request's id, chosen on first use; "-" outside a request (CLI, worker threads)."""
    if not has_request_context():
        return "-"
    if "request_id" not in g:
        incoming = request.headers.get(HEADER, "")
        g.request_id = incoming if _SANE_ID.fullmatch(incoming) else secrets.token_hex(8)
    return g.request_id


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record, so any formatter can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def log_handler(log_format: str) -> logging.Handler:
    """A stderr handler in the configured format ("json" or "plain") that knows the request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT))
    return handler


def register(app: Flask) -> None:
    """Log through one root handler in LOG_FORMAT, and answer every request with its id."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "startline", False)]:
        root.removeHandler(old)  # a second app in the same process (tests) replaces the first's
    handler = log_handler(app.config.get("LOG_FORMAT", "plain"))
    handler.startline = True
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    @app.after_request
    def send_request_id(response: Response) -> Response:
        response.headers[HEADER] = current_request_id()
        return response
