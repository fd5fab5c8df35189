"""lambda-asgi: run any ASGI app on AWS Lambda.

``handler = LambdaAdapter(app)``, or set the function's Handler to ``lambda_asgi.handler`` and
``LAMBDA_ASGI_APP=package.module:attribute``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .adapter import Invocation, LambdaAdapter
from .errors import (
    AppLoadError,
    ConfigurationError,
    InvalidEventError,
    LifespanError,
    UnsupportedEventError,
)
from .sync_bridge import (
    AppTimeoutError,
    ASGIProtocolError,
    NeedsAsyncError,
    ResponseFailedError,
    SyncResponse,
    call_asgi_sync,
)

if TYPE_CHECKING:
    from .context import LambdaContext

__all__ = [
    "ASGIProtocolError",
    "AppLoadError",
    "AppTimeoutError",
    "ConfigurationError",
    "InvalidEventError",
    "Invocation",
    "LambdaAdapter",
    "LambdaContext",
    "LifespanError",
    "NeedsAsyncError",
    "ResponseFailedError",
    "SyncResponse",
    "UnsupportedEventError",
    "call_asgi_sync",
    "handler",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``lambda_asgi.handler`` as the function's Handler setting: the managed runtime reads
    # the attribute during init, so the app is imported (and its lifespan started) then, and
    # a missing or wrong LAMBDA_ASGI_APP fails the init with a message saying what to set.
    if name == "handler":
        from .adapter import zero_code_handler

        try:
            return zero_code_handler()
        except AttributeError as exc:
            # Python reads an AttributeError out of a module __getattr__ as "no such
            # attribute": the managed runtime would report "Handler 'handler' missing on
            # module 'lambda_asgi'" and drop the real error.
            spec = os.environ.get("LAMBDA_ASGI_APP", "")
            raise AppLoadError(
                f"lambda_asgi.handler: building the handler for LAMBDA_ASGI_APP={spec!r} "
                f"raised {type(exc).__name__}: {exc}"
            ).with_traceback(exc.__traceback__) from exc
    if name == "LambdaContext":  # for local runs and our runtime; not needed in Lambda
        from .context import LambdaContext

        return LambdaContext
    raise AttributeError(f"module 'lambda_asgi' has no attribute {name!r}")
