"""The deadline guard: cancel an app still running shortly before the Lambda deadline.

When Lambda's deadline passes, the invocation fails with a bare "Task timed out" and the
execution environment is thrown away (a cold start for the next request). Cancelling the app
``timeout_margin_ms`` before the deadline instead leaves time to answer 504 with a JSON body,
and keeps the warm environment (its event loop, pools, lifespan state) for the next request.

The guard is a deadline handed to the sync bridge, which arms a timer whenever it runs the
loop for the app (its streaming and post-response work included, which would otherwise overrun
the deadline too). An app that answers without suspending never needs the timer. Cancellation
takes effect when the app next awaits: code that blocks the loop cannot be interrupted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError

__all__ = ["DEFAULT_TIMEOUT_MARGIN_MS", "deadline_for", "log_timeout", "parse_margin"]

logger = logging.getLogger("lambda_asgi")

#: Default margin before the deadline: room to post a short 504 and log, even when busy.
DEFAULT_TIMEOUT_MARGIN_MS = 500


def deadline_for(context: Any, margin_ms: int) -> float | None:
    """The loop-clock time at which to cancel the app, or None (margin 0, or a context
    without ``get_remaining_time_in_millis``). Call it when the deadline is needed: the
    remaining time is read then."""
    if margin_ms <= 0:
        return None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    # The bridge's loop uses time.monotonic() as its clock (asyncio's default).
    remaining_ms: float = remaining()
    return time.monotonic() + (remaining_ms - margin_ms) / 1000


def log_timeout(scope: Mapping[str, Any], margin_ms: int) -> None:
    """The one log line of a request cancelled by the guard."""
    logger.error(
        "Deadline guard: %s %s was still running %d ms before the Lambda deadline "
        "(timeout_margin_ms); cancelled it so the invocation ends cleanly (504 if no "
        "response had started)",
        scope.get("method", ""),
        scope.get("path", ""),
        margin_ms,
    )


def parse_margin(value: object, name: str = "timeout_margin_ms") -> int:
    """A validated margin in milliseconds (0 disables the guard)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return DEFAULT_TIMEOUT_MARGIN_MS
        if not text.isdigit():
            raise ConfigurationError(
                f"{name} must be a whole number of milliseconds (0 disables the deadline "
                f"guard), got {value!r}"
            )
        return int(text)
    if type(value) is not int or value < 0:
        raise ConfigurationError(
            f"{name} must be a whole number of milliseconds >= 0 (0 disables the deadline "
            f"guard), got {value!r}"
        )
    return value
