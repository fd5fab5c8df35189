"""A local Lambda Runtime API that follows AWS's protocol strictly (standard library only).

It serves events submitted with :meth:`RuntimeAPIServer.submit` to a runtime process (ours,
or AWS's ``awslambdaric``) pointed at it with ``AWS_LAMBDA_RUNTIME_API``, and records what the
runtime answers: buffered responses, streamed responses chunk by chunk with their arrival
times and trailers, invocation errors, init and restore errors, extension registrations.

Strict where AWS is: a bad ``Lambda-Runtime-Function-Response-Mode`` is a 400, a buffered
response over 6 MB a 413, a response for an unknown or finished request id a 400/403,
extension registration after init a 403, a streamed HTTP response whose 8-NUL delimiter does
not come within its first 16 KiB a failed invocation. Chunked request bodies and their
trailers are parsed here, on the raw stream, so the arrival of each chunk is observable.
"""

from __future__ import annotations

import base64
import json
import queue
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from ..runtime.client import HTTP_INTEGRATION_CONTENT_TYPE
from ..runtime.respond import DELIMITER, PRELUDE_LIMIT

__all__ = [
    "BUFFERED_RESPONSE_LIMIT",
    "STREAMED_RESPONSE_LIMIT",
    "Chunk",
    "ErrorReport",
    "InvocationHandle",
    "RuntimeAPIServer",
]

#: Largest buffered response Lambda accepts (a larger one gets 413).
BUFFERED_RESPONSE_LIMIT = 6 * 1024 * 1024
#: Largest streamed response Lambda accepts.
STREAMED_RESPONSE_LIMIT = 200 * 1024 * 1024

_RUNTIME = "/2018-06-01/runtime"
_INVOCATION = _RUNTIME + "/invocation/"
_EXTENSION_EVENTS = frozenset({"INVOKE", "SHUTDOWN"})


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a streamed response and when it arrived (``time.monotonic()``)."""

    data: bytes
    at: float


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """An error the runtime reported: its ``Lambda-Runtime-Function-Error-Type`` and body."""

    error_type: str
    body: Any
    """The JSON body (or, for trailers, the decoded base64 JSON); raw text if not JSON."""
    at: float
    xray_cause: Any = None
    """The decoded ``Lambda-Runtime-Function-XRay-Error-Cause`` JSON, if the runtime sent one."""


@dataclass(eq=False)
class InvocationHandle:
    """One submitted event and, once answered, the runtime's response or error."""

    request_id: str
    event: Any
    deadline_ms: int
    submitted_at: float = field(default_factory=time.monotonic)
    delivered_at: float | None = None
    """When ``/next`` handed the event to the runtime."""
    response_started_at: float | None = None
    """When the runtime's ``/response`` request headers arrived."""
    completed_at: float | None = None
    completed_epoch_ms: int | None = None
    """When the answer was complete, in epoch ms (compare with :attr:`deadline_ms`)."""
    status: str = "queued"
    """``queued``, ``running``, ``success`` or ``error``."""
    streaming: bool = False
    content_type: str | None = None
    chunks: list[Chunk] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    error: ErrorReport | None = None
    next_headers: dict[str, str] = field(default_factory=dict, repr=False)
    """The headers ``/next`` sends with the event."""
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def body(self) -> bytes:
        """The whole response body received so far."""
        return b"".join(chunk.data for chunk in self.chunks)

    def done(self) -> bool:
        """Whether the runtime has finished answering (response or error)."""
        return self.completed_at is not None

    def wait(self, timeout: float | None = None) -> InvocationHandle:
        """Block until answered; raise :class:`TimeoutError` after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(self.done, timeout):
                raise TimeoutError(
                    f"invocation {self.request_id} not answered within {timeout} s "
                    f"(status {self.status})"
                )
        return self

    def iter_chunks(self, timeout: float | None = None) -> Iterator[bytes]:
        """Yield the response's chunks as they arrive, until it is complete."""
        index = 0

        def ready() -> bool:
            return len(self.chunks) > index or self.done()

        while True:
            with self._cond:
                if not self._cond.wait_for(ready, timeout):
                    raise TimeoutError(f"no chunk of {self.request_id} within {timeout} s")
                available = self.chunks[index:]
                finished = self.done()
            for chunk in available:
                yield chunk.data
            index += len(available)
            if finished and index >= len(self.chunks):
                return

    def json(self) -> Any:
        """The buffered response parsed as JSON (raises if the invocation failed)."""
        self._require_success()
        return json.loads(self.body)

    def http_response(self) -> tuple[dict[str, Any], bytes]:
        """A streamed HTTP response split into its JSON prelude and its body bytes."""
        body = self.body
        end = body.find(DELIMITER)
        if end < 0:
            raise ValueError(
                f"invocation {self.request_id}: no 8-NUL delimiter after the JSON prelude"
            )
        prelude: dict[str, Any] = json.loads(body[:end])
        return prelude, body[end + len(DELIMITER) :]

    def _require_success(self) -> None:
        if self.status != "success":
            raise RuntimeError(
                f"invocation {self.request_id} ended with status {self.status}: {self.error}"
            )

    def _complete(self, status: str, error: ErrorReport | None = None) -> None:
        with self._cond:
            if self.completed_at is not None:
                return  # the first outcome stands (a stream already failed its prelude)
            self.status = status
            if error is not None:
                self.error = error
            self.completed_at = time.monotonic()
            self.completed_epoch_ms = int(time.time() * 1000)
            self._cond.notify_all()

    def _add_chunk(self, data: bytes) -> None:
        with self._cond:
            self.chunks.append(Chunk(data, time.monotonic()))
            self._cond.notify_all()


class RuntimeAPIServer:
    """A Runtime API on ``host:port`` (port 0 picks a free one); start it with
    :meth:`start` or ``with``. Point a runtime at :attr:`address`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        function_name: str = "local-function",
        region: str = "us-east-1",
        snap_start: bool = False,
        handler: str = "",
    ) -> None:
        self.function_name = function_name
        self.function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.snap_start = snap_start
        self.handler = handler
        self.init_error: ErrorReport | None = None
        self.restore_error: ErrorReport | None = None
        self.restored_at: float | None = None
        self.extensions: list[dict[str, Any]] = []
        self.next_calls: list[float] = []
        """``time.monotonic()`` of every ``/next`` request, in order."""
        self._queue: queue.Queue[InvocationHandle] = queue.Queue()
        self._invocations: dict[str, InvocationHandle] = {}
        self._current: InvocationHandle | None = None
        self._lock = threading.Condition()
        self._initialized = False
        self._closed = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.api = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port``, the value for ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeAPIServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (a runtime waiting in ``/next`` sees its connection closed)."""
        self._closed.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> RuntimeAPIServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- invoking ------------------------------------------------------------------------

    def submit(
        self,
        event: Any,
        *,
        deadline_ms: int | None = None,
        timeout_s: float = 30.0,
        request_id: str | None = None,
        trace_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        cognito_identity: Mapping[str, Any] | None = None,
    ) -> InvocationHandle:
        """Queue ``event`` (JSON-serialisable, or bytes sent as they are) for the runtime.

        The deadline is ``deadline_ms`` (epoch ms) or ``timeout_s`` from now.
        """
        handle = InvocationHandle(
            request_id=request_id or str(uuid.uuid4()),
            event=event,
            deadline_ms=deadline_ms or int((time.time() + timeout_s) * 1000),
        )
        handle.next_headers = _next_headers(
            handle, self.function_arn, trace_id, client_context, cognito_identity
        )
        with self._lock:
            self._invocations[handle.request_id] = handle
        self._queue.put(handle)
        return handle

    def invoke(self, event: Any, *, timeout_s: float = 30.0, **options: Any) -> InvocationHandle:
        """Submit ``event`` and wait for its answer (a little past its deadline at most)."""
        return self.submit(event, timeout_s=timeout_s, **options).wait(timeout_s + 5)

    def wait_idle(self, calls: int, timeout: float = 10.0) -> None:
        """Wait until the runtime has made ``calls`` ``/next`` requests (it is then idle)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.next_calls) >= calls, timeout):
                raise TimeoutError(
                    f"the runtime made {len(self.next_calls)} /next requests, not {calls}, "
                    f"within {timeout} s"
                )

    def wait_init_error(self, timeout: float = 10.0) -> ErrorReport:
        """Wait for an ``/init/error`` report and return it."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.init_error is not None, timeout):
                raise TimeoutError(f"no /init/error within {timeout} s")
        assert self.init_error is not None
        return self.init_error

    # -- request handling (server threads) -----------------------------------------------

    def _dispatch(self, request: _Handler, method: str) -> None:
        path = request.path.split("?", 1)[0]
        if method == "GET" and path == _INVOCATION + "next":
            self._next(request)
        elif method == "POST" and path.startswith(_INVOCATION):
            request_id, _, action = path[len(_INVOCATION) :].partition("/")
            if action == "response":
                self._response(request, request_id)
            elif action == "error":
                self._invocation_error(request, request_id)
            else:
                request.reply(404, _error("NotFound", f"no route POST {path}"))
        elif method == "POST" and path == _RUNTIME + "/init/error":
            self._record_error(request, "init_error")
        elif method == "GET" and path == _RUNTIME + "/restore/next":
            self._restore_next(request)
        elif method == "POST" and path == _RUNTIME + "/restore/error":
            self._record_error(request, "restore_error")
        elif method == "POST" and path == "/2020-01-01/extension/register":
            self._register(request)
        else:
            request.read_body()
            request.reply(404, _error("NotFound", f"no route {method} {path}"))

    def _next(self, request: _Handler) -> None:
        with self._lock:
            self.next_calls.append(time.monotonic())
            self._initialized = True
            previous, self._current = self._current, None
            self._lock.notify_all()
            init_failed = self.init_error is not None
        if init_failed:
            request.reply(403, _error("InvalidStateTransition", "/next after /init/error"))
            return
        if previous is not None and not previous.done():
            previous._complete(
                "error",
                ErrorReport(
                    "Runtime.MissingResponse",
                    {"errorMessage": "the runtime asked for the next event without answering"},
                    time.monotonic(),
                ),
            )
        while True:
            try:
                handle = self._queue.get(timeout=0.05)
                break
            except queue.Empty:
                if self._closed.is_set():
                    request.close_connection = True
                    return
        with self._lock:
            self._current = handle
            handle.status = "running"
            handle.delivered_at = time.monotonic()
        event = handle.event
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        request.reply(200, body, headers=handle.next_headers)

    def _invocation_for(self, request: _Handler, request_id: str) -> InvocationHandle | None:
        with self._lock:
            handle = self._invocations.get(request_id)
            current = self._current
        if handle is None:
            request.read_body()
            request.reply(400, _error("InvalidRequestID", f"unknown request id {request_id!r}"))
            return None
        if handle is not current or handle.done():
            request.read_body()
            request.reply(
                403,
                _error(
                    "InvalidStateTransition",
                    f"invocation {request_id} is not in progress (status {handle.status})",
                ),
            )
            return None
        return handle

    def _response(self, request: _Handler, request_id: str) -> None:
        handle = self._invocation_for(request, request_id)
        if handle is None:
            return
        mode = request.headers.get("Lambda-Runtime-Function-Response-Mode")
        if mode is not None and mode != "streaming":
            request.read_body()
            request.reply(
                400,
                _error(
                    "InvalidResponseModeHeader",
                    f"Lambda-Runtime-Function-Response-Mode must be 'streaming', got {mode!r}",
                ),
            )
            return
        handle.streaming = mode == "streaming"
        handle.content_type = request.headers.get("Content-Type")
        handle.response_started_at = time.monotonic()
        limit = STREAMED_RESPONSE_LIMIT if handle.streaming else BUFFERED_RESPONSE_LIMIT
        on_chunk: Callable[[bytes], None] = handle._add_chunk
        prelude_check: _PreludeCheck | None = None
        content_type = (handle.content_type or "").split(";", 1)[0].strip().lower()
        if handle.streaming and content_type == HTTP_INTEGRATION_CONTENT_TYPE:
            on_chunk = prelude_check = _PreludeCheck(handle)
        try:
            _size, trailers = request.read_body(on_chunk, limit)
        except _TooLarge:
            kind = "Function.ResponseSizeTooLarge"
            message = (
                f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."
            )
            report = ErrorReport(kind, {"errorMessage": message}, time.monotonic())
            handle._complete("error", report)
            request.reply(413, _error("RequestEntityTooLarge", message))
            return
        except _Incomplete:
            handle._complete(
                "error",
                ErrorReport(
                    "Runtime.TruncatedResponse",
                    {"errorMessage": "the runtime closed the response before its end"},
                    time.monotonic(),
                ),
            )
            return
        handle.trailers = trailers
        if prelude_check is not None:
            prelude_check.end()
        error_kind = trailers.get("lambda-runtime-function-error-type")
        if error_kind:
            report = ErrorReport(
                error_kind,
                _decode_trailer_body(trailers.get("lambda-runtime-function-error-body", "")),
                time.monotonic(),
            )
            handle._complete("error", report)
        else:
            handle._complete("success")
        request.reply(202, {"status": "OK"})

    def _invocation_error(self, request: _Handler, request_id: str) -> None:
        handle = self._invocation_for(request, request_id)
        if handle is None:
            return
        handle._complete("error", self._read_error(request))
        request.reply(202, {"status": "OK"})

    def _record_error(self, request: _Handler, attribute: str) -> None:
        report = self._read_error(request)
        with self._lock:
            setattr(self, attribute, report)
            self._lock.notify_all()
        request.reply(202, {"status": "OK"})

    def _read_error(self, request: _Handler) -> ErrorReport:
        chunks: list[bytes] = []
        request.read_body(chunks.append)
        raw = b"".join(chunks)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        kind = request.headers.get("Lambda-Runtime-Function-Error-Type", "Runtime.Unknown")
        cause = request.headers.get("Lambda-Runtime-Function-XRay-Error-Cause")
        try:
            xray_cause = json.loads(cause) if cause else None
        except ValueError:
            xray_cause = cause
        return ErrorReport(kind, body, time.monotonic(), xray_cause)

    def _restore_next(self, request: _Handler) -> None:
        with self._lock:
            allowed = self.snap_start and not self._initialized and self.restored_at is None
            if allowed:
                self.restored_at = time.monotonic()
                self._lock.notify_all()
        if not allowed:
            request.reply(
                403,
                _error(
                    "InvalidStateTransition",
                    "/restore/next is only valid once, during the init of a SnapStart function",
                ),
            )
            return
        request.reply(200, b"")

    def _register(self, request: _Handler) -> None:
        chunks: list[bytes] = []
        request.read_body(chunks.append)
        name = request.headers.get("Lambda-Extension-Name")
        with self._lock:
            initialized = self._initialized
        if initialized:
            request.reply(403, _error("InvalidStateTransition", "register after init"))
            return
        try:
            payload = json.loads(b"".join(chunks) or b"{}")
            events = payload["events"]
            valid = isinstance(events, list) and set(events) <= _EXTENSION_EVENTS
        except (ValueError, KeyError, TypeError):
            valid = False
        if not name or not valid:
            request.reply(
                400,
                _error(
                    "InvalidRequest",
                    "register needs a Lambda-Extension-Name header and a JSON body "
                    '{"events": [...]} with events among INVOKE, SHUTDOWN',
                ),
            )
            return
        identifier = str(uuid.uuid4())
        with self._lock:
            self.extensions.append({"name": name, "events": events, "id": identifier})
        request.reply(
            200,
            {
                "functionName": self.function_name,
                "functionVersion": "$LATEST",
                "handler": self.handler,
            },
            headers={"Lambda-Extension-Identifier": identifier},
        )


class _PreludeCheck:
    """Passes the chunks of a streamed HTTP response on to its handle while checking that the
    8-NUL delimiter ends within the stream's first :data:`PRELUDE_LIMIT` bytes.

    AWS documents the rule but not how a violation is reported: the Runtime API does not read
    the prelude, the front door (Function URL, API Gateway) does and answers the caller 502.
    So here the runtime's request still gets its 202, and the invocation is recorded as a
    function error of type ``Function.InvalidHttpIntegrationResponse`` (our name) as soon as
    the first 16 KiB have arrived without the delimiter; later chunks are dropped, as the
    front door has given up on the stream.
    """

    __slots__ = ("failed", "found", "handle", "head")

    def __init__(self, handle: InvocationHandle) -> None:
        self.handle = handle
        self.head = b""
        self.found = False
        self.failed = False

    def __call__(self, data: bytes) -> None:
        if self.failed:
            return
        if not self.found:
            self.head += data[: PRELUDE_LIMIT - len(self.head)]
            self.found = DELIMITER in self.head
            if not self.found and len(self.head) >= PRELUDE_LIMIT:
                self._fail(f"no 8-NUL delimiter within the first {PRELUDE_LIMIT} bytes")
                return
        self.handle._add_chunk(data)

    def end(self) -> None:
        """The stream is complete: one that never had its delimiter fails too."""
        if not self.found and not self.failed:
            self._fail(f"the stream ended after {len(self.head)} bytes without its delimiter")

    def _fail(self, what: str) -> None:
        self.failed = True
        message = (
            f"Invalid {HTTP_INTEGRATION_CONTENT_TYPE} stream: {what}. The JSON prelude and its "
            f"8-NUL delimiter must come within the first {PRELUDE_LIMIT} bytes; the front door "
            "answers 502."
        )
        report = ErrorReport(
            "Function.InvalidHttpIntegrationResponse",
            {"errorType": "InvalidHttpIntegrationResponse", "errorMessage": message},
            time.monotonic(),
        )
        self.handle._complete("error", report)


class _TooLarge(Exception):
    pass


class _Incomplete(Exception):
    pass


def _error(kind: str, message: str) -> dict[str, str]:
    return {"errorType": kind, "errorMessage": message}


def _decode_trailer_body(value: str) -> Any:
    try:
        return json.loads(base64.b64decode(value))
    except ValueError:
        return value


def _next_headers(
    handle: InvocationHandle,
    arn: str,
    trace_id: str | None,
    client_context: Mapping[str, Any] | None,
    cognito_identity: Mapping[str, Any] | None,
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Aws-Request-Id": handle.request_id,
        "Lambda-Runtime-Deadline-Ms": str(handle.deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": arn,
        "Lambda-Runtime-Trace-Id": trace_id
        or f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};"
        "Sampled=0",
    }
    if client_context is not None:
        headers["Lambda-Runtime-Client-Context"] = json.dumps(client_context)
    if cognito_identity is not None:
        headers["Lambda-Runtime-Cognito-Identity"] = json.dumps(cognito_identity)
    return headers


class _HTTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    api: RuntimeAPIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed or stopped mid-request resets its connection: not an error here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One connection from the runtime (HTTP/1.1, kept alive)."""

    protocol_version = "HTTP/1.1"
    # Small responses must not wait for the runtime's delayed ACK (Nagle's algorithm).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.api._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.api._dispatch(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the runtime's own logs are what matters

    def reply(
        self,
        status: int,
        body: bytes | Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a response (a mapping body as JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def read_body(
        self, on_chunk: Any = None, limit: int | None = None
    ) -> tuple[int, dict[str, str]]:
        """Read the request body (Content-Length or chunked, with trailers), passing each
        piece to ``on_chunk`` as it arrives. Returns the size and the trailers (lower-cased
        names). Raises ``_TooLarge`` past ``limit`` (once the body is read and dropped, so
        the connection stays usable) and
        ``_Incomplete`` if the runtime closed the connection mid-body."""
        rfile = self.rfile
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            size = 0
            while True:
                line = rfile.readline(65537)
                if not line:
                    self.close_connection = True
                    raise _Incomplete
                try:
                    length = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise _Incomplete from None
                if length == 0:
                    break
                data = rfile.read(length)
                if len(data) != length or rfile.readline(65537) not in (b"\r\n", b"\n"):
                    self.close_connection = True
                    raise _Incomplete
                size += length
                if limit is not None and size > limit:
                    on_chunk = None  # drop the rest, then answer 413
                elif on_chunk is not None:
                    on_chunk(data)
            trailers: dict[str, str] = {}
            while True:
                line = rfile.readline(65537)
                if line in (b"\r\n", b"\n"):
                    break
                if not line:
                    self.close_connection = True
                    raise _Incomplete
                name, _, value = line.decode("latin-1").partition(":")
                trailers[name.strip().lower()] = value.strip()
            if limit is not None and size > limit:
                raise _TooLarge
            return size, trailers
        length = int(self.headers.get("Content-Length") or 0)
        data = rfile.read(length) if length else b""
        if len(data) != length:
            self.close_connection = True
            raise _Incomplete
        if limit is not None and length > limit:
            raise _TooLarge
        if on_chunk is not None and data:
            on_chunk(data)
        return length, {}
