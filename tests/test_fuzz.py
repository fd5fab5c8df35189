"""Fuzzed events: whatever arrives, the adapter answers or refuses clearly, and never hangs.

Property, for every event a strategy generates (valid ones, and ones with missing keys, wrong
types, null maps, huge header counts, non-UTF-8 text, invalid base64 bodies, lying
``isBase64Encoded`` flags and odd paths):

* the handler returns a proxy response that is valid for the source that matched the event
  (its exact shape, JSON-serialisable, within the source's size limit), and the app got a
  valid ASGI HTTP scope;
* or it raises :class:`UnsupportedEventError` / :class:`InvalidEventError` with a message;
* nothing else: no other exception, no hang (pytest-timeout), no broken loop.

Every event source has a response check in :data:`RESPONSE_CHECKS` and at least one
:class:`FuzzTarget` (an event strategy) in :data:`FUZZ_TARGETS`; sources with two shapes (REST
and HTTP API payload 1.0, ALB single- and multi-value) have one target per shape. Events are
built from the realistic builders of ``tests/events.py`` and, when the third-party corpus is
present, from its real events of the same kind; then mutated. The normal suite runs a bounded
number of examples per target; ``make fuzz`` sets ``LAMBDA_ASGI_FUZZ_EXAMPLES`` for a long run.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_asgi import InvalidEventError, LambdaAdapter, LambdaContext, UnsupportedEventError
from lambda_asgi.events import all_sources, detect_source
from lambda_asgi.events.alb import is_multi_value
from lambda_asgi.events.lambda_edge import (
    DROPPED_RESPONSE_HEADERS,
    ORIGIN_RESPONSE_LIMIT,
    VIEWER_RESPONSE_LIMIT,
)
from tests.conftest import CORPUS, corpus_index
from tests.events import (
    alb_event,
    edge_event,
    function_url_event,
    http_api_v2_event,
    lattice_event,
    rest_event,
)

#: Examples per target: small in the normal suite, large under ``make fuzz``.
EXAMPLES = int(os.environ.get("LAMBDA_ASGI_FUZZ_EXAMPLES", "150"))

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # hangs are caught by pytest-timeout; never assert on time
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- building blocks --------------------------------------------------------------------

#: Odd but valid Unicode text: control characters, non-BMP, percent signs, a BOM.
odd_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="ascii"), max_size=40),
    st.sampled_from(
        [
            *["", " ", "\x00", "\r\n", "é", "\U0001f600", "%", "%zz", "%2F", "%00", "\ufeff"],
            # Digits int() refuses: a superscript, and more than Python's 4,300-digit limit.
            *["²", "a.example:²", "9" * 5_000, "a.example:" + "9" * 5_000, "[::1]:8080", "::1"],
        ]
    ),
)

#: What JSON can carry but Unicode cannot: lone surrogates (``"\\ud800"`` escapes). Only
#: mutations use it, so that most events stay readable and reach the app.
surrogate_text = st.builds(
    "{}{}{}".format,
    st.text(max_size=5),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.text(max_size=5),
)

odd_paths = st.one_of(
    st.sampled_from(
        [
            "/",
            "",
            "//",
            "/../../etc/passwd",
            "/a/./b/../c",
            "/%2e%2e/%2F",
            "/a%2Fb",
            "/a%zzb",
            "/%",
            "/space here",
            "/?x=1#frag",
            "/caf\u00e9/\U0001f600",
            "/" + "a" * 10_000,
            "/" + "a/" * 2_000,
            "no-leading-slash",
        ]
    ),
    odd_text.map(lambda t: "/" + t),
)

methods = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"]),
    odd_text.filter(bool),  # an empty method is tried by the mutations
)


@st.composite
def header_maps(draw: st.DrawFn) -> dict[str, str]:
    """Few odd headers, or very many plain ones (a cheap way to get thousands)."""
    if draw(st.booleans()):
        # Odd values, often for the headers the adapter reads itself.
        names = odd_text | st.sampled_from(
            ["host", "Host", "x-forwarded-port", "x-forwarded-proto", "x-forwarded-for", "cookie"]
        )
        return draw(st.dictionaries(names, odd_text, max_size=6))
    count = draw(st.sampled_from([0, 1, 100, 2_000]))
    value = draw(st.text(st.characters(codec="ascii"), max_size=20))
    return {f"x-h-{i}": value for i in range(count)}


#: The same, as ``(name, value)`` pairs for the builders that take repeats.
header_lists = header_maps().map(lambda headers: list(headers.items()))

#: Query pairs (decoded for REST, still encoded for ALB and Lattice: odd either way).
query_pairs = st.lists(st.tuples(odd_text, odd_text), max_size=4)

#: Client addresses as AWS might write them, and some it would not.
addresses = st.sampled_from(
    ["203.0.113.7", "2001:db8::1", "", "not-an-ip", "198.51.100.1, 203.0.113.7", " , "]
)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    odd_text,
    surrogate_text,
    st.lists(odd_text | surrogate_text, max_size=3),
    st.dictionaries(odd_text, odd_text | surrogate_text, max_size=3),
)

bodies = st.one_of(
    st.none(),
    st.binary(max_size=64),
    odd_text,
    st.just("not base64 !!!"),
    st.just("QUJD"),  # valid base64 sent with isBase64Encoded false
    st.just("QUJ"),  # bad padding
)

#: Values of an ``isBase64Encoded`` flag: booleans, and what a hand-made event might hold.
base64_flags = st.sampled_from([False, True, "true", 1, None])


def with_body(
    draw: st.DrawFn,
    event: dict[str, Any],
    body_key: str = "body",
    flag_key: str = "isBase64Encoded",
) -> dict[str, Any]:
    """``event`` with a drawn body: base64 of random bytes (flagged or not) or odd text."""
    body = draw(bodies)
    if isinstance(body, bytes):
        event[body_key] = base64.b64encode(body).decode()
        event[flag_key] = draw(st.booleans())  # a lie half of the time
    else:
        event[body_key] = body
        event[flag_key] = draw(base64_flags)
    return event


#: Where a mutation acts: dict keys and list indexes from the event's top level.
FieldPath = tuple[str | int, ...]


def _child(parent: Any, key: str | int) -> Any:
    if isinstance(parent, dict) and isinstance(key, str):
        return parent.get(key)
    if isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        return parent[key]
    return None


def _set_path(event: dict[str, Any], path: FieldPath, value: Any, delete: bool) -> None:
    target: Any = event
    for key in path[:-1]:
        target = _child(target, key)
        if target is None:
            return  # an earlier mutation replaced the parent: nothing to reach
    last = path[-1]
    if isinstance(target, dict) and isinstance(last, str):
        if delete:
            target.pop(last, None)
        else:
            target[last] = value
    elif isinstance(target, list) and isinstance(last, int) and last < len(target):
        if delete:
            del target[last]
        else:
            target[last] = value


def mutated(base: st.SearchStrategy[dict[str, Any]], fields: list[FieldPath]) -> Any:
    """Events of ``base`` with 0 to 4 of ``fields`` deleted or replaced by junk."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        event = draw(base)
        for _ in range(draw(st.integers(0, 4))):
            field = draw(st.sampled_from(fields))
            if draw(st.booleans()):
                _set_path(event, field, None, delete=True)
            else:
                _set_path(event, field, draw(junk), delete=False)
        return event

    return build()


def seeded(
    built: st.SearchStrategy[dict[str, Any]], kind: str, keep: Callable[[Any], bool] = bool
) -> st.SearchStrategy[dict[str, Any]]:
    """``built`` events, or (one in four) real events of ``kind`` from the third-party corpus.

    Corpus events are copied on every draw, since mutations change events in place.
    """
    real = [
        json.loads((CORPUS / entry["file"]).read_text())
        for entry in corpus_index()
        if entry["kind"] == kind
    ]
    real = [event for event in real if keep(event)]
    if not real:
        return built
    corpus = st.sampled_from(real).map(copy.deepcopy)
    return st.one_of(built, built, built, corpus)


# -- HTTP API v2 and Function URL ---------------------------------------------------------

V2_FIELDS: list[FieldPath] = [
    ("version",),
    ("rawPath",),
    ("rawQueryString",),
    ("headers",),
    ("headers", "host"),
    ("headers", "x-forwarded-proto"),
    ("headers", "x-forwarded-port"),
    ("headers", "content-type"),
    ("cookies",),
    ("body",),
    ("isBase64Encoded",),
    ("queryStringParameters",),
    ("pathParameters",),
    ("stageVariables",),
    ("requestContext",),
    ("requestContext", "http"),
    ("requestContext", "http", "method"),
    ("requestContext", "http", "path"),
    ("requestContext", "http", "protocol"),
    ("requestContext", "http", "sourceIp"),
    ("requestContext", "stage"),
    ("requestContext", "domainName"),
    ("requestContext", "requestId"),
]


@st.composite
def v2_base(draw: st.DrawFn, *, build: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    event = build(
        draw(methods),
        draw(odd_paths),
        draw(odd_text),
        headers=draw(header_maps()),
        cookies=draw(st.none() | st.lists(odd_text, max_size=3)),
        stage=draw(st.sampled_from(["$default", "prod", "", "a/b"])),
        source_ip=draw(addresses),
    )
    return with_body(draw, event)


# -- REST API and HTTP API payload 1.0 ----------------------------------------------------

REST_FIELDS: list[FieldPath] = [
    ("version",),
    ("resource",),
    ("path",),
    ("httpMethod",),
    ("headers",),
    ("headers", "Host"),
    ("headers", "X-Forwarded-Proto"),
    ("multiValueHeaders",),
    ("multiValueHeaders", "Host"),
    ("multiValueHeaders", "Host", 0),
    ("multiValueHeaders", "X-Forwarded-Port"),
    ("multiValueHeaders", "Cookie"),
    ("queryStringParameters",),
    ("multiValueQueryStringParameters",),
    ("pathParameters",),
    ("body",),
    ("isBase64Encoded",),
    ("requestContext",),
    ("requestContext", "path"),
    ("requestContext", "stage"),
    ("requestContext", "domainName"),
    ("requestContext", "protocol"),
    ("requestContext", "identity"),
    ("requestContext", "identity", "sourceIp"),
    ("requestContext", "elb"),  # makes it look like an ALB event
]


@st.composite
def rest_base(draw: st.DrawFn, *, version: str | None) -> dict[str, Any]:
    event = rest_event(
        draw(methods),
        draw(odd_paths),
        draw(query_pairs),
        headers=draw(header_lists),
        stage=draw(st.sampled_from(["prod", "$default", "", "a/b"])),
        domain=draw(
            st.sampled_from(["abc123.execute-api.us-east-1.amazonaws.com", "api.example.com", ""])
        ),
        base_mapping=draw(st.sampled_from(["", "/v1", "/a%2Fb/c"])),
        version=version,
        source_ip=draw(addresses),
    )
    return with_body(draw, event)


# -- ALB ----------------------------------------------------------------------------------

ALB_FIELDS: list[FieldPath] = [
    ("httpMethod",),
    ("path",),
    ("headers",),
    ("headers", "host"),
    ("headers", "x-forwarded-for"),
    ("headers", "x-forwarded-proto"),
    ("multiValueHeaders",),
    ("multiValueHeaders", "host"),
    ("multiValueHeaders", "host", 0),
    ("multiValueHeaders", "x-forwarded-for"),
    ("queryStringParameters",),
    ("multiValueQueryStringParameters",),
    ("body",),
    ("isBase64Encoded",),
    ("requestContext",),
    ("requestContext", "elb"),
    ("requestContext", "elb", "targetGroupArn"),
]


@st.composite
def alb_base(draw: st.DrawFn, *, multi_value: bool) -> dict[str, Any]:
    event = alb_event(
        draw(methods),
        draw(odd_paths),
        draw(query_pairs),
        headers=draw(header_lists),
        multi_value=multi_value,
        forwarded_for=draw(addresses),
    )
    return with_body(draw, event)


# -- VPC Lattice ------------------------------------------------------------------------------

#: Lattice may send the query string still attached to the path.
lattice_paths = st.one_of(odd_paths, st.builds("{}?{}".format, odd_paths, odd_text))

LATTICE_V1_FIELDS: list[FieldPath] = [
    ("raw_path",),
    ("method",),
    ("headers",),
    ("headers", "host"),
    ("headers", "x-forwarded-for"),
    ("query_string_parameters",),
    ("body",),
    ("is_base64_encoded",),
]

LATTICE_V2_FIELDS: list[FieldPath] = [
    ("version",),
    ("path",),
    ("method",),
    ("headers",),
    ("headers", "host"),
    ("headers", "host", 0),
    ("headers", "x-forwarded-for"),
    ("queryStringParameters",),
    ("query_string_parameters",),
    ("body",),
    ("isBase64Encoded",),
    ("requestContext",),
    ("requestContext", "serviceNetworkArn"),
    ("requestContext", "targetGroupArn"),
    ("requestContext", "identity"),
]


@st.composite
def lattice_base(draw: st.DrawFn, *, version: int) -> dict[str, Any]:
    event = lattice_event(
        draw(methods),
        draw(lattice_paths),
        draw(query_pairs),
        headers=draw(header_lists),
        version=version,
    )
    return with_body(
        draw, event, flag_key="is_base64_encoded" if version == 1 else "isBase64Encoded"
    )


# -- Lambda@Edge ------------------------------------------------------------------------------

_CF: FieldPath = ("Records", 0, "cf")
_REQUEST: FieldPath = (*_CF, "request")

EDGE_FIELDS: list[FieldPath] = [
    ("Records",),
    ("Records", 0),
    _CF,
    (*_CF, "config"),
    (*_CF, "config", "eventType"),
    (*_CF, "config", "distributionDomainName"),
    (*_CF, "response"),  # a response trigger: not served
    _REQUEST,
    (*_REQUEST, "method"),
    (*_REQUEST, "uri"),
    (*_REQUEST, "querystring"),
    (*_REQUEST, "clientIp"),
    (*_REQUEST, "headers"),
    (*_REQUEST, "headers", "host"),
    (*_REQUEST, "headers", "host", 0),
    (*_REQUEST, "headers", "host", 0, "value"),
    (*_REQUEST, "headers", "cloudfront-forwarded-proto"),
    (*_REQUEST, "body"),
    (*_REQUEST, "body", "data"),
    (*_REQUEST, "body", "encoding"),
    (*_REQUEST, "body", "inputTruncated"),
]


@st.composite
def edge_base(draw: st.DrawFn) -> dict[str, Any]:
    event = edge_event(
        draw(methods),
        draw(odd_paths),
        draw(odd_text),
        headers=draw(header_lists),
        event_type=draw(st.sampled_from(["viewer-request", "origin-request", "", "other"])),
        client_ip=draw(addresses),
    )
    if draw(st.booleans()):
        body = with_body(draw, {}, "data", "encoding")
        body["encoding"] = "base64" if body["encoding"] is True else body["encoding"]
        body["inputTruncated"] = draw(st.sampled_from([False, False, True, None]))
        body["action"] = "read-only"
        event["Records"][0]["cf"]["request"]["body"] = body
    return event


# -- response checks ------------------------------------------------------------------------


def _check_body(body: object, is_base64: object) -> None:
    assert type(body) is str
    assert type(is_base64) is bool
    if is_base64:
        base64.b64decode(body, validate=True)


def _check_status(status: object) -> int:
    assert type(status) is int and 100 <= status <= 599, status
    return status


def _check_single_headers(headers: object) -> None:
    assert type(headers) is dict
    assert all(type(k) is str and type(v) is str for k, v in headers.items())


def _check_multi_headers(headers: object) -> None:
    assert type(headers) is dict
    for name, values in headers.items():
        assert type(name) is str and type(values) is list and values, (name, values)
        assert all(type(v) is str for v in values)


def _check_description(result: Mapping[str, Any], status: int) -> None:
    """ALB's and Lattice's ``statusDescription``: ``"200 OK"``."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    assert result["statusDescription"] == f"{status} {phrase}".rstrip()


def check_v2_response(result: dict[str, Any], event: Mapping[str, Any]) -> int:
    """A payload 2.0 response (HTTP API and Function URL)."""
    assert set(result) <= {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}
    _check_single_headers(result["headers"])
    _check_body(result["body"], result["isBase64Encoded"])
    cookies = result.get("cookies", [])
    assert type(cookies) is list and all(type(c) is str for c in cookies)
    return _check_status(result["statusCode"])


def check_rest_response(result: dict[str, Any], event: Mapping[str, Any]) -> int:
    """A REST / payload 1.0 response: each header name in exactly one of the two maps."""
    assert {"statusCode", "headers", "body", "isBase64Encoded"} <= set(result)
    assert set(result) <= {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
    _check_single_headers(result["headers"])
    multi = result.get("multiValueHeaders", {})
    _check_multi_headers(multi)
    assert not set(multi) & set(result["headers"])
    _check_body(result["body"], result["isBase64Encoded"])
    return _check_status(result["statusCode"])


def check_alb_response(result: dict[str, Any], event: Mapping[str, Any]) -> int:
    """An ALB response, in the header mode of the event (else ALB answers 502)."""
    multi = is_multi_value(event)
    headers_key = "multiValueHeaders" if multi else "headers"
    assert set(result) == {
        "statusCode",
        "statusDescription",
        headers_key,
        "body",
        "isBase64Encoded",
    }
    (_check_multi_headers if multi else _check_single_headers)(result[headers_key])
    _check_body(result["body"], result["isBase64Encoded"])
    status = _check_status(result["statusCode"])
    _check_description(result, status)
    return status


def check_lattice_response(result: dict[str, Any], event: Mapping[str, Any]) -> int:
    """A VPC Lattice response (the same for both event structures)."""
    assert set(result) == {"statusCode", "statusDescription", "headers", "body", "isBase64Encoded"}
    _check_single_headers(result["headers"])
    _check_body(result["body"], result["isBase64Encoded"])
    status = _check_status(result["statusCode"])
    _check_description(result, status)
    return status


def check_edge_response(result: dict[str, Any], event: Mapping[str, Any]) -> int:
    """A CloudFront generated response: string status, ``{key, value}`` header lists."""
    assert set(result) == {"status", "statusDescription", "headers", "body", "bodyEncoding"}
    assert type(result["status"]) is str and result["status"].isdigit()
    status = _check_status(int(result["status"]))
    assert type(result["statusDescription"]) is str
    for name, entries in result["headers"].items():
        assert name == name.lower() and name not in DROPPED_RESPONSE_HEADERS
        assert entries and all(
            set(entry) == {"key", "value"} and type(entry["value"]) is str for entry in entries
        )
    assert result["bodyEncoding"] in ("text", "base64")
    _check_body(result["body"], result["bodyEncoding"] == "base64")
    # cf.config is only read for its eventType (and the distribution's domain when the
    # request has no Host header): anything but an object there means no event type.
    config = event["Records"][0]["cf"].get("config")
    event_type = config.get("eventType") if isinstance(config, Mapping) else None
    viewer = isinstance(event_type, str) and event_type.startswith("viewer")
    limit = VIEWER_RESPONSE_LIMIT if viewer else ORIGIN_RESPONSE_LIMIT
    assert len(json.dumps(result)) <= limit
    return status


#: How to check a served event's response, by the name of the source that served it.
RESPONSE_CHECKS: dict[str, Callable[[dict[str, Any], Mapping[str, Any]], int]] = {
    "http-api-v2": check_v2_response,
    "function-url": check_v2_response,
    "apigw-rest-v1": check_rest_response,
    "alb": check_alb_response,
    "vpc-lattice-v1": check_lattice_response,
    "vpc-lattice-v2": check_lattice_response,
    "lambda-at-edge": check_edge_response,
}


@dataclass(frozen=True)
class FuzzTarget:
    """How to fuzz one shape of event."""

    source: str
    """The name of the source that serves the unmutated events (``EventSource.name``)."""
    events: st.SearchStrategy[Any]
    """Valid and malformed events of that shape."""


def _is_payload_1(event: Any) -> bool:
    return isinstance(event, dict) and event.get("version") == "1.0"


#: One entry per shape of event; every source needs at least one (and a response check).
FUZZ_TARGETS: dict[str, FuzzTarget] = {
    "http-api-v2": FuzzTarget(
        "http-api-v2",
        mutated(seeded(v2_base(build=http_api_v2_event), "http-api-v2"), V2_FIELDS),
    ),
    "function-url": FuzzTarget(
        "function-url",
        mutated(seeded(v2_base(build=function_url_event), "function-url"), V2_FIELDS),
    ),
    "apigw-rest-v1": FuzzTarget(
        "apigw-rest-v1",
        mutated(
            seeded(rest_base(version=None), "apigw-rest-v1", lambda e: not _is_payload_1(e)),
            REST_FIELDS,
        ),
    ),
    "http-api-v1": FuzzTarget(
        "apigw-rest-v1",
        mutated(seeded(rest_base(version="1.0"), "apigw-rest-v1", _is_payload_1), REST_FIELDS),
    ),
    "alb": FuzzTarget("alb", mutated(seeded(alb_base(multi_value=False), "alb"), ALB_FIELDS)),
    "alb-multivalue": FuzzTarget(
        "alb", mutated(seeded(alb_base(multi_value=True), "alb-multivalue"), ALB_FIELDS)
    ),
    "vpc-lattice-v1": FuzzTarget(
        "vpc-lattice-v1",
        mutated(seeded(lattice_base(version=1), "vpc-lattice-v1"), LATTICE_V1_FIELDS),
    ),
    "vpc-lattice-v2": FuzzTarget(
        "vpc-lattice-v2",
        mutated(seeded(lattice_base(version=2), "vpc-lattice-v2"), LATTICE_V2_FIELDS),
    ),
    "lambda-at-edge": FuzzTarget(
        "lambda-at-edge", mutated(seeded(edge_base(), "lambda-at-edge"), EDGE_FIELDS)
    ),
}


# -- the property ---------------------------------------------------------------------------


def check_scope(scope: dict[str, Any]) -> list[str]:
    """What is wrong with an ASGI HTTP scope (empty when it follows the spec)."""
    problems = []
    expected_types = {
        "type": str,
        "http_version": str,
        "method": str,
        "scheme": str,
        "path": str,
        "raw_path": bytes,
        "root_path": str,
        "query_string": bytes,
        "headers": list,
    }
    for key, kind in expected_types.items():
        if type(scope.get(key)) is not kind:
            problems.append(f"scope[{key!r}] is {scope.get(key)!r}, not {kind.__name__}")
    if problems:
        return problems
    if scope["http_version"] not in ("1.0", "1.1", "2"):
        problems.append(f"http_version {scope['http_version']!r}")
    if not scope["method"] or scope["method"] != scope["method"].upper():
        problems.append(f"method {scope['method']!r}")
    if scope["scheme"] not in ("http", "https"):
        problems.append(f"scheme {scope['scheme']!r}")
    for header in scope["headers"]:
        if (
            len(header) != 2
            or type(header[0]) is not bytes
            or type(header[1]) is not bytes
            or header[0] != header[0].lower()
        ):
            problems.append(f"header {header!r}")
    for key in ("client", "server"):
        value = scope.get(key)
        if value is not None and not (
            isinstance(value, tuple)
            and len(value) == 2
            and type(value[0]) is str
            and (value[1] is None or type(value[1]) is int)
        ):
            problems.append(f"{key} {value!r}")
    return problems


class EchoApp:
    """Answers 200 with what it received, and records scopes that break the spec."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.problems.extend(check_scope(scope))
        message = await receive()
        body = message.get("body", b"")
        echo = json.dumps(
            {"method": scope.get("method"), "path": scope.get("path"), "len": len(body)}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"a=1")],
            }
        )
        await send({"type": "http.response.body", "body": echo.encode()})


CONTEXT = LambdaContext()


def serve_one(adapter: LambdaAdapter, app: EchoApp, event: Any) -> str:
    """Serve ``event`` and check the outcome; returns a label for the tally."""
    try:
        result = adapter(event, CONTEXT)
    except (UnsupportedEventError, InvalidEventError) as exc:
        message = str(exc)
        assert len(message) > 20, message
        return type(exc).__name__
    source = detect_source(event)  # it was served, so a source matched
    assert type(result) is dict
    status = RESPONSE_CHECKS[source.name](result, event)
    assert len(json.dumps(result)) <= source.response_limit  # what Lambda does with it
    assert app.problems == [], app.problems
    assert status == 200, result
    return f"{source.name} 200"


@pytest.mark.parametrize("name", list(FUZZ_TARGETS))
def test_fuzzed_events_are_served_or_refused_clearly(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = EchoApp()
    adapter = LambdaAdapter(app, lifespan="off")
    tally: Counter[str] = Counter()

    @FUZZ_SETTINGS
    @given(FUZZ_TARGETS[name].events)
    def run(event: dict[str, Any]) -> None:
        tally[serve_one(adapter, app, event)] += 1

    run()
    # Most events of the target reached the app through its own source.
    assert tally[f"{FUZZ_TARGETS[name].source} 200"] > sum(tally.values()) // 5, tally
    # The loop is intact after everything the fuzzer threw at it.
    ok = adapter(http_api_v2_event("GET", "/after"), CONTEXT)
    assert json.loads(ok["body"])["path"] == "/after"
    with capsys.disabled():
        print(f"\n[fuzz] {name}: {sum(tally.values())} events: {dict(sorted(tally.items()))}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=20,
)

#: Objects with the keys detection looks at, so that near-misses of every source are tried.
near_misses = st.dictionaries(
    st.sampled_from(
        ["version", "rawPath", "requestContext", "httpMethod", "Records", "routeKey", "path"]
    ),
    json_values,
)


@functools.cache
def echo_adapter() -> tuple[LambdaAdapter, EchoApp]:
    """One adapter for the arbitrary-JSON property (built once, on first use)."""
    app = EchoApp()
    return LambdaAdapter(app, lifespan="off"), app


def test_arbitrary_json_is_served_or_refused_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    adapter, app = echo_adapter()
    tally: Counter[str] = Counter()

    @FUZZ_SETTINGS
    @given(st.one_of(json_values, near_misses))
    def run(event: Any) -> None:
        try:
            detect_source(event)
        except UnsupportedEventError:
            with pytest.raises(UnsupportedEventError, match="Supported sources"):
                adapter(event, CONTEXT)
            tally["UnsupportedEventError"] += 1
            return
        tally[serve_one(adapter, app, event)] += 1

    run()
    with capsys.disabled():
        print(
            f"\n[fuzz] arbitrary JSON: {sum(tally.values())} events: {dict(sorted(tally.items()))}"
        )


def test_every_source_has_a_fuzz_target_and_a_response_check() -> None:
    """A new source must bring its strategy and its response check."""
    names = {source.name for source in all_sources()}
    assert names == set(RESPONSE_CHECKS)
    assert names == {target.source for target in FUZZ_TARGETS.values()}


def _v2_without_host(**request_context: Any) -> dict[str, Any]:
    event = http_api_v2_event("GET", "/")
    del event["headers"]["host"]
    event["requestContext"].update(request_context)
    return event


#: Minimal events the fuzzer once failed on, kept as fixed regression cases.
FOUND_BY_FUZZING = [
    pytest.param(_v2_without_host(domainName=True), id="v2-domainName-not-a-string"),
    pytest.param(_v2_without_host(domainName={"a": 1}), id="v2-domainName-an-object"),
    # Unhashable: the origin table's lookup refused it, then storing it raised a TypeError.
    pytest.param(_v2_without_host(domainName=["a"]), id="v2-domainName-a-list"),
    pytest.param(
        http_api_v2_event("GET", "/", headers={"x-forwarded-proto": "\x00"}),
        id="v2-x-forwarded-proto-not-a-scheme",
    ),
    pytest.param(
        function_url_event("GET", "/", headers={"x-forwarded-proto": "javascript"}),
        id="function-url-x-forwarded-proto-not-a-scheme",
    ),
    pytest.param({**http_api_v2_event("GET", "/"), "body": "\ud800"}, id="v2-lone-surrogate-body"),
    pytest.param(function_url_event("GET", "/\udfff"), id="function-url-lone-surrogate-path"),
    # str.isdigit() said yes and int() said no: a ValueError out of every source.
    pytest.param(
        alb_event(headers=[("HOST", ":\u00b2")], multi_value=True), id="alb-host-port-superscript"
    ),
    pytest.param(
        lattice_event(headers=[("HOST", ":\u00b2")]), id="lattice-v2-host-port-superscript"
    ),
    pytest.param(
        edge_event(headers=[("Host", ":\u00b2")], event_type="viewer-request"),
        id="edge-host-port-superscript",
    ),
    pytest.param(
        http_api_v2_event(headers={"x-forwarded-port": "9" * 5_000}),
        id="v2-x-forwarded-port-over-int-digit-limit",
    ),
    pytest.param(
        rest_event(headers=[("Host", "a.example:" + "9" * 5_000)], domain=""),
        id="rest-host-port-over-int-digit-limit",
    ),
]


@pytest.mark.parametrize("event", FOUND_BY_FUZZING)
def test_events_found_by_fuzzing(event: dict[str, Any]) -> None:
    adapter, app = echo_adapter()
    app.problems.clear()
    serve_one(adapter, app, event)


def _with_protocol(event: dict[str, Any], protocol: str) -> dict[str, Any]:
    context = event["requestContext"]
    context.get("http", context)["protocol"] = protocol
    return event


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_with_protocol(http_api_v2_event(), "HTTP/3"), id="v2-HTTP/3"),
        pytest.param(_with_protocol(rest_event(), "HTTP/"), id="rest-HTTP/"),
        pytest.param(_with_protocol(rest_event(version="1.0"), "HTTP/1.1 "), id="v1-HTTP/1.1_"),
    ],
)
def test_request_context_protocol_gives_an_asgi_http_version(event: dict[str, Any]) -> None:
    adapter, app = echo_adapter()
    app.problems.clear()
    serve_one(adapter, app, event)


# The adapter's last-source shortcut once called matches() on events that are not objects
# (a TypeError instead of UnsupportedEventError); the arbitrary-JSON property found it.
@pytest.mark.parametrize("served", [http_api_v2_event(), rest_event()], ids=["v2", "rest"])
def test_an_event_that_is_not_an_object_is_refused_after_a_served_one(
    served: dict[str, Any],
) -> None:
    adapter = LambdaAdapter(EchoApp(), lifespan="off")
    adapter(served, CONTEXT)
    for event in (None, False, 1, "x", []):
        with pytest.raises(UnsupportedEventError, match="not a JSON object"):
            adapter(event, CONTEXT)


#: Events two sources match (keys of one shape added to another). Lambda never sends them,
#: but a test console or a direct invocation can.
HYBRIDS = [
    {**lattice_event(), "httpMethod": "GET"},  # REST and Lattice v2
    {**lattice_event(version=1), "httpMethod": "GET", "path": "/"},  # REST and Lattice v1
    {**http_api_v2_event(), "httpMethod": "GET", "path": "/"},  # HTTP API v2 and REST
]


def test_an_event_two_sources_match_is_served_the_same_whatever_came_before() -> None:
    for hybrid in HYBRIDS:
        shapes = set()
        for before in (
            http_api_v2_event(),
            rest_event(),
            lattice_event(),
            lattice_event(version=1),
        ):
            adapter = LambdaAdapter(EchoApp(), lifespan="off")
            adapter(before, CONTEXT)
            shapes.add(tuple(sorted(adapter(copy.deepcopy(hybrid), CONTEXT))))
        assert len(shapes) == 1, (hybrid, shapes)
