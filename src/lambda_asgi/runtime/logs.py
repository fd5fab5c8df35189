"""The runtime's log records, formatted as AWS's Python runtime formats them.

* Format (``AWS_LAMBDA_LOG_FORMAT``): text, ``[LEVEL]\\t<time>Z\\t<request id>\\t<message>``,
  or ``JSON``, one object per record with the keys of AWS's runtime (``timestamp``,
  ``level``, ``message``, ``logger``, the exception's ``stackTrace``, ``errorType``,
  ``errorMessage`` and ``location``, ``requestId``, then the record's ``extra`` fields).
* Destination: stdout, one line per record.
* Level (``AWS_LAMBDA_LOG_LEVEL``): Python's level names, and Lambda's ``TRACE`` as DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

__all__ = ["LOCAL_EXECUTION_ENV", "set_request_id", "setup_logging"]

logger = logging.getLogger("lambda_asgi")

#: ``AWS_EXECUTION_ENV`` of a runtime that ``lambda-asgi serve`` or ``invoke --runtime`` runs
#: locally: its log goes to a console, not to CloudWatch.
LOCAL_EXECUTION_ENV = "lambda-asgi-local"

_TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

# The JSON "level" of each standard level. Lambda reads it to filter by level and knows only
# TRACE, DEBUG, INFO, WARN, ERROR and FATAL; any other value counts as INFO, so a WARN filter
# would drop a "WARNING" record.
_LAMBDA_LEVEL_NAMES = {
    logging.NOTSET: "TRACE",  # a custom level below DEBUG: more verbose than DEBUG
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
}

# What every record has (taskName on 3.12+), what formatters add to it, and our filter's
# field: the rest of a record's attributes came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, None, None, None).__dict__) | {
    "message",
    "asctime",
    "aws_request_id",
}
# The JSON object's own keys: an extra field of the same name does not replace them, as in
# AWS's runtime.
_JSON_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "message",
        "logger",
        "stackTrace",
        "errorType",
        "errorMessage",
        "requestId",
        "location",
    }
)

# allow_nan=False: NaN and Infinity are not JSON, and a line Lambda cannot parse is not
# taken as a JSON record; such a value is written with str() like any other JSON cannot take.
_encode_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str).encode


def _standard_level(levelno: int) -> int:
    """A custom level rounded down to a standard one (25 is INFO), as AWS's runtime does."""
    return min(logging.CRITICAL, max(logging.NOTSET, levelno)) // 10 * 10


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


def _text_formatter(kind: type[logging.Formatter]) -> logging.Formatter:
    formatter = kind(_TEXT_FORMAT, _DATE_FORMAT)
    formatter.converter = time.gmtime
    return formatter


class _JsonFormatter(logging.Formatter):
    """One JSON object per record, with the keys and key order of AWS's runtime.

    Two deliberate differences: ``requestId`` is left out outside an invocation (AWS's
    runtime writes ``""`` there), and a value JSON cannot take is written with ``str()``
    rather than losing the whole record.
    """

    def __init__(self, level_names: Mapping[int, str]) -> None:
        super().__init__()
        self.level_names = level_names

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime(_DATE_FORMAT, time.gmtime(record.created))
        fields: dict[str, Any] = {
            "timestamp": f"{stamp}.{int(record.msecs):03d}Z",
            "level": self.level_names[_standard_level(record.levelno)],
            "message": record.getMessage(),
            "logger": record.name,
        }
        # exc_info=True outside an except block gives (None, None, None): no exception.
        exc_type, exc, tb = record.exc_info or (None, None, None)
        if exc_type is not None:
            fields["stackTrace"] = traceback.format_tb(tb)
            fields["errorType"] = exc_type.__name__
            fields["errorMessage"] = str(exc)
        request_id = getattr(record, "aws_request_id", "")
        if request_id:
            fields["requestId"] = request_id
        if exc_type is not None:
            fields["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in _JSON_KEYS:
                fields[key] = value
        try:
            return _encode_json(fields)
        except (TypeError, ValueError):
            # What default=str cannot save: a circular reference, a dict key that is not a
            # string or a number, NaN. Only the field holding it becomes its str().
            return _encode_json({key: _encodable(value) for key, value in fields.items()})


def _encodable(value: Any) -> Any:
    try:
        _encode_json(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _log_level(environ: Mapping[str, str]) -> int:
    name = environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if name == "TRACE":
        return logging.DEBUG  # Lambda's most verbose level; Python has none below DEBUG
    return logging.getLevelNamesMapping().get(name, logging.INFO)


def setup_logging(environ: Mapping[str, str]) -> None:
    """Send the root logger's records to stdout, formatted as AWS's runtime formats them.

    A record is one line (one CloudWatch event): JSON escapes its line breaks, the text format
    writes them as ``\\r``, except in a local run (:data:`LOCAL_EXECUTION_ENV`), whose
    console shows them as they are. stdout and stderr are made line-buffered, so what the app
    prints is in the log at once.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    if environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        handler.setFormatter(_JsonFormatter(_LAMBDA_LEVEL_NAMES))
    else:
        local = environ.get("AWS_EXECUTION_ENV") == LOCAL_EXECUTION_ENV
        handler.setFormatter(_text_formatter(logging.Formatter if local else _OneEventFormatter))
    handler.addFilter(_request_filter)
    root.addHandler(handler)
    root.setLevel(_log_level(environ))
