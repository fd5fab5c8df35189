"""A small FastAPI app used by ``make samples`` and the sample events in ``events/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from lambda_asgi import LambdaAdapter


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # Runs once per cold start; the state reaches every request as request.state.
    yield {"greeting": "hello"}


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def index(request: Request) -> dict[str, Any]:
    return {
        "message": f"{request.state.greeting} from lambda-asgi",
        "path": request.url.path,
        "root_path": request.scope["root_path"],
        "query": dict(request.query_params),
    }


@app.get("/items/{item_id}")
async def get_item(item_id: int, request: Request) -> dict[str, Any]:
    return {"item_id": item_id, "url": str(request.url_for("get_item", item_id=item_id))}


@app.post("/echo")
async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type=request.headers.get("content-type", "text/plain"))


@app.get("/cookies")
async def cookies(request: Request, response: Response) -> dict[str, str]:
    response.set_cookie("visited", "yes")
    response.set_cookie("theme", "dark")
    return dict(request.cookies)


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"line {number}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain")


handler = LambdaAdapter(app)
