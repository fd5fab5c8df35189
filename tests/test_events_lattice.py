"""VPC Lattice event structures v1 and v2: exact scopes and exact responses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse

from lambda_asgi import LambdaAdapter
from lambda_asgi.config import AdapterConfig
from lambda_asgi.events import detect_source
from lambda_asgi.events.base import EventSource, ResponseHeaders
from lambda_asgi.events.lattice import SOURCE_V1, SOURCE_V2

from .events import PNG_BYTES, fixed_response_app, lattice_event

HOST = "svc-0123.7d67968.vpc-lattice-svcs.us-east-1.on.aws"
SOURCES = {1: SOURCE_V1, 2: SOURCE_V2}


def scope_of(event: dict[str, Any], version: int) -> tuple[dict[str, Any], bytes]:
    source = detect_source(event)
    assert source is SOURCES[version]
    return source.to_scope(event, None, AdapterConfig.build())


@pytest.mark.parametrize("version", [1, 2])
def test_full_scope(version: int) -> None:
    event = lattice_event(
        "POST",
        "/orders/a%2Fb",
        [("q", "a+b"), ("when", "1 2")],
        headers=[("Cookie", "a=1"), ("X-Probe", "x")],
        body=b'{"id": 5}',
        version=version,
    )
    scope, body = scope_of(event, version)
    assert body == b'{"id": 5}'
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/orders/a/b",
        "raw_path": b"/orders/a%2Fb",
        "root_path": "",
        "query_string": b"q=a%2Bb&when=1%202",
        "headers": [
            (b"host", HOST.encode()),
            (b"user-agent", b"test-client/1.0"),
            (b"x-forwarded-for", b"10.0.0.7"),
            (b"cookie", b"a=1"),
            (b"x-probe", b"x"),
        ],
        "client": ("10.0.0.7", 0),
        "server": (HOST, 443),
        "aws.event": event,
        "aws.context": None,
    }


def test_v1_repeated_headers_arrive_comma_joined_and_stay_so() -> None:
    event = lattice_event(headers=[("accept", "a/b"), ("accept", "c/d")], version=1)
    assert (b"accept", b"a/b,c/d") in scope_of(event, 1)[0]["headers"]


def test_v2_list_values_and_string_values() -> None:
    event = lattice_event(
        query=[("k", "1"), ("k", "2")],
        headers=[("X-Probe", "first"), ("X-Probe", "second"), ("cookie", "a=1"), ("cookie", "b=2")],
    )
    event["headers"]["x-single"] = "s"  # a plain string, as early v2 samples show
    event["queryStringParameters"]["one"] = "v"
    scope = scope_of(event, 2)[0]
    assert scope["query_string"] == b"k=1&k=2&one=v"
    assert [v for k, v in scope["headers"] if k == b"x-probe"] == [b"first", b"second"]
    assert (b"x-single", b"s") in scope["headers"]
    assert [v for k, v in scope["headers"] if k == b"cookie"] == [b"a=1; b=2"]


@pytest.mark.parametrize("version", [1, 2])
def test_query_attached_to_the_path_is_used_as_sent(version: int) -> None:
    event = lattice_event(path="/p%20q?x=a%2Bb&y=%E2%98%95", query=[("x", "a+b")], version=version)
    scope = scope_of(event, version)[0]
    assert (scope["path"], scope["raw_path"]) == ("/p q", b"/p%20q")
    assert scope["query_string"] == b"x=a%2Bb&y=%E2%98%95"


def test_v2_identity_is_in_the_event_the_scope_carries() -> None:
    scope = scope_of(lattice_event(), 2)[0]
    identity = scope["aws.event"]["requestContext"]["identity"]
    assert identity["principal"] == "arn:aws:iam::123456789012:role/caller"


@pytest.mark.parametrize("version", [1, 2])
def test_null_and_missing_maps(version: int) -> None:
    event = lattice_event(version=version)
    for key in ("headers", "queryStringParameters", "query_string_parameters", "body"):
        if key in event:
            event[key] = None
    scope, body = scope_of(event, version)
    assert (scope["headers"], scope["query_string"], body) == ([], b"", b"")
    keep = ("raw_path", "path", "method", "requestContext")
    missing = {key: value for key, value in event.items() if key in keep}
    scope, body = scope_of(missing, version)
    assert (scope["path"], scope["server"], scope["client"]) == ("/", ("localhost", 443), None)


@pytest.mark.parametrize("version", [1, 2])
def test_empty_body_flagged_base64(version: int) -> None:
    event = lattice_event("POST", body=b"", version=version)
    assert event["isBase64Encoded" if version == 2 else "is_base64_encoded"] is True
    assert scope_of(event, version)[1] == b""


def respond(source: EventSource, raw: list[tuple[bytes, bytes]], body: bytes) -> dict[str, Any]:
    headers = ResponseHeaders(raw, frozenset())
    return source.to_response(200, headers, body, lattice_event(), AdapterConfig.build())


@pytest.mark.parametrize("version", [1, 2])
def test_responses(version: int) -> None:
    source = SOURCES[version]
    cookies = [(b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2")]
    assert respond(source, cookies, b"hi") == {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "headers": {"content-type": "text/plain", "set-cookie": "a=1", "Set-cookie": "b=2"},
        "body": "hi",
        "isBase64Encoded": False,
    }
    image = respond(source, [(b"content-type", b"image/png")], PNG_BYTES)
    assert (image["body"], image["isBase64Encoded"]) == (base64.b64encode(PNG_BYTES).decode(), True)
    empty = respond(source, [], b"")
    assert (empty["headers"], empty["body"], empty["isBase64Encoded"]) == ({}, "", False)


@pytest.mark.parametrize("version", [1, 2])
def test_through_the_adapter_with_base_path_and_exclude_headers(version: int) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        response = JSONResponse(
            {
                "url": str(request.url),
                "route": scope["path"][len(scope["root_path"]) :],
                "body": body.decode(),
                "q": request.query_params.getlist("q"),
            },
            headers={"Server": "app/1.0"},
        )
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        await response(scope, receive, send)

    handler = LambdaAdapter(app, lifespan="off", base_path="/svc", exclude_headers=["server"])
    event = lattice_event(
        "POST", "/svc/items", [("q", "a+b"), ("q", "c")], body=b"payload", version=version
    )
    response = handler(event, None)
    assert json.loads(response["body"]) == {
        "url": f"https://{HOST}/svc/items?" + ("q=a%2Bb&q=c" if version == 2 else "q=c"),
        "route": "/items",
        "body": "payload",
        # v1 keeps only the last value of a repeated query key (Lattice's own rule).
        "q": ["a+b", "c"] if version == 2 else ["c"],
    }
    assert "server" not in response["headers"]
    assert [response["headers"]["set-cookie"], response["headers"]["Set-cookie"]] == [
        "a=1; Path=/; SameSite=lax",
        "b=2; Path=/; SameSite=lax",
    ]


def test_binary_through_the_adapter() -> None:
    app = fixed_response_app(200, [(b"content-type", b"image/png")], PNG_BYTES)
    response = LambdaAdapter(app, lifespan="off")(lattice_event(), None)
    assert base64.b64decode(response["body"]) == PNG_BYTES
