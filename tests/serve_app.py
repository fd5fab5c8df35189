"""The app ``tests/test_serve.py`` serves twice: behind ``lambda-asgi serve`` and directly
under uvicorn. Every route answers from what the app itself saw, so both answers must match.

Server-Sent Events carry the ``time.monotonic()`` at which the app produced each event (one
clock for every process of the machine), so a client can tell they arrived one by one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

api = FastAPI()

BINARY = bytes(range(256)) * 4


async def _echo(request: Request, path: str) -> dict[str, Any]:
    body = await request.body()
    return {
        "method": request.method,
        "path": request.url.path,
        "param": path,
        "query": list(request.query_params.multi_items()),
        "url": str(request.url),
        "client": request.client.host if request.client else None,
        "cookies": request.cookies,
        "content_type": request.headers.get("content-type"),
        "custom": request.headers.getlist("x-custom"),
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body": body.decode("utf-8", "replace") if len(body) < 1000 else None,
    }


api.add_api_route("/echo/{path:path}", _echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])


@api.get("/cookies")
async def cookies(response: Response) -> dict[str, bool]:
    response.set_cookie("session", "abc123", httponly=True)
    response.set_cookie("theme", "dark", max_age=3600)
    response.headers["x-custom"] = "set"
    return {"ok": True}


@api.post("/binary")
async def binary_echo(request: Request) -> Response:
    data = await request.body()
    return Response(data[::-1], media_type="application/octet-stream")


@api.get("/binary")
async def binary() -> Response:
    return Response(BINARY, media_type="application/octet-stream")


@api.get("/redirect")
async def redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(str(request.url_for("_echo", path="target")) + "?from=redirect")


@api.get("/redirect-relative")
async def redirect_relative() -> RedirectResponse:
    return RedirectResponse("/echo/relative", status_code=302)


@api.get("/status/{code}")
async def status(code: int) -> Response:
    if code == 404:
        raise HTTPException(status_code=404, detail="nothing here")
    if code == 204:
        return Response(status_code=204)
    return PlainTextResponse(f"status {code}", status_code=code)


@api.get("/error")
async def error() -> dict[str, str]:
    raise RuntimeError("the app failed on purpose")


@api.get("/gzip")
async def gzip_body() -> Response:
    import gzip

    return Response(
        gzip.compress(b'{"compressed": true}', mtime=0),
        media_type="application/json",
        headers={"content-encoding": "gzip"},
    )


@api.get("/sse")
async def sse(n: int = 5, delay: float = 0.3) -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        for number in range(n):
            if number:
                await asyncio.sleep(delay)
            yield f"id: {number}\ndata: {time.monotonic()!r}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream")


@api.get("/crash")
async def crash() -> dict[str, str]:
    os._exit(3)  # the runtime process dies mid-invocation


@api.get("/block")
async def block(seconds: float = 30.0) -> dict[str, str]:
    time.sleep(seconds)  # blocks the event loop: only Lambda's timeout can stop it
    return {"slept": str(seconds)}


@api.get("/pid")
async def pid() -> JSONResponse:
    return JSONResponse({"pid": os.getpid()})


class FailsBeforeResponding:
    """``/function-error`` raises before any response message, outside FastAPI's error
    handling: with ``LAMBDA_ASGI_PROPAGATE_EXCEPTIONS=true`` that is a function error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/function-error":
            raise RuntimeError("the function failed on purpose")
        await self.app(scope, receive, send)


app = FailsBeforeResponding(api)
