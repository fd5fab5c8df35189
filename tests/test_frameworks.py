"""Differential tests: five real frameworks, each served through the adapter with HTTP API v2
events and, for the same requests, by httpx.ASGITransport. Status, headers and body match."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from lambda_asgi import LambdaAdapter, LambdaContext

from . import frameworks
from .events import http_api_v2_event
from .frameworks import BIG, FRAMEWORKS, PNG

HOST = "abc123.execute-api.us-east-1.amazonaws.com"

# (method, decoded path, raw query, request headers, body)
REQUESTS: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
    ("GET", "/query", "a=1&a=2&b=x%20y&c=%2B&d=", {}, None),
    ("GET", "/path/café au lait", "", {}, None),
    ("GET", "/path/100%", "", {}, None),
    ("GET", "/cookies", "", {"cookie": "session=abc; theme=dark"}, None),
    ("POST", "/upload", "", {"content-type": "application/octet-stream"}, bytes(range(256)) * 64),
    ("GET", "/download", "", {}, None),
    ("GET", "/gzip", "", {}, None),
    ("GET", "/redirect", "", {}, None),
    ("GET", "/missing", "", {}, None),
    ("GET", "/error", "", {}, None),
    ("GET", "/stream", "", {}, None),
    ("GET", "/big", "", {}, None),
    ("GET", "/file", "", {}, None),
]

IDS = [f"{method} {path}" for method, path, *_ in REQUESTS]


def lambda_response_as_http(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """A v2 proxy response as the client of API Gateway receives it."""
    headers = [(name, value) for name, value in response["headers"].items()]
    headers += [("set-cookie", cookie) for cookie in response.get("cookies", [])]
    body = response["body"]
    raw = base64.b64decode(body) if response["isBase64Encoded"] else body.encode()
    return response["statusCode"], sorted(headers), raw


def httpx_response_as_http(
    response: httpx.Response, raw: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    grouped: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        grouped.setdefault(name.lower(), []).append(value)
    headers = []
    for name, values in grouped.items():
        if name == "set-cookie":
            headers += [(name, value) for value in values]
        else:
            headers.append((name, ", ".join(values)))
    return response.status_code, sorted(headers), raw


def direct(app: Any, method: str, path: str, query: str, headers: dict[str, str], body: Any) -> Any:
    async def go() -> tuple[int, list[tuple[str, str]], bytes]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"https://{HOST}") as client:
            url = quote(path) + (f"?{query}" if query else "")
            request = client.build_request(method, url, headers=headers, content=body)
            response = await client.send(request, stream=True)
            # The bytes as sent (httpx would decode a gzip body).
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
            return httpx_response_as_http(response, raw)

    return asyncio.run(go())


@pytest.fixture(scope="module", params=sorted(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> tuple[str, Any, LambdaAdapter]:
    app = FRAMEWORKS[request.param]()
    return request.param, app, LambdaAdapter(app)


@pytest.mark.parametrize(("method", "path", "query", "headers", "body"), REQUESTS, ids=IDS)
def test_adapter_matches_a_direct_asgi_client(
    framework: tuple[str, Any, LambdaAdapter],
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    name, app, handler = framework
    logging.getLogger("lambda_asgi").setLevel(logging.CRITICAL)
    event = http_api_v2_event(
        method, path, query, headers=headers, body=body, binary=body is not None
    )
    # A v2 event carries the Cookie header in cookies[], as HTTP API sends it.
    if "cookie" in headers:
        event["headers"].pop("cookie")
        event["cookies"] = headers["cookie"].split("; ")
    ours = lambda_response_as_http(handler(event, LambdaContext.local()))
    theirs = direct(app, method, path, query, {"accept": "*/*", **headers}, body)
    assert ours[0] == theirs[0], name
    # httpx adds nothing to response headers; compare everything but the date.
    assert [h for h in ours[1] if h[0] != "date"] == [h for h in theirs[1] if h[0] != "date"]
    assert ours[2] == theirs[2]
    if path == "/download":
        assert ours[2] == PNG
    if path == "/big":
        assert ours[2] == BIG
    if path == "/file" and name in ("fastapi", "starlette"):
        assert ours[2] == Path(frameworks.__file__).read_bytes()
    if path == "/stream":
        assert ours[2] == b"".join(f"chunk {i}\n".encode() for i in range(5))
