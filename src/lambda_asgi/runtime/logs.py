"""The runtime's log records, formatted and delivered as AWS's Python runtime does it.

* Format (``AWS_LAMBDA_LOG_FORMAT``): text, ``[LEVEL]\\t<time>Z\\t<request id>\\t<message>``,
  or ``JSON``, one object per record with the keys of AWS's runtime (``timestamp``,
  ``level``, ``message``, ``logger``, the exception's ``stackTrace``, ``errorType``,
  ``errorMessage`` and ``location``, ``requestId``, then the record's ``extra`` fields).
* Destination: the telemetry file descriptor Lambda passes to the managed runtime in
  ``_LAMBDA_TELEMETRY_LOG_FD``, one frame per record (its type says the format and the
  level), else stdout, one line per record.
* Level (``AWS_LAMBDA_LOG_LEVEL``): Python's level names, and Lambda's ``TRACE`` as DEBUG.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

__all__ = ["LOCAL_EXECUTION_ENV", "TELEMETRY_FD_VARIABLE", "set_request_id", "setup_logging"]

logger = logging.getLogger("lambda_asgi")

#: ``AWS_EXECUTION_ENV`` of a runtime that ``lambda-asgi serve`` or ``invoke --runtime`` runs
#: locally: its log goes to a console, not to CloudWatch.
LOCAL_EXECUTION_ENV = "lambda-asgi-local"

#: The variable in which Lambda passes the telemetry log file descriptor to the runtime.
TELEMETRY_FD_VARIABLE = "_LAMBDA_TELEMETRY_LOG_FD"

_TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Frame types of the telemetry protocol, by standard level: the format and the level of the
# record, which Lambda's log-level filter reads there (not in the message).
_JSON_FRAME_TYPES = {
    logging.NOTSET: 0xA55A0002,
    logging.DEBUG: 0xA55A000A,
    logging.INFO: 0xA55A000E,
    logging.WARNING: 0xA55A0012,
    logging.ERROR: 0xA55A0016,
    logging.CRITICAL: 0xA55A001A,
}
_TEXT_FRAME_TYPES = {
    logging.NOTSET: 0xA55A0003,
    logging.DEBUG: 0xA55A000B,
    logging.INFO: 0xA55A000F,
    logging.WARNING: 0xA55A0013,
    logging.ERROR: 0xA55A0017,
    logging.CRITICAL: 0xA55A001B,
}
# Frame type, message length, timestamp in microseconds since the epoch; big-endian.
_FRAME_HEADER = struct.Struct(">IIQ")

# The JSON "level" of each standard level. In a frame, Lambda takes the level from the frame
# type, and the field keeps Python's names, as AWS's runtime writes them. On stdout (the
# OS-only runtime, a container, a local run) Lambda reads the field itself and knows only
# TRACE, DEBUG, INFO, WARN, ERROR and FATAL; any other value counts as INFO, so a WARN filter
# would drop a "WARNING" record: there the field holds Lambda's names.
_PYTHON_LEVEL_NAMES = {
    logging.NOTSET: "NOTSET",
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
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


class _TelemetryHandler(logging.Handler):
    """Writes each record to the telemetry file descriptor as one frame.

    The frame delimits the record, so its line breaks stay as they are; the message ends with
    ``\\n``, as AWS's runtime writes it.
    """

    def __init__(self, fd: int, frame_types: Mapping[int, int]) -> None:
        super().__init__()
        self.fd = fd
        self.frame_types = frame_types

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # backslashreplace: a lone surrogate (an undecodable file name) must not cost
            # the whole record.
            message = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            header = _FRAME_HEADER.pack(
                self.frame_types[_standard_level(record.levelno)],
                len(message),
                int(record.created * 1_000_000),
            )
            frame = memoryview(header + message)
            while frame:  # a write to a pipe may take part of the frame only
                frame = frame[os.write(self.fd, frame) :]
        except Exception:
            self.handleError(record)


def _writable_fd(value: str) -> int:
    """The file descriptor ``value`` names; ValueError or OSError unless it is open for
    writing."""
    import fcntl  # POSIX only, and needed only where Lambda passes the descriptor

    fd = int(value)
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if not flags & (os.O_WRONLY | os.O_RDWR):
        raise OSError(f"file descriptor {fd} is open for reading only")
    return fd


def _log_level(environ: Mapping[str, str]) -> int:
    name = environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if name == "TRACE":
        return logging.DEBUG  # Lambda's most verbose level; Python has none below DEBUG
    return logging.getLevelNamesMapping().get(name, logging.INFO)


def setup_logging(environ: Mapping[str, str]) -> None:
    """Send the root logger's records where AWS's runtime sends them, formatted as it does.

    The telemetry file descriptor in ``_LAMBDA_TELEMETRY_LOG_FD``, when given, takes every
    record as one frame (the variable is removed from ``os.environ`` when ``environ`` is it,
    as AWS's runtime does); one that is not open for writing is reported with a warning, and
    the records go to stdout. On stdout a record is one line (one CloudWatch event): JSON
    escapes its line breaks, the text format writes them as ``\\r``, except in a local run
    (:data:`LOCAL_EXECUTION_ENV`), whose console shows them as they are. stdout and stderr
    are made line-buffered, so what the app prints is in the log at once.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    root = logging.getLogger()
    if root.handlers:
        return
    as_json = environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
    handler: logging.Handler | None = None
    fd_value = environ.get(TELEMETRY_FD_VARIABLE)
    fd_error: Exception | None = None
    if fd_value is not None:
        if environ is os.environ:
            # Lambda's, not the app's: a child process must not write frames to it.
            del os.environ[TELEMETRY_FD_VARIABLE]
        try:
            fd = _writable_fd(fd_value)
        except (ValueError, OSError) as exc:
            fd_error = exc
        else:
            handler = _TelemetryHandler(fd, _JSON_FRAME_TYPES if as_json else _TEXT_FRAME_TYPES)
            handler.setFormatter(
                _JsonFormatter(_PYTHON_LEVEL_NAMES)
                if as_json
                else _text_formatter(logging.Formatter)
            )
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        if as_json:
            handler.setFormatter(_JsonFormatter(_LAMBDA_LEVEL_NAMES))
        else:
            local = environ.get("AWS_EXECUTION_ENV") == LOCAL_EXECUTION_ENV
            handler.setFormatter(
                _text_formatter(logging.Formatter if local else _OneEventFormatter)
            )
    handler.addFilter(_request_filter)
    root.addHandler(handler)
    root.setLevel(_log_level(environ))
    if fd_error is not None:
        logger.warning(
            "Cannot write the log to the telemetry file descriptor (%s=%r): %s; logging to "
            "stdout instead",
            TELEMETRY_FD_VARIABLE,
            fd_value,
            fd_error,
        )
