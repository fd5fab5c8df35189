"""Fuzzed events: whatever arrives, the adapter answers or refuses clearly, and never hangs.

Property, for every event a strategy generates (valid ones, and ones with missing keys, wrong
types, null maps, huge header counts, non-UTF-8 text, invalid base64 bodies, lying
``isBase64Encoded`` flags and odd paths):

* the handler returns a proxy response that is valid for the source that matched the event
  and JSON-serialisable (what Lambda does with it), and the app got a valid ASGI HTTP scope;
* or it raises :class:`UnsupportedEventError` / :class:`InvalidEventError` with a message;
* nothing else: no other exception, no hang (pytest-timeout), no broken loop.

Each source registers a :class:`FuzzTarget` (event strategy + response check) in
:data:`FUZZ_TARGETS`. The normal suite runs a bounded number of examples per source;
``make fuzz`` sets ``LAMBDA_ASGI_FUZZ_EXAMPLES`` for a long run.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_asgi import InvalidEventError, LambdaAdapter, LambdaContext, UnsupportedEventError
from lambda_asgi.events import SOURCES, detect_source
from tests.events import function_url_event, http_api_v2_event

#: Examples per source: small in the normal suite, large under ``make fuzz``.
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
        ["", " ", "\x00", "\r\n", "é", "\U0001f600", "%", "%zz", "%2F", "%00", "\ufeff"]
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
        return draw(st.dictionaries(odd_text, odd_text, max_size=6))
    count = draw(st.sampled_from([0, 1, 100, 2_000]))
    value = draw(st.text(st.characters(codec="ascii"), max_size=20))
    return {f"x-h-{i}": value for i in range(count)}


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


def _set_path(event: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> None:
    target: Any = event
    for key in path[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return  # an earlier mutation replaced the parent: nothing to reach
    if delete:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


def mutated(base: st.SearchStrategy[dict[str, Any]], fields: list[tuple[str, ...]]) -> Any:
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


# -- HTTP API v2 and Function URL ---------------------------------------------------------

V2_FIELDS: list[tuple[str, ...]] = [
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
    body = draw(bodies)
    event = build(
        draw(methods),
        draw(odd_paths),
        draw(odd_text),
        headers=draw(header_maps()),
        cookies=draw(st.none() | st.lists(odd_text, max_size=3)),
        stage=draw(st.sampled_from(["$default", "prod", "", "a/b"])),
        source_ip=draw(st.sampled_from(["203.0.113.7", "2001:db8::1", "", "not-an-ip"])),
    )
    if isinstance(body, bytes):
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = draw(st.booleans())  # a lie half of the time
    else:
        event["body"] = body
        event["isBase64Encoded"] = draw(st.sampled_from([False, True, "true", 1, None]))
    return event


def check_v2_response(result: dict[str, Any]) -> None:
    """A payload 2.0 response (HTTP API and Function URL)."""
    assert set(result) <= {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}
    assert type(result["statusCode"]) is int and 100 <= result["statusCode"] <= 599
    assert all(type(k) is str and type(v) is str for k, v in result["headers"].items())
    assert type(result["body"]) is str
    assert type(result["isBase64Encoded"]) is bool
    if result["isBase64Encoded"]:
        base64.b64decode(result["body"], validate=True)
    cookies = result.get("cookies", [])
    assert type(cookies) is list and all(type(c) is str for c in cookies)


@dataclass(frozen=True)
class FuzzTarget:
    """How to fuzz one event source."""

    events: st.SearchStrategy[Any]
    """Valid and malformed events of the source."""
    check_response: Callable[[dict[str, Any]], None]
    """Asserts a proxy response is valid for the source."""


#: One entry per event source name (``EventSource.name``); add one when a source lands.
FUZZ_TARGETS: dict[str, FuzzTarget] = {
    "http-api-v2": FuzzTarget(
        mutated(v2_base(build=http_api_v2_event), V2_FIELDS), check_v2_response
    ),
    "function-url": FuzzTarget(
        mutated(v2_base(build=function_url_event), V2_FIELDS), check_v2_response
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
    target = FUZZ_TARGETS.get(source.name)
    if target is not None:
        target.check_response(result)
    assert type(result) is dict
    json.dumps(result)  # what Lambda does with the return value
    assert app.problems == [], app.problems
    assert result["statusCode"] == 200, result
    return f"{source.name} 200"


@pytest.mark.parametrize("name", sorted(FUZZ_TARGETS))
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


@FUZZ_SETTINGS
@given(st.one_of(json_values, near_misses))
def test_arbitrary_json_is_served_or_refused_clearly(event: Any) -> None:
    adapter, app = echo_adapter()
    try:
        detect_source(event)
    except UnsupportedEventError:
        with pytest.raises(UnsupportedEventError, match="Supported sources"):
            adapter(event, CONTEXT)
        return
    serve_one(adapter, app, event)


def test_every_source_has_a_fuzz_target() -> None:
    """A new source must bring its strategy (skipped until the sources land together)."""
    missing = sorted({s.name for s in SOURCES} - set(FUZZ_TARGETS))
    if missing:
        pytest.skip(f"no fuzz strategy yet for: {', '.join(missing)}")


def _v2_without_host(**request_context: Any) -> dict[str, Any]:
    event = http_api_v2_event("GET", "/")
    del event["headers"]["host"]
    event["requestContext"].update(request_context)
    return event


#: Minimal events the fuzzer once failed on, kept as fixed regression cases.
FOUND_BY_FUZZING = [
    pytest.param(_v2_without_host(domainName=True), id="v2-domainName-not-a-string"),
    pytest.param(_v2_without_host(domainName={"a": 1}), id="v2-domainName-an-object"),
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
]


@pytest.mark.parametrize("event", FOUND_BY_FUZZING)
def test_events_found_by_fuzzing(event: dict[str, Any]) -> None:
    adapter, app = echo_adapter()
    app.problems.clear()
    serve_one(adapter, app, event)
