"""ASGI lifespan, run once per cold start on the adapter's event loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from .errors import LifespanError
from .sync_bridge import ASGIApp, Message

__all__ = ["Lifespan", "LifespanMode"]

LifespanMode = Literal["auto", "on", "off"]

logger = logging.getLogger("lambda_asgi")

#: How long shutdown may take before it is abandoned (Lambda gives about 300-500 ms after
#: SIGTERM; the margin is generous for local runs).
SHUTDOWN_TIMEOUT = 5.0

# Our own reply when the app's lifespan coroutine returns without answering; never sent by apps.
_RETURNED = "lambda_asgi.lifespan.returned"


class Lifespan:
    """The app's lifespan task: startup when built, shutdown at process exit.

    The task stays suspended on the loop between invocations (the loop is only run while
    serving), which is what lets objects it creates live across warm invocations.
    """

    def __init__(self, app: ASGIApp, mode: LifespanMode, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.mode = mode
        self.loop = loop
        self.state: dict[str, Any] = {}
        self.supported = False
        self._events: asyncio.Queue[Message] | None = None
        self._reply: asyncio.Future[Message] | None = None
        self._task: asyncio.Task[None] | None = None

    def startup(self) -> None:
        """Run ``lifespan.startup``; raise :class:`LifespanError` if the app reports failure.

        In ``auto`` mode an app that raises instead of speaking lifespan is remembered as
        not supporting it and is not asked again.
        """
        if self.mode == "off":
            return
        loop = self.loop
        self._events = asyncio.Queue()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._events.put_nowait({"type": "lifespan.startup"})
        self._reply = loop.create_future()
        self._task = loop.create_task(self._run(scope))
        reply = loop.run_until_complete(self._reply)
        kind = reply.get("type")
        if kind == "lifespan.startup.complete":
            self.supported = True
            return
        if kind == "lifespan.startup.failed":
            message = reply.get("message") or "no message given"
            raise LifespanError(f"ASGI lifespan startup failed: {message}")
        error = reply.get("error")
        what = (
            "the app returned without sending 'lifespan.startup.complete'"
            if kind == _RETURNED
            else f"the app raised {error!r}"
        )
        if self.mode == "on":
            raise LifespanError(
                f"ASGI lifespan startup failed: {what} (lifespan='on'; use "
                "lifespan='auto' or 'off' for apps without lifespan support)"
            ) from error
        logger.debug("app does not support ASGI lifespan (%s); not asking again", what)

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            if isinstance(exc, Exception) and (self._reply is None or self._reply.done()):
                # Nobody is waiting for a reply: say so now, or the error is never seen.
                logger.error(
                    "the app's ASGI lifespan raised between startup and shutdown", exc_info=exc
                )
            self._resolve({"type": "lifespan.error", "error": exc})
            if not isinstance(exc, Exception):
                raise
        else:
            self._resolve({"type": _RETURNED})

    async def _receive(self) -> Message:
        assert self._events is not None
        return await self._events.get()

    async def _send(self, message: Message) -> None:
        self._resolve(message)

    def _resolve(self, message: Message) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(message)

    def shutdown(self) -> None:
        """Run ``lifespan.shutdown`` (bounded by :data:`SHUTDOWN_TIMEOUT`); log a failure."""
        if not self.supported or self._events is None or self.loop.is_closed():
            return
        self.supported = False
        if self._task is None or self._task.done():
            # Like uvicorn and hypercorn, an app may return once started: nobody is left to
            # ask, and waiting for an answer would only burn the shutdown budget.
            logger.debug("the app's lifespan already returned; no shutdown to run")
            return
        self._reply = self.loop.create_future()
        self._events.put_nowait({"type": "lifespan.shutdown"})
        try:
            reply = self.loop.run_until_complete(asyncio.wait_for(self._reply, SHUTDOWN_TIMEOUT))
        except TimeoutError:
            logger.error("ASGI lifespan shutdown did not finish within %.1f s", SHUTDOWN_TIMEOUT)
            return
        if reply.get("type") == "lifespan.shutdown.failed":
            logger.error("ASGI lifespan shutdown failed: %s", reply.get("message"))
        elif reply.get("type") == "lifespan.error":
            logger.error("ASGI lifespan shutdown raised", exc_info=reply.get("error"))
        elif reply.get("type") == _RETURNED:
            # uvicorn and hypercorn also take a plain return as a finished shutdown.
            logger.debug("the app returned from lifespan.shutdown without a reply; taken as done")
        if self._task is not None and not self._task.done():
            try:
                self.loop.run_until_complete(asyncio.wait_for(self._task, SHUTDOWN_TIMEOUT))
            except (TimeoutError, Exception):
                logger.debug("lifespan task did not end cleanly after shutdown", exc_info=True)
