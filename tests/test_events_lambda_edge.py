"""Lambda@Edge viewer-request / origin-request: exact scopes and exact CloudFront responses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse

from lambda_asgi import InvalidEventError, LambdaAdapter, UnsupportedEventError
from lambda_asgi.config import AdapterConfig
from lambda_asgi.events import detect_source
from lambda_asgi.events.base import ResponseHeaders
from lambda_asgi.events.lambda_edge import (
    ORIGIN_RESPONSE_LIMIT,
    SOURCE,
    VIEWER_RESPONSE_LIMIT,
)

from .events import PNG_BYTES, edge_event, fixed_response_app

DOMAIN = "d111111abcdef8.cloudfront.net"


def scope_of(event: dict[str, Any], base_path: str | None = None) -> tuple[dict[str, Any], bytes]:
    assert detect_source(event) is SOURCE
    return SOURCE.to_scope(event, None, AdapterConfig.build(base_path=base_path))


def test_full_scope() -> None:
    event = edge_event(
        "POST",
        "/files/a%2Fb",
        "q=a%2Bb&r=x+y",
        headers=[("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Probe", "1"), ("X-Probe", "2")],
        body=b"\x00\x01binary",
    )
    scope, body = SOURCE.to_scope(event, "ctx", AdapterConfig.build())
    assert body == b"\x00\x01binary"
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/files/a/b",
        "raw_path": b"/files/a%2Fb",
        "root_path": "",
        "query_string": b"q=a%2Bb&r=x+y",
        "headers": [
            (b"host", DOMAIN.encode()),
            (b"user-agent", b"test-client/1.0"),
            (b"x-probe", b"1"),
            (b"x-probe", b"2"),
            # Every Cookie header CloudFront passed reaches the app, joined as RFC 6265 says.
            (b"cookie", b"a=1; b=2"),
        ],
        "client": ("203.0.113.178", 0),
        "server": (DOMAIN, 443),
        "aws.event": event,
        "aws.context": "ctx",
    }


@pytest.mark.parametrize(
    ("uri", "base_path", "expected"),
    [
        ("/", None, ("/", b"/", "")),
        ("", None, ("/", b"/", "")),
        ("/api/v1/items", "/api/v1", ("/api/v1/items", b"/api/v1/items", "/api/v1")),
        ("/caf%C3%A9/a+b", None, ("/café/a+b", b"/caf%C3%A9/a+b", "")),
    ],
)
def test_paths(uri: str, base_path: str | None, expected: tuple[str, bytes, str]) -> None:
    scope = scope_of(edge_event(uri=uri), base_path)[0]
    assert (scope["path"], scope["raw_path"], scope["root_path"]) == expected


@pytest.mark.parametrize(
    ("proto", "scheme", "port"),
    [("http", "http", 80), ("HTTP", "http", 80), ("https", "https", 443), ("gopher", "https", 443)],
)
def test_scheme_and_port_from_cloudfront_forwarded_proto(
    proto: str, scheme: str, port: int
) -> None:
    event = edge_event(headers=[("CloudFront-Forwarded-Proto", proto)])
    scope = scope_of(event)[0]
    assert (scope["scheme"], scope["server"]) == (scheme, (DOMAIN, port))


def test_null_maps() -> None:
    bare = edge_event()
    request = bare["Records"][0]["cf"]["request"]
    request["headers"] = None
    del request["querystring"], request["clientIp"]
    scope, body = scope_of(bare)
    assert (scope["headers"], scope["query_string"], scope["client"], body) == ([], b"", None, b"")
    # No Host header: the distribution's domain.
    assert scope["server"] == (DOMAIN, 443)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"encoding": "text", "data": "a=1&b=2", "inputTruncated": False}, b"a=1&b=2"),
        ({"encoding": "base64", "data": "", "inputTruncated": False}, b""),
        (
            {"encoding": "base64", "data": base64.b64encode(PNG_BYTES).decode()},
            PNG_BYTES,
        ),
    ],
)
def test_request_body(body: dict[str, Any], expected: bytes) -> None:
    event = edge_event("POST")
    event["Records"][0]["cf"]["request"]["body"] = body
    assert scope_of(event)[1] == expected


def test_truncated_body_is_a_clear_error() -> None:
    event = edge_event("POST", body=b"x" * 10)
    event["Records"][0]["cf"]["request"]["body"]["inputTruncated"] = True
    with pytest.raises(InvalidEventError, match="truncated"):
        scope_of(event)


@pytest.mark.parametrize("event_type", ["origin-response", "viewer-response"])
def test_response_triggers_are_refused_clearly(event_type: str) -> None:
    event = edge_event(event_type=event_type)
    event["Records"][0]["cf"]["response"] = {"status": "200", "headers": {}}
    with pytest.raises(UnsupportedEventError, match=f"Lambda@Edge {event_type} event"):
        detect_source(event)


def respond(
    raw: list[tuple[bytes, bytes]], body: bytes, status: int = 200, **kwargs: Any
) -> dict[str, Any]:
    headers = ResponseHeaders(raw, frozenset())
    return SOURCE.to_response(status, headers, body, edge_event(**kwargs), AdapterConfig.build())


def test_response_format() -> None:
    raw = [
        (b"Content-Type", b"text/html"),
        (b"Set-Cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        # CloudFront refuses these in a generated response (502): they are left out.
        (b"Content-Length", b"2"),
        (b"Connection", b"keep-alive"),
        (b"X-Amzn-RequestId", b"abc"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    assert respond(raw, b"hi") == {
        "status": "200",
        "statusDescription": "OK",
        "headers": {
            "content-type": [{"key": "content-type", "value": "text/html"}],
            "set-cookie": [
                {"key": "set-cookie", "value": "a=1"},
                {"key": "set-cookie", "value": "b=2"},
            ],
        },
        "body": "hi",
        "bodyEncoding": "text",
    }


def test_binary_and_empty_responses() -> None:
    image = respond([(b"content-type", b"image/png")], PNG_BYTES)
    assert (image["body"], image["bodyEncoding"]) == (
        base64.b64encode(PNG_BYTES).decode(),
        "base64",
    )
    empty = respond([], b"", 304)
    assert empty == {
        "status": "304",
        "statusDescription": "Not Modified",
        "headers": {},
        "body": "",
        "bodyEncoding": "text",
    }


@pytest.mark.parametrize(
    ("event_type", "limit", "size"),
    [
        ("viewer-request", VIEWER_RESPONSE_LIMIT, "40 KB"),
        ("origin-request", ORIGIN_RESPONSE_LIMIT, "1 MB"),
    ],
)
def test_generated_response_limits_are_clear_502s(event_type: str, limit: int, size: str) -> None:
    raw = [(b"content-type", b"text/plain")]
    fits = respond(raw, b"x" * (limit - 1024), event_type=event_type)
    assert fits["status"] == "200"
    too_big = respond(raw, b"x" * limit, event_type=event_type)
    assert too_big["status"] == "502"
    assert too_big["statusDescription"] == "Bad Gateway"
    message = json.loads(too_big["body"])["message"]
    assert size in message and event_type in message


def test_through_the_adapter() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = JSONResponse(
            {
                "cookies": request.cookies,
                "url": str(request.url),
                "body": (await request.body()).decode(),
            },
            headers={"X-Internal": "1"},
        )
        response.set_cookie("s", "1")
        response.set_cookie("t", "2")
        await response(scope, receive, send)

    handler = LambdaAdapter(app, lifespan="off", exclude_headers=["x-internal"])
    event = edge_event(
        "POST", "/api/items", "a=1", headers=[("Cookie", "x=1"), ("Cookie", "y=2")], body=b"hello"
    )
    response = handler(event, None)
    assert response["status"] == "200"
    assert json.loads(response["body"]) == {
        "cookies": {"x": "1", "y": "2"},
        "url": f"https://{DOMAIN}/api/items?a=1",
        "body": "hello",
    }
    assert "x-internal" not in response["headers"]
    assert "content-length" not in response["headers"]
    assert [h["value"] for h in response["headers"]["set-cookie"]] == [
        "s=1; Path=/; SameSite=lax",
        "t=2; Path=/; SameSite=lax",
    ]


def test_viewer_limit_through_the_adapter() -> None:
    app = fixed_response_app(200, [(b"content-type", b"image/png")], PNG_BYTES * 3000)
    response = LambdaAdapter(app, lifespan="off")(edge_event(event_type="viewer-request"), None)
    assert response["status"] == "502"
    assert response["headers"]["content-type"] == [
        {"key": "content-type", "value": "application/json"}
    ]
