"""``lambda-asgi serve``: a local HTTP front door for a function, without Docker.

uvicorn serves a small ASGI app (:class:`FrontDoor`) that plays the chosen AWS front door:
each HTTP request becomes that source's event (``front_door.py``), which is handed through a
local Runtime API to a ``lambda-asgi runtime`` child process (``sandbox.py``): the same loop,
adapter and app code as in Lambda, one invocation at a time per process. The answer goes
back as HTTP: a buffered response whole, a streamed one chunk by chunk as the runtime sends
it. A function error is a 502 (a timeout a 504) with the error on the console, as API Gateway
answers; the runtime's logs go to the console as they are written.

Needs the ``local`` extra (``pip install 'lambda-asgi[local]'``: uvicorn).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any, TypeVar

from ..events import detect_source
from ..events.base import LAMBDA_PAYLOAD_LIMIT
from ..runtime.loop import STREAMING_SOURCES
from .front_door import (
    SOURCE_NAMES,
    HttpRequest,
    HttpResponse,
    MalformedResponseError,
    build_event,
    http_head,
    proxy_to_http,
    request_body_limit,
    split_prelude,
)
from .runtime_api import ErrorReport
from .sandbox import INIT_TIMEOUT_S, LocalInvocation, Sandbox, SandboxPool

__all__ = ["CodeWatcher", "FrontDoor", "app_root", "serve", "takes_stream"]

logger = logging.getLogger("lambda_asgi.serve")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
T = TypeVar("T")

# Statuses whose responses carry no body (and so no Content-Length).
_NO_BODY_STATUSES = frozenset({204, 304})


class FrontDoor:
    """The ASGI app uvicorn runs: HTTP request -> event -> sandbox -> HTTP response."""

    def __init__(self, pool: SandboxPool, source: str, *, workers: int = 32) -> None:
        if source not in SOURCE_NAMES:
            raise ValueError(f"unknown source {source!r}: choose one of {', '.join(SOURCE_NAMES)}")
        self.pool = pool
        self.source = source
        # Waiting for a sandbox and for each chunk blocks a thread: a pool of our own, so
        # long streams cannot starve the event loop's default executor.
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="lambda-asgi-door")

    async def _blocking(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # uvicorn runs without lifespan and websockets
        try:
            body = await _read_body(receive, request_body_limit(self.source))
        except _Disconnected:
            return  # nothing to invoke the function with, no one to answer
        if body is None:
            await _send_error(send, 413, "Request Entity Too Large")
            return
        request = _http_request(scope, body)
        payload = json.dumps(build_event(self.source, request)).encode()
        if len(payload) > LAMBDA_PAYLOAD_LIMIT:
            logger.error(
                "%s %s: the event is %d bytes, over Lambda's %d-byte invocation payload limit",
                request.method,
                request.path,
                len(payload),
                LAMBDA_PAYLOAD_LIMIT,
            )
            await _send_error(send, 413, "Request Entity Too Large")
            return
        sandbox = await self._blocking(self.pool.acquire)
        try:
            failure = await self._blocking(sandbox.wait_init)
            if failure is not None:
                _report(request, failure)
                await _send_error(send, *_error_status(failure))
                return
            await self._answer(request, sandbox.invoke(payload), send)
        finally:
            self.pool.release(sandbox)

    async def _answer(self, request: HttpRequest, invocation: LocalInvocation, send: Send) -> None:
        chunks = invocation.chunks()
        first = await self._blocking(next, chunks, None)
        if not invocation.streaming:
            data = b"" if first is None else first + await self._blocking(b"".join, chunks)
            await self._answer_buffered(request, invocation, data, send)
            return
        buffer = first or b""
        head = split_prelude(buffer)
        while head is None:
            chunk = await self._blocking(next, chunks, None)
            if chunk is None:
                break
            buffer += chunk
            head = split_prelude(buffer)
        if head is None:
            error = invocation.error()
            if error is None:
                error = _malformed("the response stream ended before its 8-NUL delimiter")
            _report(request, error)
            await _send_error(send, *_error_status(error))
            return
        prelude, rest = head
        try:
            status, headers = http_head(self.source, prelude)
        except MalformedResponseError as exc:
            _report(request, _malformed(str(exc)))
            await _send_error(send, 502, "Internal Server Error")
            return
        # The front door re-frames a stream (chunked): the app's length does not apply.
        headers = [(name, value) for name, value in headers if name != "content-length"]
        await send({"type": "http.response.start", "status": status, "headers": _raw(headers)})
        if rest:
            await send({"type": "http.response.body", "body": rest, "more_body": True})
        while (chunk := await self._blocking(next, chunks, None)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        error = invocation.error()
        if error is not None:
            # The status is gone already: the client sees the body end early, as from AWS.
            _report(request, error)

    async def _answer_buffered(
        self, request: HttpRequest, invocation: LocalInvocation, data: bytes, send: Send
    ) -> None:
        error = invocation.error()
        if error is not None:
            _report(request, error)
            await _send_error(send, *_error_status(error))
            return
        try:
            response = proxy_to_http(self.source, json.loads(data))
        except (ValueError, MalformedResponseError) as exc:
            _report(request, _malformed(f"malformed Lambda proxy response: {exc}"))
            await _send_error(send, 502, "Internal Server Error")
            return
        await _send_response(send, response, head_request=request.method == "HEAD")


class _Disconnected(Exception):
    """The client went away before its request body was complete."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit``."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            return None
        parts.append(part)
        if not message.get("more_body"):
            return b"".join(parts)


def _http_request(scope: Scope, body: bytes) -> HttpRequest:
    client = scope.get("client")
    server = scope.get("server")
    raw_path = scope.get("raw_path")
    return HttpRequest(
        method=scope["method"],
        path=raw_path.decode("latin-1") if raw_path else scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]),
        body=body,
        client_ip=client[0] if client else "127.0.0.1",
        scheme=scope.get("scheme", "http"),
        port=server[1] if server and server[1] else 80,
        host=f"{server[0]}:{server[1]}" if server else "localhost",
        protocol=f"HTTP/{scope.get('http_version', '1.1')}",
    )


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    raw = []
    for name, value in headers:
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            encoded = value.encode("utf-8")
        raw.append((name.encode("latin-1"), encoded))
    return raw


async def _send_response(send: Send, response: HttpResponse, *, head_request: bool) -> None:
    headers = response.headers
    if not head_request:
        # A buffered body is framed by its length, as API Gateway sends it.
        headers = [(name, value) for name, value in headers if name != "content-length"]
        if response.status >= 200 and response.status not in _NO_BODY_STATUSES:
            headers.append(("content-length", str(len(response.body))))
    await send({"type": "http.response.start", "status": response.status, "headers": _raw(headers)})
    await send({"type": "http.response.body", "body": b"" if head_request else response.body})


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    await send({"type": "http.response.start", "status": status, "headers": _raw(headers)})
    await send({"type": "http.response.body", "body": body})


def _error_status(error: ErrorReport) -> tuple[int, str]:
    if error.error_type == "Sandbox.Timedout":
        return 504, "Endpoint request timed out"
    return 502, "Internal Server Error"


def _malformed(message: str) -> ErrorReport:
    return ErrorReport("LambdaAsgi.MalformedResponse", {"errorMessage": message}, time.monotonic())


def _report(request: HttpRequest, error: ErrorReport) -> None:
    """Print a function error on the console (the runtime has logged its traceback)."""
    body = error.body
    message = body.get("errorMessage", "") if isinstance(body, dict) else str(body)
    logger.error(
        "%s %s: function error %s: %s", request.method, request.path, error.error_type, message
    )


def takes_stream(source: str) -> bool:
    """Whether the runtime streams to ``source`` in ``response_stream`` mode (as it decides
    for real events: by the event's source)."""
    event = build_event(source, HttpRequest("GET", "/"))
    return detect_source(event).name in STREAMING_SOURCES


# -- --reload ------------------------------------------------------------------------------

_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "build", "dist"})


def app_root(app: str, app_dir: str | None = None) -> Path:
    """The directory of the app's top-level package (or module), found without importing."""
    base = Path(app_dir or os.getcwd()).resolve()
    top = app.partition(":")[0].split(".")[0]
    spec = PathFinder.find_spec(top, [str(base), *sys.path])
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin).resolve().parent
    return base


class CodeWatcher:
    """Polls the modification times of the ``.py`` files under ``root`` (standard library)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._mtimes = self._scan()

    def _files(self) -> Iterator[Path]:
        for directory, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
            for name in files:
                if name.endswith(".py"):
                    yield Path(directory, name)

    def _scan(self) -> dict[Path, int]:
        mtimes = {}
        for path in self._files():
            try:
                mtimes[path] = path.stat().st_mtime_ns
            except OSError:
                continue  # deleted while walking
        return mtimes

    def changes(self) -> list[Path]:
        """Files added, changed or removed since the last call."""
        current = self._scan()
        changed = [
            p for p in current.keys() | self._mtimes.keys() if current.get(p) != self._mtimes.get(p)
        ]
        self._mtimes = current
        return sorted(changed)


def _watch(watcher: CodeWatcher, pool: SandboxPool, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        changed = watcher.changes()
        if changed:
            names = ", ".join(str(p.relative_to(watcher.root)) for p in changed[:5])
            logger.info("%s changed: restarting the runtime", names)
            pool.reload()


# -- the command ---------------------------------------------------------------------------


def serve(
    app: str,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    source: str = "http-api",
    stream: bool = False,
    reload: bool = False,
    app_dir: str | None = None,
    timeout_s: float = 30.0,
    concurrency: int = 4,
    init_timeout_s: float = INIT_TIMEOUT_S,
    ready: Callable[[str], None] | None = None,
) -> int:
    """Serve ``app`` (``package.module:attribute``) behind a local ``source`` front door
    until SIGINT/SIGTERM; ``ready(url)`` is called once the port is listening.

    ``timeout_s`` is the function's timeout; ``init_timeout_s`` Lambda's init phase limit,
    past which an init shares the function's timeout with the first invocation (see
    :meth:`Sandbox.wait_init`)."""
    try:
        import uvicorn
    except ImportError:
        logger.error("lambda-asgi serve needs uvicorn: pip install 'lambda-asgi[local]'")
        return 2
    if source not in SOURCE_NAMES:
        logger.error("unknown source %r: choose one of %s", source, ", ".join(SOURCE_NAMES))
        return 2

    def sandbox() -> Sandbox:
        return Sandbox(
            app,
            streaming=stream,
            app_dir=app_dir,
            timeout_s=timeout_s,
            init_timeout_s=init_timeout_s,
        )

    if stream and not takes_stream(source):
        logger.warning(
            "--stream: the %s front door cannot take a response stream in AWS, so the runtime "
            "answers it buffered (streaming front doors: %s)",
            source,
            ", ".join(name for name in SOURCE_NAMES if takes_stream(name)),
        )
    pool = SandboxPool(sandbox, size=concurrency)
    door = FrontDoor(pool, source, workers=4 * concurrency + 8)
    config = uvicorn.Config(
        door,
        host=host,
        port=port,
        lifespan="off",
        ws="none",
        proxy_headers=False,
        server_header=False,
        log_level="info",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal that stopped it; handlers of ours let the sandboxes
        # stop (their lifespan shutdown) before the process ends.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
    if reload:
        root = app_root(app, app_dir)
        logger.info("watching %s for changes to .py files", root)
        threading.Thread(target=_watch, args=(CodeWatcher(root), pool, stop), daemon=True).start()
    try:
        return asyncio.run(_run(server, pool, host, source, stream, ready))
    finally:
        stop.set()
        pool.close()
        door.executor.shutdown(wait=False, cancel_futures=True)


async def _run(
    server: Any,
    pool: SandboxPool,
    host: str,
    source: str,
    stream: bool,
    ready: Callable[[str], None] | None,
) -> int:
    """Serve until stopped: 0, or uvicorn's exit status if it could not start."""
    task = asyncio.create_task(_serve_front_door(server))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        # Once the port is ours: a port in use starts no runtime process.
        pool.start()
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://{host}:{port}"
        mode = "streaming" if stream else "buffered"
        logger.info("front door %s (%s responses) listening on %s", source, mode, url)
        if ready is not None:
            ready(url)
    return await task


async def _serve_front_door(server: Any) -> int:
    try:
        await server.serve()
    except SystemExit as exc:
        # uvicorn logs why it cannot start (a port in use), then calls sys.exit(): left to
        # end the task, the exit would be logged again as "Task exception was never
        # retrieved", with its traceback.
        return exc.code if isinstance(exc.code, int) else 1
    return 0
