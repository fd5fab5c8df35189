"""Apps and plain handlers that the runtime tests run in a real ``lambda-asgi runtime`` process.

Markers (lifespan, background tasks, SnapStart hooks) are written to the files named by the
``MARKER_DIR`` environment variable, with ``time.monotonic()`` stamps (one clock for every
process of the machine), so the tests can order them against what the Runtime API recorded.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sse_starlette.sse import EventSourceResponse

MARKER_DIR = Path(os.environ.get("MARKER_DIR", "."))


def mark(name: str, text: str = "") -> None:
    """Append ``<monotonic> <text>`` to the marker file ``name``."""
    with open(MARKER_DIR / name, "a", encoding="utf-8") as handle:
        handle.write(f"{time.monotonic()!r} {text}\n")


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    mark("lifespan", "startup")
    yield {"greeting": "hello"}
    await asyncio.sleep(0.01)  # a real await in shutdown: it runs on the loop
    mark("lifespan", "shutdown")


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def index() -> dict[str, str]:
    return {"message": "hello from the runtime"}


@app.get("/cookies")
async def cookies(response: Response) -> dict[str, bool]:
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    response.headers["x-custom"] = "yes"
    return {"ok": True}


@app.get("/stream")
async def stream(n: int = 10, delay: float = 0.1) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(n):
            if number:
                await asyncio.sleep(delay)
            yield f"chunk {number}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/sse")
async def sse(n: int = 5, delay: float = 0.1) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        for number in range(n):
            if number:
                await asyncio.sleep(delay)
            yield {"event": "tick", "data": str(number)}

    return EventSourceResponse(events())


@app.get("/big")
async def big(mb: int = 50) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(mb):
            # A fresh 1 MiB chunk each time: nothing is kept once it is sent.
            yield bytes([65 + number % 26]) * (1024 * 1024)

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@app.get("/fail-mid")
async def fail_mid() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.sleep(0.01)
        yield b"second\n"
        raise RuntimeError("boom mid-stream")

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/background")
async def background(tasks: BackgroundTasks, name: str) -> JSONResponse:
    async def work() -> None:
        await asyncio.sleep(0.3)
        mark(name, "background done")

    tasks.add_task(work)
    return JSONResponse({"queued": True}, background=tasks)


@app.get("/slow")
async def slow(seconds: float = 10.0) -> dict[str, str]:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        mark("slow", "cancelled")
        raise
    return {"slept": str(seconds)}


@app.get("/big-cookies")
async def big_cookies(n: int = 20, streamed: bool = False) -> Response:
    """``n`` cookies of 1 KiB each: the stream prelude passes 16 KiB from n = 16 on."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"streamed body"

    response: Response = (
        StreamingResponse(chunks(), media_type="text/plain")
        if streamed
        else JSONResponse({"cookies": n})
    )
    for number in range(n):
        response.set_cookie(f"c{number}", "v" * 1024)
    return response


@app.get("/in-flight")
async def in_flight(tasks: BackgroundTasks, seconds: float = 1.0) -> JSONResponse:
    """Slow, with post-response work: what SIGTERM may interrupt."""
    mark("in-flight", "started")
    await asyncio.sleep(seconds)
    mark("in-flight", "responding")

    async def work() -> None:
        await asyncio.sleep(0.1)
        mark("in-flight", "background done")

    tasks.add_task(work)
    return JSONResponse({"slept": seconds}, background=tasks)


@app.get("/boom")
async def boom() -> dict[str, str]:
    raise ValueError("the app failed before responding")


def plain(event: Any, context: Any) -> Any:
    """A plain (non-ASGI) handler; ``event["action"]`` says what to do."""
    action = event.get("action") if isinstance(event, dict) else None
    if action == "raise":
        raise ValueError(f"plain handler failed on {event.get('value')!r}")
    if action == "huge":
        return {"data": "x" * (7 * 1024 * 1024)}
    if action == "unserializable":
        return {"value": object()}
    if action == "log":
        context.log(event["message"])
        return {"logged": True}
    identity = context.identity
    client = context.client_context
    return {
        "event": event,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "cognito_identity_id": identity.cognito_identity_id if identity else None,
        "app_title": client.client.app_title if client and client.client else None,
        "custom": client.custom if client else None,
    }


async def async_plain(event: Any, context: Any) -> dict[str, Any]:
    """An ``async def`` plain handler."""
    await asyncio.sleep(0)
    return {"async": True, "request_id": context.aws_request_id, "event": event}


if os.environ.get("SNAP_HOOKS"):
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    def _after(label: str) -> None:
        if os.environ.get("SNAP_HOOKS") == "fail-after":
            raise RuntimeError("after-restore hook failed")
        mark("snap", f"after {label}")

    register_before_snapshot(mark, "snap", "before first")
    register_before_snapshot(mark, "snap", "before second")
    register_after_restore(_after, "first")
    register_after_restore(mark, "snap", "after second")
