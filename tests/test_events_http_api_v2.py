"""HTTP API (payload 2.0) and Function URL: exact scopes and exact responses."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI, Request

from lambda_asgi import LambdaAdapter, LambdaContext
from lambda_asgi.config import AdapterConfig
from lambda_asgi.events import detect_source
from lambda_asgi.events.base import ResponseHeaders

from . import events as builders
from .events import function_url_event, http_api_v2_event

CONTEXT = LambdaContext.local()


def scope_of(event: dict[str, Any], **options: Any) -> tuple[dict[str, Any], bytes]:
    source = detect_source(event)
    scope, body = source.to_scope(event, CONTEXT, AdapterConfig.build(**options))
    assert scope.pop("aws.event") is event
    assert scope.pop("aws.context") is CONTEXT
    return scope, body


BASE_HEADERS = [
    (b"accept", b"*/*"),
    (b"host", b"abc123.execute-api.us-east-1.amazonaws.com"),
    (b"user-agent", b"test-client/1.0"),
    (b"x-forwarded-for", b"203.0.113.7"),
    (b"x-forwarded-port", b"443"),
    (b"x-forwarded-proto", b"https"),
]


def test_full_scope_of_a_v2_event() -> None:
    event = http_api_v2_event(
        "POST",
        "/items/a b",
        "tag=x&tag=y&q=%2B1",
        body='{"a": 1}',
        headers={"Content-Type": "application/json"},
        cookies=["session=abc", "theme=dark"],
    )
    scope, body = scope_of(event)
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/items/a b",
        "raw_path": b"/items/a%20b",
        "root_path": "",
        "query_string": b"tag=x&tag=y&q=%2B1",
        "headers": [
            *BASE_HEADERS,
            (b"content-type", b"application/json"),
            (b"cookie", b"session=abc; theme=dark"),
        ],
        "client": ("203.0.113.7", 0),
        "server": ("abc123.execute-api.us-east-1.amazonaws.com", 443),
    }
    assert body == b'{"a": 1}'


@pytest.mark.parametrize(
    ("path", "stage", "base_path", "root_path"),
    [
        ("/items", "$default", None, ""),
        ("/prod/items", "prod", None, "/prod"),
        ("/items", "prod", None, ""),  # custom domain: the stage is not in the path
        ("/products", "prod", None, ""),  # a prefix only counts on a segment boundary
        ("/api/v1/items", "$default", "/api/v1", "/api/v1"),
        ("/api/v1/items", "$default", "api/v1/", "/api/v1"),
        ("/prod/api/items", "prod", "/api", "/prod/api"),
        ("/other/items", "$default", "/api", ""),
        ("/prod", "prod", None, "/prod"),
    ],
)
def test_root_path_from_stage_and_base_path(
    path: str, stage: str, base_path: str | None, root_path: str
) -> None:
    scope, _ = scope_of(http_api_v2_event("GET", path, stage=stage), base_path=base_path)
    assert (scope["path"], scope["root_path"]) == (path, root_path)


def test_function_url_keeps_the_path_encoding() -> None:
    event = function_url_event("GET", "/files/a%2Fb/space%20x", "redirect=https%3A%2F%2Fe.com")
    scope, _ = scope_of(event)
    assert scope["path"] == "/files/a/b/space x"
    assert scope["raw_path"] == b"/files/a%2Fb/space%20x"
    assert scope["query_string"] == b"redirect=https%3A%2F%2Fe.com"
    assert scope["server"] == ("abcdefghij.lambda-url.us-east-1.on.aws", 443)
    assert detect_source(event).name == "function-url"


@pytest.mark.parametrize(
    ("body", "is_base64", "expected"),
    [
        (None, False, b""),
        ("", False, b""),
        ("", True, b""),
        ("héllo", False, "héllo".encode()),
        (base64.b64encode(b"\x89PNG\x00\xff").decode(), True, b"\x89PNG\x00\xff"),
    ],
)
def test_request_bodies(body: str | None, is_base64: bool, expected: bytes) -> None:
    event = http_api_v2_event("POST", "/")
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    assert scope_of(event)[1] == expected


def test_missing_host_falls_back_to_the_domain_name_and_null_maps_are_empty() -> None:
    event = http_api_v2_event("GET", "/")
    event["headers"] = None
    event["queryStringParameters"] = None
    event["rawQueryString"] = ""
    scope, _ = scope_of(event)
    assert scope["headers"] == []
    assert scope["server"] == ("abc123.execute-api.us-east-1.amazonaws.com", 443)
    assert scope["query_string"] == b""


def respond(
    headers: list[tuple[bytes, bytes]], body: bytes, status: int = 200, **options: Any
) -> dict[str, Any]:
    event = http_api_v2_event()
    config = AdapterConfig.build(**options)
    source = detect_source(event)
    return source.to_response(
        status, ResponseHeaders(headers, config.exclude_headers), body, event, config
    )


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        (
            [(b"content-type", b"application/json")],
            b'{"ok": true}',
            {
                "statusCode": 200,
                "headers": {"content-type": "application/json"},
                "body": '{"ok": true}',
                "isBase64Encoded": False,
            },
        ),
        (
            [
                (b"Content-Type", b"text/html; charset=utf-8"),
                (b"Set-Cookie", b"a=1; Path=/"),
                (b"set-cookie", b"b=2; HttpOnly"),
                (b"Vary", b"Accept"),
                (b"vary", b"Cookie"),
            ],
            "<p>é</p>".encode(),
            {
                "statusCode": 200,
                "headers": {"content-type": "text/html; charset=utf-8", "vary": "Accept, Cookie"},
                "body": "<p>é</p>",
                "isBase64Encoded": False,
                "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            },
        ),
        (
            [(b"content-type", b"image/png")],
            b"\x89PNG\r\n",
            {
                "statusCode": 200,
                "headers": {"content-type": "image/png"},
                "body": base64.b64encode(b"\x89PNG\r\n").decode(),
                "isBase64Encoded": True,
            },
        ),
        (
            [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")],
            gzip.compress(b"{}", mtime=0),
            {
                "statusCode": 200,
                "headers": {"content-type": "application/json", "content-encoding": "gzip"},
                "body": base64.b64encode(gzip.compress(b"{}", mtime=0)).decode(),
                "isBase64Encoded": True,
            },
        ),
        (
            [(b"content-type", b"application/problem+json")],
            b"{}",
            {
                "statusCode": 200,
                "headers": {"content-type": "application/problem+json"},
                "body": "{}",
                "isBase64Encoded": False,
            },
        ),
        (
            [(b"content-type", b"text/plain")],
            b"\xff\xfe not utf-8",
            {
                "statusCode": 200,
                "headers": {"content-type": "text/plain"},
                "body": base64.b64encode(b"\xff\xfe not utf-8").decode(),
                "isBase64Encoded": True,
            },
        ),
        (
            [],
            b"",
            {"statusCode": 200, "headers": {}, "body": "", "isBase64Encoded": False},
        ),
    ],
)
def test_responses(
    headers: list[tuple[bytes, bytes]], body: bytes, expected: dict[str, Any]
) -> None:
    assert respond(headers, body) == expected


def test_exclude_headers_applies_to_v2() -> None:
    response = respond(
        [(b"Server", b"uvicorn"), (b"x-keep", b"1"), (b"set-cookie", b"a=1")],
        b"",
        exclude_headers=["server", "Set-Cookie"],
    )
    assert response == {
        "statusCode": 200,
        "headers": {"x-keep": "1"},
        "body": "",
        "isBase64Encoded": False,
    }


def test_url_for_behind_a_stage_builds_working_links() -> None:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int, request: Request) -> dict[str, str]:
        return {"self": str(request.url_for("item", item_id=item_id)), "url": str(request.url)}

    handler = LambdaAdapter(app, lifespan="off")
    response = handler(http_api_v2_event("GET", "/prod/items/3", "a=1", stage="prod"), CONTEXT)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "self": "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items/3",
        "url": "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items/3?a=1",
    }


def test_header_names_are_remembered_in_a_bounded_table() -> None:
    # An event (or a caller) that invents header names must not grow memory for ever.
    from lambda_asgi.events.base import REQUEST_NAMES, RESPONSE_NAMES

    for index in range(3000):
        name = f"X-Invented-{index}"
        scope, _ = scope_of(http_api_v2_event("GET", "/", headers={name: "v"}))
        assert (name.lower().encode(), b"v") in scope["headers"]
        raw = [(f"X-Out-{index}".encode(), b"v")]
        assert ResponseHeaders(raw, frozenset()).unique == {f"x-out-{index}": "v"}
    assert len(REQUEST_NAMES) <= 1024
    assert len(RESPONSE_NAMES) <= 1024


def test_origins_are_remembered_per_header_values_in_a_bounded_table() -> None:
    # A function answers for a few hosts, so each (proto, host, port) is parsed once; the
    # answer still follows every header, and invented hosts cannot grow memory for ever.
    from lambda_asgi.events.base import _ORIGINS

    for index in range(200):
        host = f"h{index}.example.org"
        for proto, port, expected in [
            ("https", "443", ("https", (host, 443))),
            ("http", "80", ("http", (host, 80))),
            ("http", "8080", ("http", (host, 8080))),
        ]:
            headers = [("Host", host), ("X-Forwarded-Proto", proto), ("X-Forwarded-Port", port)]
            scope, _ = scope_of(builders.rest_event("GET", "/", headers=headers))
            assert (scope["scheme"], scope["server"]) == expected
    assert len(_ORIGINS) <= 64


@pytest.mark.parametrize(
    "build",
    [
        lambda headers: http_api_v2_event(
            "GET", "/", headers={name.lower(): value for name, value in headers}
        ),
        lambda headers: builders.rest_event("GET", "/", headers=headers),
        lambda headers: builders.alb_event("GET", "/", headers=headers),
        lambda headers: builders.alb_event("GET", "/", headers=headers, multi_value=True),
        lambda headers: builders.edge_event("GET", "/", headers=headers),
        lambda headers: builders.lattice_event("GET", "/", headers=headers),
        lambda headers: builders.lattice_event("GET", "/", headers=headers, version=1),
    ],
    ids=["v2", "rest", "alb", "alb-multi-value", "edge", "lattice-v2", "lattice-v1"],
)
def test_header_names_past_the_table_bound_still_convert(
    build: Callable[[list[tuple[str, str]]], dict[str, Any]],
) -> None:
    # Once the name table is full, names it has not learnt take the general path: every
    # source still delivers them, lower-cased, with their values.
    from lambda_asgi.events.base import REQUEST_NAMES

    for index in range(1100):
        scope_of(http_api_v2_event("GET", "/", headers={f"x-fill-{index}": "v"}))
    assert len(REQUEST_NAMES) == 1024
    headers = [("Host", "example.org"), ("X-Never-Seen-Before", "1"), ("Cookie", "a=1")]
    scope, _ = scope_of(build(headers))
    assert (b"x-never-seen-before", b"1") in scope["headers"]
    assert (b"cookie", b"a=1") in scope["headers"]
    assert scope["server"][0] == "example.org"


@pytest.mark.parametrize(
    ("headers", "scheme", "server"),
    [
        # What HTTP API sends: read without a header map.
        ({}, "https", ("abc123.execute-api.us-east-1.amazonaws.com", 443)),
        # Anything else goes through the general path, letter case and all.
        (
            {"X-Forwarded-Proto": "http", "x-forwarded-proto": "http"},
            "http",
            ("abc123.execute-api.us-east-1.amazonaws.com", 443),
        ),
        (
            {"x-forwarded-port": "8443"},
            "https",
            ("abc123.execute-api.us-east-1.amazonaws.com", 8443),
        ),
        ({"host": "api.example.com:9000"}, "https", ("api.example.com", 9000)),
    ],
)
def test_scheme_and_server_from_the_forwarding_headers(
    headers: dict[str, str], scheme: str, server: tuple[str, int]
) -> None:
    scope, _ = scope_of(http_api_v2_event("GET", "/", headers=headers))
    assert (scope["scheme"], scope["server"]) == (scheme, server)
