"""The same small API written in FastAPI, Starlette, Django, Litestar and Quart.

Routes (each framework): ``/query`` (repeated keys), ``/path/{name}`` (unicode), ``/cookies``
(read two, set two), ``/upload`` (binary echo), ``/download`` (PNG bytes), ``/gzip``
(gzip-encoded JSON), ``/redirect``, ``/error`` (raises), ``/stream`` (streamed body),
``/big`` (5 MB text), ``/file`` (FastAPI and Starlette: a FileResponse); anything else is
the framework's own 404.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
GZIPPED = gzip.compress(json.dumps({"compressed": True}).encode(), mtime=0)
BIG = b"0123456789abcdef" * (5 * 1024 * 1024 // 16)


async def chunks() -> AsyncIterator[bytes]:
    for index in range(5):
        yield f"chunk {index}\n".encode()


def query_json(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in items:
        result.setdefault(key, []).append(value)
    return result


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import (
        FileResponse,
        JSONResponse,
        PlainTextResponse,
        RedirectResponse,
        Response,
        StreamingResponse,
    )
    from starlette.routing import Route

    async def query(request: Request) -> Response:
        return JSONResponse(query_json(request.query_params.multi_items()))

    async def path(request: Request) -> Response:
        return JSONResponse({"name": request.path_params["name"]})

    async def cookies(request: Request) -> Response:
        response = JSONResponse(dict(request.cookies))
        response.set_cookie("first", "1")
        response.set_cookie("second", "2", httponly=True)
        return response

    async def upload(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    async def download(request: Request) -> Response:
        return Response(PNG, media_type="image/png")

    async def gzipped(request: Request) -> Response:
        return Response(
            GZIPPED, media_type="application/json", headers={"content-encoding": "gzip"}
        )

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/query?from=redirect", status_code=302)

    async def error(request: Request) -> Response:
        raise RuntimeError("boom")

    async def stream(request: Request) -> Response:
        return StreamingResponse(chunks(), media_type="text/plain")

    async def big(request: Request) -> Response:
        return PlainTextResponse(BIG)

    async def file(request: Request) -> Response:
        return FileResponse(__file__, media_type="text/plain")

    return Starlette(
        routes=[
            Route("/query", query),
            Route("/path/{name}", path),
            Route("/cookies", cookies),
            Route("/upload", upload, methods=["POST"]),
            Route("/download", download),
            Route("/gzip", gzipped),
            Route("/redirect", redirect),
            Route("/error", error),
            Route("/stream", stream),
            Route("/big", big),
            Route("/file", file),
        ]
    )


def fastapi_app() -> Any:
    from fastapi import FastAPI, Request, Response
    from fastapi.responses import (
        FileResponse,
        PlainTextResponse,
        RedirectResponse,
        StreamingResponse,
    )

    app = FastAPI()

    @app.get("/query")
    async def query(request: Request) -> dict[str, list[str]]:
        return query_json(request.query_params.multi_items())

    @app.get("/path/{name}")
    async def path(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/cookies")
    async def cookies(request: Request, response: Response) -> dict[str, str]:
        response.set_cookie("first", "1")
        response.set_cookie("second", "2", httponly=True)
        return dict(request.cookies)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    @app.get("/download")
    async def download() -> Response:
        return Response(PNG, media_type="image/png")

    @app.get("/gzip")
    async def gzipped() -> Response:
        return Response(
            GZIPPED, media_type="application/json", headers={"content-encoding": "gzip"}
        )

    @app.get("/redirect")
    async def redirect() -> RedirectResponse:
        return RedirectResponse("/query?from=redirect", status_code=302)

    @app.get("/error")
    async def error() -> None:
        raise RuntimeError("boom")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/big")
    async def big() -> PlainTextResponse:
        return PlainTextResponse(BIG)

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(__file__, media_type="text/plain")

    return app


def django_app() -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__ + "_django_urls",
            SECRET_KEY="test-only",
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            LOGGING_CONFIG=None,
        )
        django.setup()
    import sys
    import types

    from django.core.asgi import get_asgi_application
    from django.http import (
        HttpRequest,
        HttpResponse,
        HttpResponseRedirect,
        JsonResponse,
        StreamingHttpResponse,
    )
    from django.urls import path as route

    def query(request: HttpRequest) -> HttpResponse:
        return JsonResponse(query_json([(k, v) for k, vs in request.GET.lists() for v in vs]))

    def path(request: HttpRequest, name: str) -> HttpResponse:
        return JsonResponse({"name": name})

    def cookies(request: HttpRequest) -> HttpResponse:
        response = JsonResponse(dict(request.COOKIES))
        response.set_cookie("first", "1")
        response.set_cookie("second", "2", httponly=True)
        return response

    def upload(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.body, content_type="application/octet-stream")

    def download(request: HttpRequest) -> HttpResponse:
        return HttpResponse(PNG, content_type="image/png")

    def gzipped(request: HttpRequest) -> HttpResponse:
        response = HttpResponse(GZIPPED, content_type="application/json")
        response["Content-Encoding"] = "gzip"
        return response

    def redirect(request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect("/query?from=redirect")

    def error(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")

    def stream(request: HttpRequest) -> HttpResponse:
        return StreamingHttpResponse(chunks(), content_type="text/plain")

    def big(request: HttpRequest) -> HttpResponse:
        return HttpResponse(BIG, content_type="text/plain")

    urls = types.ModuleType(__name__ + "_django_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        route("query", query),
        route("path/<str:name>", path),
        route("cookies", cookies),
        route("upload", upload),
        route("download", download),
        route("gzip", gzipped),
        route("redirect", redirect),
        route("error", error),
        route("stream", stream),
        route("big", big),
    ]
    sys.modules[urls.__name__] = urls
    return get_asgi_application()


def litestar_app() -> Any:
    from litestar import Litestar, Request, Response, get, post
    from litestar.datastructures import Cookie
    from litestar.params import FromPath
    from litestar.response import Redirect, Stream

    @get("/query")
    async def query(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
        return query_json(list(request.query_params.multi_items()))

    @get("/path/{name:str}")
    async def path(name: FromPath[str]) -> dict[str, str]:
        return {"name": name}

    @get("/cookies")
    async def cookies(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
        return Response(
            dict(request.cookies),
            cookies=[
                Cookie(key="first", value="1"),
                Cookie(key="second", value="2", httponly=True),
            ],
        )

    @post("/upload", status_code=200)
    async def upload(request: Request[Any, Any, Any]) -> Response[bytes]:
        return Response(await request.body(), media_type="application/octet-stream")

    @get("/download")
    async def download() -> Response[bytes]:
        return Response(PNG, media_type="image/png")

    @get("/gzip")
    async def gzipped() -> Response[bytes]:
        return Response(
            GZIPPED, media_type="application/json", headers={"content-encoding": "gzip"}
        )

    @get("/redirect")
    async def redirect() -> Redirect:
        return Redirect("/query?from=redirect", status_code=302)

    @get("/error")
    async def error() -> None:
        raise RuntimeError("boom")

    @get("/stream")
    async def stream() -> Stream:
        return Stream(chunks(), media_type="text/plain")

    @get("/big")
    async def big() -> Response[bytes]:
        return Response(BIG, media_type="text/plain")

    return Litestar(
        [query, path, cookies, upload, download, gzipped, redirect, error, stream, big],
        logging_config=None,
        # Annotations are strings here (PEP 563); tell Litestar what the names mean.
        signature_namespace={
            "Any": Any,
            "Request": Request,
            "Response": Response,
            "Redirect": Redirect,
            "Stream": Stream,
        },
    )


def quart_app() -> Any:
    from quart import Quart, make_response, request
    from quart import redirect as quart_redirect

    app = Quart(__name__)

    @app.get("/query")
    async def query() -> Any:
        return query_json(list(request.args.items(multi=True)))

    @app.get("/path/<name>")
    async def path(name: str) -> Any:
        return {"name": name}

    @app.get("/cookies")
    async def cookies() -> Any:
        response = await make_response(dict(request.cookies))
        response.set_cookie("first", "1")
        response.set_cookie("second", "2", httponly=True)
        return response

    @app.post("/upload")
    async def upload() -> Any:
        return await request.get_data(), 200, {"content-type": "application/octet-stream"}

    @app.get("/download")
    async def download() -> Any:
        return PNG, 200, {"content-type": "image/png"}

    @app.get("/gzip")
    async def gzipped() -> Any:
        return GZIPPED, 200, {"content-type": "application/json", "content-encoding": "gzip"}

    @app.get("/redirect")
    async def redirect() -> Any:
        return quart_redirect("/query?from=redirect", 302)

    @app.get("/error")
    async def error() -> Any:
        raise RuntimeError("boom")

    @app.get("/stream")
    async def stream() -> Any:
        return chunks(), 200, {"content-type": "text/plain"}

    @app.get("/big")
    async def big() -> Any:
        return BIG, 200, {"content-type": "text/plain"}

    return app


FRAMEWORKS: dict[str, Callable[[], Any]] = {
    "fastapi": fastapi_app,
    "starlette": starlette_app,
    "django": django_app,
    "litestar": litestar_app,
    "quart": quart_app,
}
