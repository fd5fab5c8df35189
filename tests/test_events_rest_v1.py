"""API Gateway REST API (v1) and HTTP API payload 1.0: exact scopes and exact responses."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
from fastapi import FastAPI, Request
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import PlainTextResponse

from lambda_asgi import LambdaAdapter, UnsupportedEventError
from lambda_asgi.config import AdapterConfig
from lambda_asgi.events import detect_source
from lambda_asgi.events.base import ResponseHeaders
from lambda_asgi.events.rest_v1 import SOURCE

from .events import PNG_BYTES, fixed_response_app, grouped, rest_event

EXECUTE_API = "abc123.execute-api.us-east-1.amazonaws.com"


def scope_of(event: dict[str, Any], base_path: str | None = None) -> dict[str, Any]:
    assert detect_source(event) is SOURCE
    scope, _ = SOURCE.to_scope(event, None, AdapterConfig.build(base_path=base_path))
    return scope


def test_full_scope_of_a_stage_request() -> None:
    event = rest_event(
        "POST",
        "/items/a%2Fb",
        [("q", "a+b"), ("q", "c d"), ("next", "/x?y=1")],
        headers=[("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Probe", "1"), ("X-Probe", "2")],
        body='{"k": "λ"}',
    )
    scope, body = SOURCE.to_scope(event, "ctx", AdapterConfig.build())
    assert body == '{"k": "λ"}'.encode()
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/prod/items/a/b",
        "raw_path": b"/prod/items/a%2Fb",
        "root_path": "/prod",
        "query_string": b"q=a%2Bb&q=c%20d&next=%2Fx%3Fy%3D1",
        "headers": [
            (b"host", EXECUTE_API.encode()),
            (b"user-agent", b"test-client/1.0"),
            (b"x-forwarded-for", b"203.0.113.7"),
            (b"x-forwarded-port", b"443"),
            (b"x-forwarded-proto", b"https"),
            (b"x-probe", b"1"),
            (b"x-probe", b"2"),
            (b"cookie", b"a=1; b=2"),
        ],
        "client": ("203.0.113.7", 0),
        "server": (EXECUTE_API, 443),
        "aws.event": event,
        "aws.context": "ctx",
    }


# (event, base_path option) -> (path, raw_path, root_path)
ROOT_PATH_CASES = [
    pytest.param(
        rest_event(path="/items"), None, ("/prod/items", b"/prod/items", "/prod"), id="stage"
    ),
    pytest.param(rest_event(path="/"), None, ("/prod/", b"/prod/", "/prod"), id="stage-root"),
    pytest.param(
        rest_event(path="/svc/items"),
        "/svc",
        ("/prod/svc/items", b"/prod/svc/items", "/prod/svc"),
        id="stage+base_path",
    ),
    pytest.param(
        rest_event(path="/svcx/items"),
        "svc/",
        ("/prod/svcx/items", b"/prod/svcx/items", "/prod"),
        id="stage+base_path-not-on-segment-boundary",
    ),
    pytest.param(
        rest_event(path="/items", domain="api.example.com", base_mapping="/api/v1"),
        None,
        ("/api/v1/items", b"/api/v1/items", "/api/v1"),
        id="custom-domain-mapping",
    ),
    pytest.param(
        rest_event(path="/svc/items", domain="api.example.com", base_mapping="/v1"),
        "/svc",
        ("/v1/svc/items", b"/v1/svc/items", "/v1/svc"),
        id="custom-domain-mapping+base_path",
    ),
    pytest.param(
        rest_event(path="/items", domain="api.example.com"),
        None,
        ("/items", b"/items", ""),
        id="custom-domain-no-mapping",
    ),
    pytest.param(
        rest_event(path="/svc/items", domain="api.example.com"),
        "/svc",
        ("/svc/items", b"/svc/items", "/svc"),
        id="custom-domain+base_path",
    ),
    pytest.param(
        rest_event(path="/items", version="1.0", stage="$default"),
        None,
        ("/items", b"/items", ""),
        id="http-api-1.0-default-stage",
    ),
    pytest.param(
        rest_event(path="/dev/items", version="1.0", stage="dev"),
        None,
        ("/dev/items", b"/dev/items", "/dev"),
        id="http-api-1.0-named-stage-is-in-path",
    ),
    pytest.param(
        rest_event(path="/dev/svc/items", version="1.0", stage="dev"),
        "/svc",
        ("/dev/svc/items", b"/dev/svc/items", "/dev/svc"),
        id="http-api-1.0-named-stage+base_path",
    ),
    pytest.param(
        rest_event(path="/files/a%2Fb%20c"),
        None,
        ("/prod/files/a/b c", b"/prod/files/a%2Fb%20c", "/prod"),
        id="encoded-slash-kept-in-raw_path",
    ),
    pytest.param(
        rest_event(path="/a+b/%E2%98%95"),
        None,
        ("/prod/a+b/☕", b"/prod/a+b/%E2%98%95", "/prod"),
        id="plus-and-utf8-in-path",
    ),
    pytest.param(
        rest_event(path="api/items"),
        None,
        ("/prod/api/items", b"/prod/api/items", "/prod"),
        id="missing-leading-slash",
    ),
]


@pytest.mark.parametrize(("event", "base_path", "expected"), ROOT_PATH_CASES)
def test_path_and_root_path(
    event: dict[str, Any], base_path: str | None, expected: tuple[str, bytes, str]
) -> None:
    scope = scope_of(event, base_path)
    assert (scope["path"], scope["raw_path"], scope["root_path"]) == expected
    assert scope["path"].startswith(scope["root_path"])


def custom_domain_event(
    path: str, resource: str = "/{proxy+}", parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """A REST event through a custom domain as AWS sends it: ``path`` and
    ``requestContext.path`` alike start with the base path mapping (Powertools' live capture in
    aws-powertools/powertools-lambda-python#579: both are ``/v1/payment``)."""
    event = rest_event(path=path, domain="api.example.com")
    event["resource"] = event["requestContext"]["resourcePath"] = resource
    event["pathParameters"] = parameters
    return event


# id -> (path, resource, pathParameters, base_path option, root_path). The route the request
# matched is `resource` with `pathParameters` filled in (as AWS's own ASP.NET Core adapter reads
# it); the mapping is whatever `path` has in front of it.
PROXY = "/{proxy+}"
MAPPING_CASES: dict[str, tuple[str, str, dict[str, str] | None, str | None, str]] = {
    "mapping-plain-resource": ("/v1/payment", "/payment", None, None, "/v1"),
    "nested-mapping-proxy": ("/api/v1/items/7", PROXY, {"proxy": "items/7"}, None, "/api/v1"),
    "mapping-without-a-stage": ("/prod/items", PROXY, {"proxy": "items"}, None, "/prod"),
    "mapping-path-parameter": ("/v1/items/7", "/items/{id}", {"id": "7"}, None, "/v1"),
    "mapping-trailing-slash": ("/v1/items/", PROXY, {"proxy": "items"}, None, "/v1"),
    "mapping-encoded-parameter": (
        "/v1/files/a%2Fb%20c",
        PROXY,
        {"proxy": "files/a%2Fb%20c"},
        None,
        "/v1",
    ),
    "mapping-decoded-parameter": ("/v1/files/a%20b", PROXY, {"proxy": "files/a b"}, None, "/v1"),
    "mapping-root-resource": ("/v1/", "/", None, None, "/v1"),
    "root-mapping": ("/items", PROXY, {"proxy": "items"}, None, ""),
    "base_path-naming-the-mapping": ("/v1/payment", "/payment", None, "/v1", "/v1"),
    "mapping+base_path": ("/v1/svc/items", PROXY, {"proxy": "svc/items"}, "/svc", "/v1/svc"),
    # Events that do not say where the route starts leave root_path empty.
    "route-not-at-the-end-of-path": ("/v1/other", PROXY, {"proxy": "items"}, None, ""),
    "empty-greedy-parameter": ("/v1/x", PROXY, {"proxy": ""}, None, ""),
    "parameter-missing": ("/v1/items/7", "/items/{id}", None, None, ""),
    "no-mount-ending-in-a-slash": ("/v1//x", PROXY, {"proxy": "x"}, None, ""),
}


@pytest.mark.parametrize(
    ("path", "resource", "parameters", "base_path", "root_path"),
    MAPPING_CASES.values(),
    ids=MAPPING_CASES.keys(),
)
def test_custom_domain_mapping_is_read_from_the_route_the_request_matched(
    path: str,
    resource: str,
    parameters: dict[str, str] | None,
    base_path: str | None,
    root_path: str,
) -> None:
    scope = scope_of(custom_domain_event(path, resource, parameters), base_path)
    # On a custom domain `path` is the client's whole path: the scope keeps it as sent.
    assert (scope["path"], scope["raw_path"]) == (unquote(path), path.encode("ascii"))
    assert scope["root_path"] == root_path


def test_stage_without_request_context_path_comes_from_stage_on_execute_api_hosts() -> None:
    event = rest_event(path="/items")
    del event["requestContext"]["path"]
    assert scope_of(event)["root_path"] == "/prod"
    custom = rest_event(path="/items", domain="api.example.com")
    del custom["requestContext"]["path"]
    assert (scope_of(custom)["path"], scope_of(custom)["root_path"]) == ("/items", "")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("q", "a+b")], b"q=a%2Bb"),
        ([("q", "a b")], b"q=a%20b"),
        ([("email", "x+y@example.com"), ("empty", "")], b"email=x%2By%40example.com&empty="),
        ([("k", "1"), ("k", "2"), ("j", "&=")], b"k=1&k=2&j=%26%3D"),
        ([("caf\u00e9", "\u2615")], b"caf%C3%A9=%E2%98%95"),
        ([], b""),
    ],
)
def test_query_string_is_rebuilt_percent_encoded(
    query: list[tuple[str, str]], expected: bytes
) -> None:
    assert scope_of(rest_event(query=query))["query_string"] == expected


def test_null_and_missing_maps() -> None:
    null_maps = rest_event()
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "pathParameters"):
        null_maps[key] = None
    null_maps["multiValueQueryStringParameters"] = None
    missing = {
        key: value
        for key, value in null_maps.items()
        if key in ("httpMethod", "path", "requestContext")
    }
    for event in (null_maps, missing):
        scope, body = SOURCE.to_scope(event, None, AdapterConfig.build())
        assert scope["headers"] == []
        assert scope["query_string"] == b""
        assert body == b""
        # No Host header: the server comes from requestContext.domainName.
        assert scope["server"] == (EXECUTE_API, 443)


def test_single_value_maps_alone_and_merged_with_multi_value_ones() -> None:
    event = rest_event(query=[("a", "1")], headers=[("X-One", "1")])
    del event["multiValueHeaders"], event["multiValueQueryStringParameters"]
    scope = scope_of(event)
    assert (b"x-one", b"1") in scope["headers"]
    assert scope["query_string"] == b"a=1"
    # Hand-made events fill the maps differently: nothing in either is lost, no name doubled.
    event = rest_event(query=[("a", "1"), ("a", "2")])
    event["queryStringParameters"]["b"] = "3"
    event["headers"]["X-Only-Single"] = "s"
    scope = scope_of(event)
    assert scope["query_string"] == b"a=1&a=2&b=3"
    assert [v for k, v in scope["headers"] if k == b"x-only-single"] == [b"s"]
    assert len([k for k, _ in scope["headers"] if k == b"host"]) == 1


def test_no_request_context_at_all() -> None:
    event = {"resource": "/todos", "path": "/todos", "httpMethod": "post", "body": "{}"}
    scope, body = SOURCE.to_scope(event, None, AdapterConfig.build())
    assert (scope["method"], scope["path"], scope["root_path"], body) == (
        "POST",
        "/todos",
        "",
        b"{}",
    )
    assert (scope["client"], scope["server"]) == (None, ("localhost", 443))


@pytest.mark.parametrize(
    ("body", "is_base64", "expected"),
    [
        (None, True, b""),
        ("", True, b""),
        (base64.b64encode(PNG_BYTES).decode(), True, PNG_BYTES),
        ("plain", False, b"plain"),
    ],
)
def test_request_body(body: str | None, is_base64: bool, expected: bytes) -> None:
    event = rest_event("POST")
    event["body"], event["isBase64Encoded"] = body, is_base64
    assert SOURCE.to_scope(event, None, AdapterConfig.build())[1] == expected


RESPONSE_CASES = [
    pytest.param(
        [(b"Content-Type", b"application/json"), (b"X-Custom", b"1")],
        b'{"ok":true}',
        {
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-custom": "1"},
            "body": '{"ok":true}',
            "isBase64Encoded": False,
        },
        id="json",
    ),
    pytest.param(
        [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"Set-Cookie", b"b=2")],
        b"hi",
        {
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "hi",
            "isBase64Encoded": False,
        },
        id="two-set-cookie",
    ),
    pytest.param(
        [(b"content-type", b"image/png")],
        PNG_BYTES,
        {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(PNG_BYTES).decode(),
            "isBase64Encoded": True,
        },
        id="binary-image",
    ),
    pytest.param(
        [],
        b"",
        {"statusCode": 200, "headers": {}, "body": "", "isBase64Encoded": False},
        id="empty",
    ),
]


@pytest.mark.parametrize(("headers", "body", "expected"), RESPONSE_CASES)
def test_response(
    headers: list[tuple[bytes, bytes]], body: bytes, expected: dict[str, Any]
) -> None:
    response = SOURCE.to_response(
        200, ResponseHeaders(headers, frozenset()), body, rest_event(), AdapterConfig.build()
    )
    assert response == expected


def url_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}", name="item")
    def item(item_id: int, request: Request) -> dict[str, Any]:
        return {
            "url": str(request.url_for("item", item_id=item_id + 1)),
            "path": request.url.path,
            "root_path": request.scope["root_path"],
        }

    return app


@pytest.mark.parametrize(
    ("event", "base_path", "expected_url"),
    [
        (rest_event(path="/items/1"), None, f"https://{EXECUTE_API}/prod/items/2"),
        (
            rest_event(path="/items/1", domain="api.example.com", base_mapping="/api/v1"),
            None,
            "https://api.example.com/api/v1/items/2",
        ),
        (
            rest_event(path="/svc/items/1", domain="api.example.com"),
            "/svc",
            "https://api.example.com/svc/items/2",
        ),
        (
            rest_event(path="/svc/items/1"),
            "/svc",
            f"https://{EXECUTE_API}/prod/svc/items/2",
        ),
    ],
    ids=["stage", "custom-domain-mapping", "custom-domain+base_path", "stage+base_path"],
)
def test_fastapi_url_for_builds_working_links(
    event: dict[str, Any], base_path: str | None, expected_url: str
) -> None:
    handler = LambdaAdapter(url_app(), lifespan="off", base_path=base_path)
    response = handler(event, None)
    assert response["statusCode"] == 200, response
    data = json.loads(response["body"])
    assert data["url"] == expected_url
    # The request path is the public one (it includes root_path), like the link built from it.
    public_path = urlsplit(expected_url).path
    assert data["path"] == public_path[: -len("2")] + "1"
    assert public_path == data["root_path"] + "/items/2"


def test_two_set_cookie_headers_and_exclude_headers_through_the_adapter() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = PlainTextResponse("ok", headers={"X-Internal": "secret", "X-Kept": "1"})
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        await response(scope, receive, send)

    handler = LambdaAdapter(app, lifespan="off", exclude_headers=["x-internal"])
    response = handler(rest_event(), None)
    assert response == {
        "statusCode": 200,
        "headers": {
            "content-length": "2",
            "x-kept": "1",
            "content-type": "text/plain; charset=utf-8",
        },
        "multiValueHeaders": {
            "set-cookie": ["a=1; Path=/; SameSite=lax", "b=2; Path=/; SameSite=lax"]
        },
        "body": "ok",
        "isBase64Encoded": False,
    }


def test_binary_image_through_the_adapter() -> None:
    app = fixed_response_app(200, [(b"content-type", b"image/png")], PNG_BYTES)
    response = LambdaAdapter(app, lifespan="off")(rest_event(path="/logo.png"), None)
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == PNG_BYTES


def test_websocket_event_with_http_fields_is_not_served() -> None:
    event = rest_event()
    event["requestContext"].update(
        {"eventType": "MESSAGE", "routeKey": "$default", "connectionId": "abc="}
    )
    with pytest.raises(UnsupportedEventError, match="WebSocket"):
        LambdaAdapter(fixed_response_app(), lifespan="off")(event, None)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)), min_size=1, max_size=5
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
)
def test_any_decoded_query_and_path_round_trip(pairs: list[tuple[str, str]], segment: str) -> None:
    """Whatever API Gateway decoded, the app parses back the same values and path."""
    event = rest_event(path="/" + quote(segment, safe=""), query=pairs)
    scope = scope_of(event)
    parsed = parse_qsl(scope["query_string"].decode("ascii"), keep_blank_values=True)
    # Pairs group by key in the multi-value map, so compare per key, in order.
    assert grouped(parsed) == grouped(pairs)
    assert scope["path"] == "/prod/" + segment
    assert unquote(scope["raw_path"].decode("ascii")) == scope["path"]
