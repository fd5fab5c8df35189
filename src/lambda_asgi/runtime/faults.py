"""Error reports to the Runtime API: the JSON body, the error type and the streaming trailers.

Error types are ``Category.Reason``: ``Runtime.*`` for faults of the runtime or of the
function's configuration (the names AWS's own Python runtime uses), ``Function.<Exception>``
for an exception raised by the function's code. The JSON body's ``errorType`` is, as in AWS's
runtime, the ``Runtime.*`` name of a fault (its ``errorMessage`` says precisely what failed) and
the class name of an exception raised by the function's code.
"""

from __future__ import annotations

import base64
import json
import os
import re
import traceback
from typing import Any

from ..errors import ConfigurationError, LifespanError

__all__ = [
    "RuntimeFault",
    "error_body",
    "error_type",
    "stream_error_trailers",
    "xray_error_cause",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


class RuntimeFault(Exception):
    """A failure of the runtime or of the function's configuration, with its error type.

    ``error_type`` is a ``Runtime.*`` name such as ``Runtime.ImportModuleError``.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def error_type(exc: BaseException) -> str:
    """The ``Lambda-Runtime-Function-Error-Type`` of ``exc``."""
    if isinstance(exc, RuntimeFault):
        return exc.error_type
    if isinstance(exc, SyntaxError):
        return "Runtime.UserCodeSyntaxError"
    if isinstance(exc, ConfigurationError):
        if isinstance(exc.__cause__, ImportError):
            return "Runtime.ImportModuleError"
        return "Runtime.ConfigurationError"
    if isinstance(exc, LifespanError):
        return "Runtime.LifespanStartupError"
    return "Function." + _UNSAFE.sub("", type(exc).__name__)


def error_body(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """The JSON body of an ``/error`` or ``/init/error`` report, shaped like AWS's runtime's."""
    reported = exc.__cause__ if isinstance(exc, RuntimeFault) and exc.__cause__ else exc
    kind = error_type(exc)
    body: dict[str, Any] = {
        "errorMessage": str(exc),
        "errorType": kind if kind.startswith("Runtime.") else type(reported).__name__,
        "stackTrace": _stack(reported),
    }
    if request_id is not None:
        body["requestId"] = request_id
    return body


def xray_error_cause(exc: BaseException) -> str:
    """The ``Lambda-Runtime-Function-XRay-Error-Cause`` of an invocation error, shaped like
    AWS's runtime's: with active tracing, X-Ray shows the exception and its stack from it.
    """
    reported = exc.__cause__ if isinstance(exc, RuntimeFault) and exc.__cause__ else exc
    frames = traceback.extract_tb(reported.__traceback__)
    cause = {
        "working_directory": os.getcwd(),
        "exceptions": [
            {
                "type": type(reported).__name__,
                "message": str(reported),
                "stack": [
                    {"path": frame.filename, "line": frame.lineno, "label": frame.name}
                    for frame in frames
                ],
            }
        ],
        "paths": list(dict.fromkeys(frame.filename for frame in frames)),
    }
    # ASCII-only JSON (the default): nothing in it can break the header.
    return json.dumps(cause)


def stream_error_trailers(exc: BaseException, error_type_: str | None = None) -> dict[str, str]:
    """The HTTP trailers that report an error after the first byte of a streamed response.

    The body trailer is base64 of ``{"errorType", "errorMessage", "trace"}``. For a failed
    response (:class:`~lambda_asgi.ResponseFailedError`) the app's exception is reported.
    """
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    kind = error_type_ or error_type(cause)
    payload = {
        "errorType": type(cause).__name__,
        "errorMessage": str(cause) or str(exc),
        "trace": _stack(cause),
    }
    encoded = base64.b64encode(json.dumps(payload).encode()).decode("ascii")
    return {
        "Lambda-Runtime-Function-Error-Type": kind,
        "Lambda-Runtime-Function-Error-Body": encoded,
    }


def _stack(exc: BaseException) -> list[str]:
    return traceback.format_list(traceback.extract_tb(exc.__traceback__))
