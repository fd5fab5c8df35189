"""Run an ASGI app from synchronous code on an event loop the caller owns and reuses.

This is the heart of lambda-asgi: the Lambda handler is synchronous, the app is not. The bridge
runs one HTTP exchange as a task on the caller's loop and returns a :class:`SyncResponse`.

Design points (see ``design/sync_bridge.md``):

* The loop is driven with ``loop.run_until_complete`` rather than ``asyncio.Runner.run``:
  ``Runner.run`` swaps the SIGINT handler on every call in the main thread, which costs more
  than a whole trivial request.
* The app is run as a real :class:`asyncio.Task` created on the caller's loop, so
  ``asyncio.current_task()``, contextvars (one fresh copy per request) and cancellation behave
  exactly as under any ASGI server.
* The task is started eagerly (:class:`BridgeEventLoop`): an app that answers without
  suspending completes without any loop iteration.
* The loop is stopped as soon as the response is complete, or as soon as the app starts to
  stream (``more_body=True``); in both cases the app may still be running and the caller decides
  what happens next (:meth:`SyncResponse.finish`, iterating :attr:`SyncResponse.stream`).
* An optional deadline cancels the app; its timer exists only while the loop runs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = [
    "REQUEST_TASK_NAME",
    "ASGIApp",
    "ASGIProtocolError",
    "AppTimeoutError",
    "BridgeEventLoop",
    "NeedsAsyncError",
    "ResponseFailedError",
    "ResponseStream",
    "SyncResponse",
    "call_asgi_sync",
    "new_runner",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("lambda_asgi")

# Header bytes that would let an app split a response or smuggle a second header (CR, LF,
# NUL), as ints: `13 in data` is one memchr, while a bytes needle first tries (and fails) an
# int conversion, and bytes.translate builds a table per call.
_CR, _LF, _NUL = 13, 10, 0

# How many chunks the app may run ahead of the consumer of a stream before ``send`` waits:
# keeps memory bounded whatever the size of the streamed body.
_STREAM_HIGH_WATER = 4

_NOT_STARTED, _STARTED, _STREAMING, _COMPLETE = range(4)

# Python 3.12+ starts a task eagerly itself (Task(eager_start=True)); on 3.11 the bridge's loop
# runs the first step that the Task's constructor schedules at once (see start_task_eagerly).
_EAGER_TASKS = sys.version_info >= (3, 12)
#: The name of the task that runs a request (``Task.get_name()``).
REQUEST_TASK_NAME = "lambda-asgi request"


class BridgeEventLoop(asyncio.SelectorEventLoop):
    """The event loop of the bridge: a standard selector loop that can also start a task
    eagerly while the loop is not running.

    An app that answers without ever suspending (most requests of most apps) then completes
    in the caller's frame, as a real :class:`asyncio.Task` with ``current_task()``, its own
    contextvars copy and the running loop set exactly as when the loop runs, but without a
    loop iteration (a selector syscall and several callbacks). An app that suspends is
    scheduled as usual and the loop is run until its response is ready.
    """

    def __init__(self, selector: Any = None) -> None:
        super().__init__(selector)
        # Instance attributes, not class defaults: reads and writes of these on the hot path
        # then specialise (a class-level default keeps every access generic).
        #: Callbacks scheduled with call_soon since the bridge last looked (tasks an app
        #: started, futures it resolved): after an eager request they need a loop turn.
        self.calls_scheduled = 0
        # Python 3.11: the next call_soon is a new task's first step, to run at once.
        self._step_now = False
        # What call_soon returns for a step it ran at once: a handle with nothing to run.
        self._done_handle: asyncio.Handle | None = None

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        """As :meth:`asyncio.AbstractEventLoop.call_soon`, counted in :attr:`calls_scheduled`."""
        if self._step_now:
            self._step_now = False
            if context is None:
                callback(*args)
            else:
                context.run(callback, *args)
            handle = self._done_handle
            if handle is None:
                handle = self._done_handle = asyncio.Handle(_nothing, (), self)
                handle.cancel()
            return handle
        self.calls_scheduled += 1
        return super().call_soon(callback, *args, context=context)

    def set_debug(self, enabled: bool) -> None:
        """As :meth:`asyncio.AbstractEventLoop.set_debug`."""
        super().set_debug(enabled)
        # Every Future and Task asks its loop get_debug() when it is made: answer from C
        # rather than with a Python frame (an instance attribute shadows the method).
        self.get_debug = itertools.repeat(bool(enabled)).__next__  # type: ignore[method-assign]

    def start_task_eagerly(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task for ``coro`` whose first step has already run (until it suspends or ends)."""
        previous = _get_running_loop()
        # Task(eager_start=True) runs the first step at once only if the loop says it is
        # running: it is, for the length of that step (current_task() and
        # get_running_loop() work in the app exactly as on a running loop).
        self.is_running = _ALWAYS_TRUE  # type: ignore[method-assign]
        _set_running_loop(self)
        try:
            # Named: Python formats a "Task-<n>" name for every unnamed task.
            if _EAGER_TASKS:
                return asyncio.Task(coro, loop=self, eager_start=True, name=REQUEST_TASK_NAME)  # type: ignore[call-arg,unused-ignore]
            # Python 3.11: the constructor schedules the task's first step with call_soon as
            # its last act but one (the other registers the task in all_tasks()); call_soon
            # runs that step at once, in the task's context, as 3.12's eager start does.
            self._step_now = True
            try:
                return asyncio.Task(coro, loop=self, name=REQUEST_TASK_NAME)
            finally:
                self._step_now = False
        finally:
            _set_running_loop(previous)
            del self.is_running


_ALWAYS_TRUE = itertools.repeat(True).__next__


def _nothing() -> None:
    pass


_new_object = object.__new__
_get_running_loop = asyncio.events._get_running_loop
_set_running_loop = asyncio.events._set_running_loop


def new_runner() -> asyncio.Runner:
    """An :class:`asyncio.Runner` whose loop is a :class:`BridgeEventLoop`."""
    return asyncio.Runner(loop_factory=BridgeEventLoop)


class NeedsAsyncError(Exception):
    """The app needs the async path (a WebSocket scope).

    The caller hands the connection off: in Lambda that is a clear error, in a streaming
    runtime the streaming path.
    """


class ASGIProtocolError(RuntimeError):
    """The app broke a rule of the ASGI HTTP protocol; the message names the rule."""


class AppTimeoutError(RuntimeError):
    """The app was still running at the deadline given to :func:`call_asgi_sync` and was
    cancelled. The event loop stays healthy for the next call."""


class ResponseFailedError(RuntimeError):
    """The app raised after ``http.response.start`` (or its task was cancelled): the response
    must not be treated as a success. The app's exception is the ``__cause__``."""


class ResponseStream:
    """The remaining body chunks of a response the app is still streaming.

    Iterating it (synchronously) runs the caller's loop until the app sends the next chunk, so
    the app produces at most a few chunks ahead of the consumer. Iteration ends when the app
    sends its final body message; if the app fails mid-stream, iteration raises
    :class:`ResponseFailedError` (or :class:`ASGIProtocolError`). :meth:`close` cancels an app
    that is still streaming.
    """

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk = self._exchange.next_chunk()
        if chunk is None:
            raise StopIteration
        return chunk

    @property
    def content_type(self) -> bytes | None:
        """The ``content-type`` the app declared, if any (lower-cased)."""
        for name, value in self._exchange.headers:
            if name.lower() == b"content-type":
                return value.lower()
        return None

    def close(self) -> None:
        """Stop the stream: cancel the app if it has not finished its response."""
        self._exchange.cancel()


@dataclass(slots=True)
class SyncResponse:
    """The response of one ASGI HTTP exchange, as seen from synchronous code."""

    status: int
    """HTTP status code."""
    headers: list[tuple[bytes, bytes]]
    """Response headers, as the app sent them."""
    body: bytes
    """The full body, or the first chunk when :attr:`needs_async` is true."""
    needs_async: bool = False
    """True if the app sent ``more_body=True``: the rest of the body is in :attr:`stream`."""
    stream: ResponseStream | None = field(default=None, repr=False, compare=False)
    """The remaining chunks of a streamed response (only when :attr:`needs_async`)."""
    finished: bool = field(default=False, repr=False, compare=False)
    """True when the app's task is over and :meth:`finish` has nothing left to do (most
    responses, as they return): callers may then skip calling it."""
    _exchange: _Exchange | None = field(default=None, repr=False, compare=False)

    @property
    def timed_out(self) -> bool:
        """Whether the deadline cancelled the app (while streaming, or in post-response work)."""
        return self._exchange is not None and self._exchange.timed_out

    def finish(self) -> None:
        """Run work the app does after its final body message (background tasks) to the end.

        Exceptions raised there are logged, not raised: the response was already complete.
        """
        if self.finished:
            return
        exchange = self._exchange
        # Most requests are over already: nothing to run, nothing to close.
        if exchange is not None and (
            exchange.needs_turn
            or exchange.on_close is not None
            or ((task := exchange.task) is not None and not task.done())
        ):
            exchange.finish()
        self.finished = True

    def iter_body(self) -> Iterator[bytes]:
        """Yield the whole body: :attr:`body` then, if streaming, the remaining chunks."""
        if self.body:
            yield self.body
        if self.stream is not None:
            yield from self.stream


class _Exchange:
    """State of one request/response exchange between the bridge and the app."""

    # Slots, each set once in __init__: attribute reads and writes on the hot path then
    # specialise to a slot access (class-level defaults would keep every one generic).
    __slots__ = (
        "body",
        "chunk_waiter",
        "chunks",
        "deadline",
        "done_waiter",
        "headers",
        "loop",
        "needs_turn",
        "on_close",
        "ready",
        "request_body",
        "request_sent",
        "scope",
        "space_waiter",
        "state",
        "status",
        "streamed",
        "task",
        "timed_out",
        "violation",
    )
    #: The chunks of a streamed response not yet consumed (set when it starts streaming).
    chunks: deque[bytes | None]

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        request_body: bytes,
        deadline: float | Callable[[Scope], float | None] | None,
        scope: Scope,
        on_close: Callable[[], None] | None,
    ) -> None:
        self.loop = loop
        self.request_body = request_body
        #: The loop clock time at which the app is cancelled (None: no deadline), or a
        #: function of the scope computing it when first needed.
        self.deadline = deadline
        #: The request's scope (read only by a deadline function).
        self.scope = scope
        self.on_close = on_close
        self.request_sent = False
        self.state = _NOT_STARTED
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        #: The body of the response: all of it, or its first chunk when it streams (the
        #: others go through ``chunks``).
        self.body = b""
        #: Whether the response was handed off as a stream (it may have completed since).
        self.streamed = False
        self.task: asyncio.Task[None] | None = None
        self.done_waiter: asyncio.Future[None] | None = None
        self.chunk_waiter: asyncio.Future[None] | None = None
        self.space_waiter: asyncio.Future[None] | None = None
        self.ready: asyncio.Future[None] | None = None
        self.timed_out = False
        self.needs_turn = False
        #: The first ASGI rule the app broke: kept so that an app which catches the error
        #: and carries on still gets a failed response, not a half-valid one.
        self.violation: ASGIProtocolError | None = None

    # -- the ASGI callables -------------------------------------------------------------

    async def receive(self) -> Message:
        if not self.request_sent:
            self.request_sent = True
            return {"type": "http.request", "body": self.request_body, "more_body": False}
        # Report the disconnect only once the response is complete: an app that listens for
        # it while streaming would otherwise cancel its own response.
        if self.state != _COMPLETE:
            if self.done_waiter is None:
                self.done_waiter = self.loop.create_future()
            await asyncio.shield(self.done_waiter)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        try:
            kind = message["type"]
        except (TypeError, KeyError):
            raise self._violated(
                f"ASGI messages are dicts with a 'type' key; the app sent {message!r}"
            ) from None
        if kind == "http.response.body":
            if self.state != _STARTED:
                await self._on_stream_body(message)
                return
            # The common case, kept inline: the body of a response that just started.
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = self._check_body(body)
            self.body = body
            if message.get("more_body", False):
                # The app streams: hand the exchange back to the caller now.
                self.state = _STREAMING
                self.streamed = True
                self.chunks = deque()
            else:
                self.state = _COMPLETE
                if self.done_waiter is not None:
                    self._complete()
            # Return control to the caller now; post-response work runs in finish().
            ready = self.ready
            if ready is not None and not ready.done():
                ready.set_result(None)
        elif kind == "http.response.start":
            # Also kept inline (one call less per request); _refuse_start names a broken rule.
            status = message.get("status")
            if self.state != _NOT_STARTED:
                self._refuse_start(status, None, None)
            headers = message.get("headers", ())
            try:
                checked = headers if type(headers) is list else list(headers)
            except TypeError:
                self._refuse_start(status, headers, None)
            try:
                # Most responses repeat pairs an earlier one had: one set lookup per pair
                # instead of scanning them again.
                known = _CHECKED_PAIRS.issuperset(checked)
            except TypeError:  # unhashable pairs (lists, bytearrays): checked in full
                known = False
            if (
                type(status) is not int
                or not 100 <= status <= 599
                or not (known or _check_header_pairs(checked))
            ):
                self._refuse_start(status, headers, checked)
            self.status = status
            self.headers = checked
            self.state = _STARTED
        else:
            raise self._violated(
                f"unsupported ASGI message type {kind!r}: an HTTP app sends "
                "'http.response.start' then 'http.response.body'"
            )

    def _violated(self, rule: str) -> ASGIProtocolError:
        error = ASGIProtocolError(rule)
        if self.violation is None:
            self.violation = error
        return error

    def _refuse_start(self, status: object, headers: object, checked: list[Any] | None) -> NoReturn:
        """Raise for an ``http.response.start`` that breaks a rule (``checked``: the headers
        as a list, None when they are not even a list of pairs)."""
        if self.state != _NOT_STARTED:
            raise self._violated(
                "the app sent 'http.response.start' twice: ASGI allows exactly one per response"
            )
        if type(status) is not int or not 100 <= status <= 599:
            raise self._violated(
                f"'http.response.start' status must be an int from 100 to 599, got {status!r}"
            )
        raise ASGIProtocolError(_describe_bad_headers(headers if checked is None else checked))

    def _check_body(self, body: object) -> bytes:
        if isinstance(body, bytearray | memoryview):
            return bytes(body)
        raise self._violated(f"'http.response.body' body must be bytes, got {type(body).__name__}")

    async def _on_stream_body(self, message: Message) -> None:
        """A body message outside the common case: streaming, or out of order."""
        state = self.state
        if state == _NOT_STARTED:
            raise self._violated("the app sent 'http.response.body' before 'http.response.start'")
        if state == _COMPLETE:
            raise self._violated(
                "the app sent 'http.response.body' after the response was complete "
                "(a message with more_body=False ends the response)"
            )
        body = message.get("body", b"")
        if type(body) is not bytes:
            body = self._check_body(body)
        more = bool(message.get("more_body", False))
        # Streaming: queue the chunk for the consumer, with back-pressure.
        chunks = self.chunks
        if body:
            chunks.append(body)
        if not more:
            chunks.append(None)
            self._complete()
        self._wake_consumer()
        if more and len(chunks) >= _STREAM_HIGH_WATER:
            self.space_waiter = self.loop.create_future()
            await self.space_waiter

    def _complete(self) -> None:
        self.state = _COMPLETE
        if self.done_waiter is not None and not self.done_waiter.done():
            self.done_waiter.set_result(None)

    def _on_task_done(self, _task: asyncio.Task[None]) -> None:
        ready = self.ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        self._wake_consumer()

    def _wake_consumer(self) -> None:
        waiter = self.chunk_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- driving the loop ---------------------------------------------------------------

    def run(self, app: ASGIApp, scope: Scope) -> None:
        """Run the app until its response is complete, it starts streaming, or it ends."""
        loop = self.loop
        coro = app(scope, self.receive, self.send)
        task: asyncio.Task[None]
        if isinstance(loop, BridgeEventLoop):
            loop.calls_scheduled = 0
            task = loop.start_task_eagerly(coro)  # type: ignore[arg-type]
            # Work the app scheduled (a task it started and did not await) gets a loop turn
            # in finish(), as it would have had on a running loop.
            self.needs_turn = loop.calls_scheduled > 0
        else:
            task = loop.create_task(coro)  # type: ignore[arg-type]
        self.task = task
        if (
            self.state == _COMPLETE
            and task.done()
            and self.violation is None
            and not task.cancelled()
            and task.exception() is None
        ):
            return  # the common case: the app answered without suspending, and returned
        if not task.done() and self.state <= _STARTED:
            # The loop runs until this future is set: by send() when the response is complete
            # or starts streaming, or by the task ending. Stopping on a future (not
            # loop.stop()) leaves no stale callback behind to stop a later run early.
            self.ready = ready = loop.create_future()
            task.add_done_callback(self._on_task_done)
            self.run_loop_until(ready)
        elif self.streamed and not task.done():
            task.add_done_callback(self._on_task_done)
        if self.streamed:
            return  # from here on, the stream reports how the app ends
        if self.timed_out and self.state != _COMPLETE:
            raise AppTimeoutError(self._timeout_message())
        if task.done():
            if task.cancelled():
                self._raise_app_error(asyncio.CancelledError("the app's task was cancelled"))
                return
            exc = task.exception()
            if exc is not None:
                self._raise_app_error(exc)
                return
        violation = self.violation
        if violation is not None:
            raise ASGIProtocolError(f"{violation} (the app caught this error and went on)")
        if self.state == _NOT_STARTED:
            raise ASGIProtocolError(
                "the app returned without sending 'http.response.start': every HTTP request "
                "needs a response"
            )
        if self.state == _STARTED:
            raise ASGIProtocolError(
                "the app returned without a final 'http.response.body' (more_body=False)"
            )

    def _raise_app_error(self, exc: BaseException) -> None:
        if self.state == _NOT_STARTED:
            if isinstance(exc, asyncio.CancelledError):
                # CancelledError is a BaseException: escaping the handler, it would end the
                # runtime's process instead of failing one request.
                raise ResponseFailedError(
                    "the app's task was cancelled before 'http.response.start'"
                ) from exc
            raise exc
        if self.state == _COMPLETE:
            # The response was already complete; the failure is in post-response work.
            logger.error("ASGI app raised after its response was complete", exc_info=exc)
            return
        raise ResponseFailedError(
            f"{_describe_failure(exc)} after 'http.response.start' (status {self.status}): "
            "the response is incomplete"
        ) from exc

    def next_chunk(self) -> bytes | None:
        """Next streamed chunk, or None at the end of the body (sync; drives the loop)."""
        while True:
            if self.chunks:
                chunk = self.chunks.popleft()
                space = self.space_waiter
                if space is not None and not space.done():
                    space.set_result(None)
                return chunk
            if self.state == _COMPLETE:
                return None  # the end was already reached
            task = self.task
            assert task is not None
            if task.done():
                self._close_runner()
                if self.timed_out:
                    raise AppTimeoutError(self._timeout_message())
                if task.cancelled():
                    raise ResponseFailedError("the streamed response was cancelled")
                exc = task.exception()
                if exc is not None:
                    raise ResponseFailedError(
                        f"{_describe_failure(exc)} while streaming its response"
                    ) from exc
                raise ASGIProtocolError(
                    "the app returned while streaming, without a final 'http.response.body' "
                    "(more_body=False)"
                )
            waiter = self.loop.create_future()
            self.chunk_waiter = waiter
            self.run_loop_until(waiter)

    def finish(self) -> None:
        """Run the app task to its end (post-response work); log what it raises."""
        task = self.task
        if task is not None and task.done() and self.needs_turn:
            self.needs_turn = False
            self.loop.run_until_complete(asyncio.sleep(0))
        if task is not None and not task.done():
            try:
                self.run_loop_until(task)
            except BaseException as exc:
                if not isinstance(exc, Exception | asyncio.CancelledError):
                    raise
                if self.timed_out:
                    logger.error("The app's work after its response was cancelled at the deadline")
                else:
                    logger.error("ASGI app raised after its response was complete", exc_info=exc)
        self._close_runner()

    def task_done(self) -> bool:
        """Whether the app's task has ended."""
        return self.task is None or self.task.done()

    def run_loop_until(self, future: asyncio.Future[Any]) -> None:
        """Run the loop until ``future`` is done, cancelling the app at the deadline.

        The deadline timer exists only while the loop runs: an app that completes without
        suspending never schedules one (a cancelled timer would stay in the loop's heap).
        """
        deadline = self.deadline
        if callable(deadline):
            deadline = self.deadline = deadline(self.scope)
        if deadline is None:
            self.loop.run_until_complete(future)
            return
        timer = self.loop.call_at(deadline, self._on_deadline)
        try:
            self.loop.run_until_complete(future)
        finally:
            timer.cancel()

    def _on_deadline(self) -> None:
        task = self.task
        if task is not None and not task.done():
            self.timed_out = True
            task.cancel()

    def _timeout_message(self) -> str:
        where = {
            _NOT_STARTED: "before sending 'http.response.start'",
            _STARTED: "before finishing its response",
            _STREAMING: "while streaming its response",
        }.get(self.state, "after its response")
        return f"the app was still running at the deadline ({where}) and was cancelled"

    def cancel(self) -> None:
        """Cancel an app that is still running (used when a stream is abandoned)."""
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            try:
                self.loop.run_until_complete(task)
            except BaseException as exc:
                if not isinstance(exc, Exception | asyncio.CancelledError):
                    raise
        self._close_runner()

    def _close_runner(self) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


def _describe_failure(exc: BaseException) -> str:
    # A protocol error names the rule the app broke: say it, not just its type. Other
    # exceptions are named by type only (their text is in the logged traceback).
    if isinstance(exc, ASGIProtocolError):
        return f"the app broke the ASGI protocol ({exc})"
    return f"the app raised {type(exc).__name__}"


#: Response header pairs known to be valid (bounded: cleared when full).
_CHECKED_PAIRS: set[tuple[bytes, bytes]] = set()
_MAX_CHECKED_PAIRS = 1024


def _check_header_pairs(pairs: list[Any]) -> bool:
    """Whether every pair is ``(bytes, bytes)`` without CR, LF or NUL; valid hashable pairs
    are remembered in :data:`_CHECKED_PAIRS`."""
    try:
        # One concatenation and one C-level scan for all the headers: much cheaper than
        # checking each name and value in Python. Concatenating each pair also checks that
        # it is a (bytes, bytes) pair.
        joined = b"".join([name + value for name, value in pairs])
    except (TypeError, ValueError):
        return False
    if _CR in joined or _LF in joined or _NUL in joined:
        return False
    if len(_CHECKED_PAIRS) + len(pairs) > _MAX_CHECKED_PAIRS:
        _CHECKED_PAIRS.clear()  # values that never repeat (dates, lengths) must not pile up
    for pair in pairs:
        if type(pair) is tuple and type(pair[0]) is bytes and type(pair[1]) is bytes:
            _CHECKED_PAIRS.add(pair)
    return True


def _describe_bad_headers(headers: object) -> str:
    """The precise ASGI rule a list of response headers breaks."""
    try:
        pairs = list(headers)  # type: ignore[call-overload]
    except TypeError:
        return f"ASGI response headers are an iterable of (bytes, bytes) pairs, got {headers!r}"
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError):
            return f"ASGI response headers are (name, value) pairs; the app sent {pair!r}"
        if not isinstance(name, bytes | bytearray) or not isinstance(value, bytes | bytearray):
            return (
                "ASGI response headers are (bytes, bytes) pairs; the app sent "
                f"({name!r}, {value!r})"
            )
        pair_bytes = bytes(name + value)
        if _CR in pair_bytes or _LF in pair_bytes or _NUL in pair_bytes:
            return (
                "a response header holds CR, LF or NUL, which would split the response: "
                f"{bytes(name)!r}: {bytes(value)!r}"
            )
    return f"invalid ASGI response headers: {headers!r}"


def call_asgi_sync(
    app: ASGIApp,
    scope: dict[str, Any],
    body: bytes,
    *,
    runner: asyncio.Runner | None = None,
    deadline: float | Callable[[Scope], float | None] | None = None,
) -> SyncResponse:
    """Run one HTTP exchange of ``app`` synchronously and return its response.

    ``runner`` is a reusable :class:`asyncio.Runner` owned by the calling thread; warm
    invocations reuse its loop. With ``None`` a temporary runner is made (slow; it is closed
    once the response, streamed or not, is finished).

    ``deadline``, in the loop's clock (``loop.time()``, monotonic): an app still running then
    is cancelled, and :class:`AppTimeoutError` is raised (by this call, or by the stream). It
    may be a function of ``scope`` returning that time (or None), called only if the loop has
    to run: an app that answers without suspending never needs it (and one function serves
    every request, so none is made per request).

    Raises :class:`NeedsAsyncError` for a WebSocket scope (before the app is called), the
    app's own exception if it raised before ``http.response.start``,
    :class:`ResponseFailedError` if it raised after, and :class:`ASGIProtocolError` if it broke
    the ASGI protocol.
    """
    scope_type = scope.get("type")
    if scope_type == "websocket":
        raise NeedsAsyncError(
            "WebSocket scopes cannot be served by a synchronous Lambda invocation"
        )
    if scope_type != "http":
        raise ValueError(f"call_asgi_sync serves 'http' scopes, got type {scope_type!r}")
    own_runner = runner is None
    if runner is None:
        runner = new_runner()
    # Runner.get_loop() re-checks the runner's state in two Python calls; an open runner
    # already has its loop (a closed one has none, and get_loop() then raises as it should).
    loop = getattr(runner, "_loop", None) or runner.get_loop()
    exchange = _Exchange(loop, body, deadline, scope, runner.close if own_runner else None)
    try:
        exchange.run(app, scope)
    except BaseException:
        if own_runner:
            exchange.cancel()
        raise
    if exchange.streamed:
        return SyncResponse(
            exchange.status,
            exchange.headers,
            exchange.body,
            needs_async=True,
            stream=ResponseStream(exchange),
            _exchange=exchange,
        )
    # The hot path: fill the slots directly (the generated __init__ costs a frame more).
    response = _new_object(SyncResponse)
    response.status = exchange.status
    response.headers = exchange.headers
    response.body = exchange.body
    response.needs_async = False
    response.stream = None
    response._exchange = exchange
    if own_runner:
        response.finished = False
        response.finish()
    else:
        # run() set the task; finish() only has work if it needs a turn or is still running.
        response.finished = not exchange.needs_turn and exchange.task.done()  # type: ignore[union-attr]
    return response
