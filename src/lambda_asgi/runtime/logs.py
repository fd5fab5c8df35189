"""The runtime's log records, formatted and delivered as AWS's Python runtime does it.

Text lines on stdout, ``[LEVEL]\\t<time>Z\\t<request id>\\t<message>``, at the level
``AWS_LAMBDA_LOG_LEVEL`` names.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping

__all__ = ["LOCAL_EXECUTION_ENV", "set_request_id", "setup_logging"]

#: ``AWS_EXECUTION_ENV`` of a runtime that ``lambda-asgi serve`` or ``invoke --runtime`` runs
#: locally: its log goes to a console, not to CloudWatch.
LOCAL_EXECUTION_ENV = "lambda-asgi-local"


class _RequestIdFilter(logging.Filter):
    """Adds ``aws_request_id`` to log records, as the managed runtime's log format has."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


_request_filter = _RequestIdFilter()


def set_request_id(request_id: str) -> None:
    """Mark the records logged from now on with ``request_id`` (the current invocation's)."""
    _request_filter.request_id = request_id


class _OneEventFormatter(logging.Formatter):
    """Writes each record on one line, its line breaks as ``\r``.

    CloudWatch makes a log event of every line the runtime writes to stdout, so a traceback
    would be split into one event per line; it shows a ``\r`` as a line break inside one
    event. AWS's runtime writes error reports the same way.
    """

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\r")


def setup_logging(environ: Mapping[str, str]) -> None:
    """Log lines like the managed runtime's: level, time, request id, message; unbuffered.

    A record is one line (one CloudWatch event, its line breaks written as ``\r``), except in
    a local run (:data:`LOCAL_EXECUTION_ENV`), whose console shows the breaks as they are.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    local = environ.get("AWS_EXECUTION_ENV") == LOCAL_EXECUTION_ENV
    formatter = logging.Formatter if local else _OneEventFormatter
    handler.setFormatter(
        formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(_request_filter)
    root.addHandler(handler)
    level = environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    root.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
