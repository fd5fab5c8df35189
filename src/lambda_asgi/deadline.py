"""The deadline guard: cancel an app still running shortly before the Lambda deadline.

When Lambda's deadline passes, the invocation fails with a bare "Task timed out" and the
execution environment is thrown away (a cold start for the next request). Cancelling the app
``timeout_margin_ms`` before the deadline instead leaves time to answer 504 with a JSON body,
and keeps the warm environment (its event loop, pools, lifespan state) for the next request.

The guard is a timer on the adapter's event loop, armed for the life of the app's task (its
post-response work included, which would otherwise overrun the deadline too). Cancellation
takes effect when the app next awaits: code that blocks the loop cannot be interrupted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError
from .sync_bridge import ASGIApp, Receive, Send

__all__ = ["DEFAULT_TIMEOUT_MARGIN_MS", "DeadlineGuard", "parse_margin", "start_guard"]

logger = logging.getLogger("lambda_asgi")

#: Default margin before the deadline: room to post a short 504 and log, even when busy.
DEFAULT_TIMEOUT_MARGIN_MS = 500


class DeadlineGuard:
    """Cancels one request's app task when its timer fires; :attr:`fired` tells if it did."""

    __slots__ = ("fired", "label", "margin_ms", "task", "timer")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay_s: float, margin_ms: int, label: str
    ) -> None:
        self.fired = False
        self.label = label
        self.margin_ms = margin_ms
        self.task: asyncio.Task[Any] | None = None
        self.timer = loop.call_later(max(0.0, delay_s), self._expire)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` run so that the guard knows its task and disarms when it ends."""

        async def guarded(scope: Any, receive: Receive, send: Send) -> None:
            self.task = asyncio.current_task()
            try:
                await app(scope, receive, send)
            finally:
                self.timer.cancel()

        return guarded

    def _expire(self) -> None:
        task = self.task
        if task is None or task.done():
            return
        self.fired = True
        logger.error(
            "Deadline guard: %s was still running %d ms before the Lambda deadline "
            "(timeout_margin_ms); cancelled it so the invocation ends cleanly (504 if no "
            "response had started)",
            self.label,
            self.margin_ms,
        )
        task.cancel()


def start_guard(
    context: Any, margin_ms: int, scope: Mapping[str, Any], loop: asyncio.AbstractEventLoop
) -> DeadlineGuard | None:
    """A guard for one request, or None (margin 0, or a context without a deadline)."""
    if margin_ms <= 0:
        return None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    delay_s = (remaining() - margin_ms) / 1000
    label = f"{scope.get('method', '')} {scope.get('path', '')}"
    return DeadlineGuard(loop, delay_s, margin_ms, label)


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
