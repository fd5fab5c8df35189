"""Application Load Balancer: exact scopes and exact responses, single- and multi-value modes."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import pytest
from fastapi import FastAPI, Request
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from lambda_asgi import LambdaAdapter
from lambda_asgi.config import AdapterConfig
from lambda_asgi.events import detect_source
from lambda_asgi.events.alb import ALB_RESPONSE_LIMIT, SOURCE
from lambda_asgi.events.base import MAX_SINGLE_VALUE_COOKIES, ResponseHeaders

from .events import PNG_BYTES, alb_event, fixed_response_app, grouped

HOST = "my-alb-123.us-east-1.elb.amazonaws.com"


def scope_of(event: dict[str, Any], base_path: str | None = None) -> dict[str, Any]:
    assert detect_source(event) is SOURCE
    scope, _ = SOURCE.to_scope(event, None, AdapterConfig.build(base_path=base_path))
    return scope


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
def test_full_scope(multi_value: bool) -> None:
    event = alb_event(
        "PUT",
        "/files/a%2Fb",
        [("q", "a%2Bb"), ("r", "x+y"), ("url", "https%3A%2F%2Fexample.com%2F")],
        headers=[("cookie", "a=1; b=2")],
        body="data",
        multi_value=multi_value,
    )
    scope, body = SOURCE.to_scope(event, "ctx", AdapterConfig.build())
    assert body == b"data"
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "https",
        "path": "/files/a/b",
        "raw_path": b"/files/a%2Fb",
        "root_path": "",
        # Passed through as ALB received them: no double encoding of %2B, '+' stays '+'.
        "query_string": b"q=a%2Bb&r=x+y&url=https%3A%2F%2Fexample.com%2F",
        "headers": [
            (b"accept", b"*/*"),
            (b"host", HOST.encode()),
            (b"user-agent", b"test-client/1.0"),
            (b"x-forwarded-for", b"203.0.113.7"),
            (b"x-forwarded-port", b"443"),
            (b"x-forwarded-proto", b"https"),
            (b"cookie", b"a=1; b=2"),
        ],
        "client": ("203.0.113.7", 0),
        "server": (HOST, 443),
        "aws.event": event,
        "aws.context": "ctx",
    }


def test_multi_value_mode_keeps_every_value() -> None:
    event = alb_event(
        query=[("k", "1"), ("k", "2")],
        headers=[("x-probe", "first"), ("x-probe", "second"), ("cookie", "a=1"), ("cookie", "b=2")],
        multi_value=True,
    )
    scope = scope_of(event)
    assert scope["query_string"] == b"k=1&k=2"
    assert [v for k, v in scope["headers"] if k == b"x-probe"] == [b"first", b"second"]
    assert [v for k, v in scope["headers"] if k == b"cookie"] == [b"a=1; b=2"]


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("203.0.113.7", ("203.0.113.7", 0)),
        # The caller wrote the first entries; ALB appended the last one, the real peer.
        ("6.6.6.6, 10.0.0.1, 198.51.100.23", ("198.51.100.23", 0)),
        ("2001:db8::1", ("2001:db8::1", 0)),
        ("", None),
    ],
)
def test_client_is_the_last_x_forwarded_for_entry(
    forwarded_for: str, client: tuple[str, int] | None
) -> None:
    assert scope_of(alb_event(forwarded_for=forwarded_for))["client"] == client


@pytest.mark.parametrize(
    ("path", "base_path", "expected"),
    [
        ("/", None, ("/", b"/", "")),
        ("", None, ("/", b"/", "")),
        ("/svc/items", "/svc", ("/svc/items", b"/svc/items", "/svc")),
        ("/service", "/svc", ("/service", b"/service", "")),
        ("/space%20value/+", None, ("/space value/+", b"/space%20value/+", "")),
    ],
)
def test_paths(path: str, base_path: str | None, expected: tuple[str, bytes, str]) -> None:
    scope = scope_of(alb_event(path=path), base_path)
    assert (scope["path"], scope["raw_path"], scope["root_path"]) == expected


def test_null_and_missing_maps_and_health_checks() -> None:
    event = alb_event()
    event["headers"] = None
    event["queryStringParameters"] = None
    event["body"] = None
    scope, body = SOURCE.to_scope(event, None, AdapterConfig.build())
    # A health check has no headers: plain HTTP, no client.
    assert (scope["headers"], scope["query_string"], body) == ([], b"", b"")
    assert (scope["scheme"], scope["server"], scope["client"]) == ("http", ("localhost", 80), None)
    minimal = {"requestContext": {"elb": {}}, "httpMethod": "GET", "path": "/health"}
    assert scope_of(minimal)["path"] == "/health"


@pytest.mark.parametrize(
    ("body", "is_base64", "expected"),
    [("", True, b""), (None, True, b""), (base64.b64encode(PNG_BYTES).decode(), True, PNG_BYTES)],
)
def test_request_body(body: str | None, is_base64: bool, expected: bytes) -> None:
    event = alb_event("POST")
    event["body"], event["isBase64Encoded"] = body, is_base64
    assert SOURCE.to_scope(event, None, AdapterConfig.build())[1] == expected


def respond(
    raw_headers: list[tuple[bytes, bytes]], body: bytes, event: dict[str, Any], status: int = 200
) -> dict[str, Any]:
    headers = ResponseHeaders(raw_headers, frozenset())
    return SOURCE.to_response(status, headers, body, event, AdapterConfig.build())


COOKIES = [(b"content-type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2")]


def test_single_value_response_spells_each_set_cookie_differently() -> None:
    assert respond(COOKIES, b"hi", alb_event()) == {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "isBase64Encoded": False,
        "body": "hi",
        "headers": {"content-type": "text/plain", "set-cookie": "a=1", "Set-cookie": "b=2"},
    }


def test_multi_value_response() -> None:
    assert respond(COOKIES, b"hi", alb_event(multi_value=True)) == {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "isBase64Encoded": False,
        "body": "hi",
        "multiValueHeaders": {"content-type": ["text/plain"], "set-cookie": ["a=1", "b=2"]},
    }


def test_single_value_mode_joins_other_repeated_headers() -> None:
    response = respond([(b"vary", b"accept"), (b"Vary", b"cookie")], b"", alb_event(), 404)
    assert response["headers"] == {"vary": "accept, cookie"}
    assert response["statusDescription"] == "404 Not Found"
    assert respond([], b"", alb_event(), 299)["statusDescription"] == "299"


def test_many_cookies_in_single_value_mode(caplog: pytest.LogCaptureFixture) -> None:
    cookies = [(b"set-cookie", f"c{i}=1".encode()) for i in range(MAX_SINGLE_VALUE_COOKIES + 1)]
    with caplog.at_level(logging.ERROR, logger="lambda_asgi"):
        headers = respond(cookies, b"", alb_event())["headers"]
    assert len(headers) == MAX_SINGLE_VALUE_COOKIES
    assert {name.lower() for name in headers} == {"set-cookie"}
    assert sorted(headers.values()) == sorted(f"c{i}=1" for i in range(MAX_SINGLE_VALUE_COOKIES))
    assert "multi-value headers" in caplog.text


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
def test_binary_and_empty_responses(multi_value: bool) -> None:
    event = alb_event(multi_value=multi_value)
    image = respond([(b"content-type", b"image/png")], PNG_BYTES, event)
    assert (image["body"], image["isBase64Encoded"]) == (base64.b64encode(PNG_BYTES).decode(), True)
    empty = respond([], b"", event, 204)
    assert (empty["body"], empty["isBase64Encoded"], empty["statusDescription"]) == (
        "",
        False,
        "204 No Content",
    )


def cookie_app() -> FastAPI:
    app = FastAPI()

    @app.get("/login")
    def login(request: Request) -> Any:
        response = JSONResponse(
            {"client": request.client.host if request.client else None, "url": str(request.url)},
            headers={"X-Internal": "secret"},
        )
        response.set_cookie("session", "abc")
        response.set_cookie("theme", "dark")
        return response

    return app


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
def test_cookies_and_exclude_headers_through_the_adapter(multi_value: bool) -> None:
    handler = LambdaAdapter(cookie_app(), lifespan="off", exclude_headers=["X-Internal"])
    event = alb_event(
        "GET",
        "/login",
        [("next", "%2Fhome")],
        multi_value=multi_value,
        forwarded_for="6.6.6.6, 1.2.3.4",
    )
    response = handler(event, None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "client": "1.2.3.4",
        "url": f"https://{HOST}/login?next=%2Fhome",
    }
    cookies = ["session=abc; Path=/; SameSite=lax", "theme=dark; Path=/; SameSite=lax"]
    if multi_value:
        headers = response["multiValueHeaders"]
        assert headers["set-cookie"] == cookies
    else:
        headers = response["headers"]
        assert [headers["set-cookie"], headers["Set-cookie"]] == cookies
    assert "x-internal" not in headers
    assert all(name == name.lower() for name in headers if name.lower() != "set-cookie")


def test_response_over_one_megabyte_is_a_clear_502() -> None:
    big = b"x" * ALB_RESPONSE_LIMIT
    handler = LambdaAdapter(fixed_response_app(200, [(b"content-type", b"text/plain")], big))
    response = handler(alb_event(), None)
    assert response["statusCode"] == 502
    assert response["statusDescription"] == "502 Bad Gateway"
    message = json.loads(response["body"])["message"]
    assert "1 MB" in message and "Application Load Balancer" in message
    # Just under the limit goes through unchanged.
    small = b"x" * (ALB_RESPONSE_LIMIT - 1024)
    handler = LambdaAdapter(fixed_response_app(200, [(b"content-type", b"text/plain")], small))
    assert handler(alb_event(), None)["body"] == small.decode()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)), min_size=1, max_size=5
    ),
    st.booleans(),
)
def test_any_client_query_reaches_the_app_unchanged(
    pairs: list[tuple[str, str]], multi_value: bool
) -> None:
    """ALB forwards the client's encoding (here the browser form: quote_plus); no double
    encoding, so the app parses back exactly what the client meant."""
    if not multi_value:
        pairs = list(dict(pairs).items())  # single-value mode keeps one value per key
    raw = [(quote_plus(key), quote_plus(value)) for key, value in pairs]
    scope = scope_of(alb_event(query=raw, multi_value=multi_value))
    # Byte for byte what ALB forwarded (the multi-value map groups a repeated key's values).
    forwarded = [(key, value) for key, values in grouped(raw).items() for value in values]
    assert scope["query_string"] == "&".join(f"{k}={v}" for k, v in forwarded).encode()
    parsed = parse_qsl(scope["query_string"].decode("ascii"), keep_blank_values=True)
    assert grouped(parsed) == grouped(pairs)
