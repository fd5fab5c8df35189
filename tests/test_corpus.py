"""Conformance on the WHOLE third-party event corpus (../shared/events-corpus).

Every HTTP event becomes a scope checked field by field against what the event means (read
here independently of the sources, from the event formats as AWS documents them), and a response
of its source's shape. Every WebSocket and non-HTTP event raises UnsupportedEventError; the
``invalid/`` fixtures and bodies flagged base64 that are not base64 get a clear error or a
well-formed response, never a crash. The count of events per kind and outcome is printed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

import pytest

from lambda_asgi import InvalidEventError, LambdaAdapter, UnsupportedEventError
from lambda_asgi.config import AdapterConfig
from lambda_asgi.events import detect_source

from .conftest import corpus_entries

OUTCOMES: Counter[tuple[str, str]] = Counter()

HTTP_KINDS = {
    "apigw-rest-v1": "apigw-rest-v1",
    "http-api-v2": "http-api-v2",
    "function-url": "function-url",
    "alb": "alb",
    "alb-multivalue": "alb",
    "lambda-at-edge": "lambda-at-edge",
    "vpc-lattice-v1": "vpc-lattice-v1",
    "vpc-lattice-v2": "vpc-lattice-v2",
}


# --- what an event means, read straight from the documented formats -------------------------


def as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def merged(event: Mapping[str, Any], multi: str, single: str, fold: bool) -> list[tuple[str, str]]:
    """The multi-value map's pairs, then single-value entries the multi-value map lacks."""
    pairs = [(k, v) for k, vs in (event.get(multi) or {}).items() for v in as_list(vs)]
    seen = {k.lower() if fold else k for k in event.get(multi) or {}}
    for name, value in (event.get(single) or {}).items():
        if (name.lower() if fold else name) not in seen:
            pairs += [(name, v) for v in as_list(value)]
    return pairs


def flagged_body(body: Any, is_base64: Any) -> bytes:
    return base64.b64decode(body) if body and is_base64 else (body or "").encode()


def meaning(kind: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """method, public path suffix, decoded query pairs, header pairs, body of an event."""
    if kind in ("apigw-rest-v1", "alb", "alb-multivalue"):
        headers = merged(event, "multiValueHeaders", "headers", fold=True)
        raw_query = merged(
            event, "multiValueQueryStringParameters", "queryStringParameters", fold=False
        )
        # API Gateway hands query values over decoded; ALB as the client sent them.
        alb = kind.startswith("alb")
        query = [(unquote_plus(k), unquote_plus(v)) for k, v in raw_query] if alb else raw_query
        return {
            "method": event["httpMethod"],
            "path": event["path"] or "/",
            "query": query,
            "headers": headers,
            "body": flagged_body(event.get("body"), event.get("isBase64Encoded")),
        }
    if kind in ("http-api-v2", "function-url"):
        headers = list((event.get("headers") or {}).items())
        if event.get("cookies"):
            headers = [(k, v) for k, v in headers if k.lower() != "cookie"]
            headers += [("cookie", c) for c in event["cookies"]]
        raw_path = event.get("rawPath") or "/"
        return {
            "method": event["requestContext"]["http"]["method"],
            # HTTP API sends rawPath decoded; a Function URL keeps the client's encoding.
            "path": raw_path.replace("%", "%25") if kind == "http-api-v2" else raw_path,
            "query": parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True),
            "headers": headers,
            "body": flagged_body(event.get("body"), event.get("isBase64Encoded")),
        }
    if kind == "lambda-at-edge":
        request = event["Records"][0]["cf"]["request"]
        body = request.get("body") or {}
        return {
            "method": request["method"],
            "path": request.get("uri") or "/",
            "query": parse_qsl(request.get("querystring") or "", keep_blank_values=True),
            "headers": [
                (name, entry["value"])
                for name, entries in (request.get("headers") or {}).items()
                for entry in entries
            ],
            "body": flagged_body(body.get("data"), body.get("encoding") == "base64"),
        }
    # VPC Lattice: v1 snake_case, v2 camelCase; the path may carry the query string.
    v1 = kind == "vpc-lattice-v1"
    path, _, attached = (event["raw_path"] if v1 else event["path"]).partition("?")
    query_map = event.get("query_string_parameters") or event.get("queryStringParameters") or {}
    return {
        "method": event["method"],
        "path": path or "/",
        "query": parse_qsl(attached, keep_blank_values=True)
        if attached
        else [(k, v) for k, vs in query_map.items() for v in as_list(vs)],
        "headers": [(k, v) for k, vs in (event.get("headers") or {}).items() for v in as_list(vs)],
        "body": flagged_body(
            event.get("body"), event.get("is_base64_encoded" if v1 else "isBase64Encoded")
        ),
    }


def expected_prefix(kind: str, event: Mapping[str, Any], path: str) -> str | None:
    """The part of the client's URL before the event's path: the REST stage (execute-api
    hosts) or custom-domain mapping, as ``requestContext.path`` shows it; HTTP API's named
    stage is inside rawPath already. ``None``: any prefix of ``requestContext.path`` is right.
    """
    context = event.get("requestContext") or {}
    if kind != "apigw-rest-v1":
        return ""
    context_path = context.get("path")
    if isinstance(context_path, str) and context_path:
        full = unquote(context_path).rstrip("/")
        tail = unquote(path).rstrip("/")
        if full.endswith(tail) and (full[: len(full) - len(tail)].rstrip("/") or "/")[0] == "/":
            return full[: len(full) - len(tail)].rstrip("/")
    stage = context.get("stage")
    domain = context.get("domainName") or next(
        (v for k, v in (event.get("headers") or {}).items() if k.lower() == "host"), ""
    )
    if (
        event.get("version") != "1.0"
        and stage not in (None, "", "$default")
        and (".execute-api." in (domain or ""))
    ):
        return f"/{stage}"
    return ""


# REST events whose `path` holds a custom domain's base path mapping in front of the route they
# matched (`resource` with `pathParameters` filled in): that part is where the app is mounted.
# AWS's own ASP.NET Core adapter routes this event on "/api/resourcepath" (its test
# TestGetAllValuesWithCustomPath); the app sees root_path "/test" and the same route.
MAPPING_IN_PATH = {
    "dotnet/aspnetcoreserver-tests/values-get-different-proxypath-apigateway-request.json": "/test",
}


def is_bogus_base64(kind: str, event: Mapping[str, Any]) -> bool:
    """A body flagged base64 that is not valid base64 (a handful of hand-written fixtures)."""
    if kind == "lambda-at-edge":
        body = event["Records"][0]["cf"].get("request", {}).get("body") or {}
        text, flagged = body.get("data"), body.get("encoding") == "base64"
    else:
        flag = "is_base64_encoded" if kind == "vpc-lattice-v1" else "isBase64Encoded"
        text, flagged = event.get("body"), event.get(flag)
    if not (flagged and text):
        return False
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return True
    return False


# --- the app every event is served by -----------------------------------------------------


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it received (body base64) and sets two cookies."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    seen = {
        "method": scope["method"],
        "path": scope["path"],
        "root_path": scope["root_path"],
        "query": scope["query_string"].decode("latin-1"),
        "body": base64.b64encode(body).decode(),
    }
    headers = [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1; Path=/"),
        (b"set-cookie", b"b=2; Path=/"),
    ]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(seen).encode()})


HANDLER = LambdaAdapter(echo_app, lifespan="off")


def response_body_and_cookies(source: str, event: Mapping[str, Any], r: dict[str, Any]) -> Any:
    """Check the response has exactly the shape its source requires; its body and cookies."""
    if source == "lambda-at-edge":
        assert set(r) == {"status", "statusDescription", "headers", "body", "bodyEncoding"}
        assert (r["status"], r["statusDescription"]) == ("201", "Created")
        for name, entries in r["headers"].items():
            assert all(set(e) == {"key", "value"} and e["key"].lower() == name for e in entries)
        cookies = [e["value"] for e in r["headers"]["set-cookie"]]
        encoded = r["bodyEncoding"] == "base64"
    else:
        assert r["statusCode"] == 201
        assert isinstance(r["isBase64Encoded"], bool)
        encoded = r["isBase64Encoded"]
        if source in ("http-api-v2", "function-url"):
            assert set(r) == {"statusCode", "headers", "cookies", "body", "isBase64Encoded"}
            cookies = r["cookies"]
        elif source == "apigw-rest-v1":
            assert set(r) == {
                "statusCode",
                "headers",
                "multiValueHeaders",
                "body",
                "isBase64Encoded",
            }
            cookies = r["multiValueHeaders"]["set-cookie"]
        else:  # ALB and Lattice also send statusDescription
            assert r["statusDescription"] == "201 Created"
            multi = source == "alb" and (
                "multiValueHeaders" in event or "multiValueQueryStringParameters" in event
            )
            key = "multiValueHeaders" if multi else "headers"
            assert set(r) == {"statusCode", "statusDescription", key, "body", "isBase64Encoded"}
            if multi:
                cookies = r[key]["set-cookie"]
            else:
                cookies = [v for k, v in r[key].items() if k.lower() == "set-cookie"]
                assert all(isinstance(v, str) for v in r[key].values())
    assert sorted(cookies) == ["a=1; Path=/", "b=2; Path=/"]
    body = base64.b64decode(r["body"]) if encoded else r["body"].encode()
    return json.loads(body)


# --- the walk ----------------------------------------------------------------------------


def serve(entry: dict[str, Any], event: Any) -> tuple[str, Any]:
    try:
        return "served", HANDLER(event, None)
    except UnsupportedEventError as exc:
        return "unsupported", exc
    except InvalidEventError as exc:
        return "invalid", exc


@pytest.mark.parametrize(("entry", "event"), corpus_entries())
def test_corpus_event(entry: dict[str, Any], event: Any) -> None:
    kind = entry["kind"]
    expected_source = HTTP_KINDS.get(kind)
    cf = event.get("Records", [{}])[0].get("cf", {}) if kind == "lambda-at-edge" else {}
    if "response" in cf or (kind == "lambda-at-edge" and "request" not in cf):
        expected_source = None  # response triggers: CloudFront's response, not a request
    outcome, result = serve(entry, event)
    OUTCOMES[(kind, outcome)] += 1

    if expected_source is None:
        assert outcome == "unsupported", f"{kind} event must be refused, got {result!r}"
        message = str(result)
        assert "Supported sources:" in message and "Top-level keys seen:" in message
        if kind == "apigw-websocket":
            assert "WebSocket" in message
        return
    if "invalid/" in entry["file"] or is_bogus_base64(kind, event):
        # A clear error, or a well-formed response when the event looks valid enough.
        assert outcome in ("served", "invalid", "unsupported")
        if outcome == "served":
            response_body_and_cookies(detect_source(event).name, event, result)
        else:
            assert "event" in str(result)
        return

    assert outcome == "served", f"{entry['file']}: {result}"
    source = detect_source(event)
    assert source.name == expected_source
    scope, body = source.to_scope(event, None, AdapterConfig.build())
    means = meaning(kind, event)

    assert scope["type"] == "http" and scope["asgi"]["version"] == "3.0"
    assert scope["method"] == means["method"].upper()
    raw = means["path"] if means["path"].startswith("/") else "/" + means["path"]
    prefix = expected_prefix(kind, event, raw)
    assert scope["path"] == prefix + unquote(raw)
    # HTTP API (payloads 1.0 and 2.0) keeps a named stage inside the path: it is mounted there.
    stage = (event.get("requestContext") or {}).get("stage")
    http_api = kind in ("http-api-v2", "function-url") or event.get("version") == "1.0"
    in_path = http_api and stage not in (None, "", "$default")
    if in_path and (unquote(raw) + "/").startswith(f"/{stage}/"):
        assert scope["root_path"] == f"/{stage}"
    elif entry["file"] in MAPPING_IN_PATH:
        assert scope["root_path"] == MAPPING_IN_PATH[entry["file"]]
    else:
        assert scope["root_path"] == prefix
    assert scope["path"].startswith(scope["root_path"])
    assert unquote(scope["raw_path"].decode("ascii")) == scope["path"]
    if raw.isascii() and " " not in raw:
        # The path bytes as the client sent them: %2F and other escapes kept.
        assert scope["raw_path"].endswith(raw.encode())
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    assert query == [(k, v) for k, v in means["query"]]
    scope_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    assert all(k == k.lower() for k, _ in scope_headers)
    cookie_headers = [v for k, v in scope_headers if k == "cookie"]
    assert len(cookie_headers) <= 1, "several Cookie headers must become one"

    def pieces(values: list[str]) -> list[str]:
        return [c.strip() for v in values for c in v.split(";") if c.strip()]

    assert pieces(cookie_headers) == pieces(
        [v for k, v in means["headers"] if k.lower() == "cookie"]
    )
    assert sorted((k, v) for k, v in scope_headers if k != "cookie") == sorted(
        (k.lower(), v) for k, v in means["headers"] if k.lower() != "cookie"
    )
    assert body == means["body"]

    seen = response_body_and_cookies(source.name, event, result)
    assert seen == {
        "method": scope["method"],
        "path": scope["path"],
        "root_path": scope["root_path"],
        "query": scope["query_string"].decode("latin-1"),
        "body": base64.b64encode(body).decode(),
    }


def test_corpus_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the count of events per kind and outcome (runs after the walk above)."""
    if not OUTCOMES:
        pytest.skip("no events corpus, or the walk was not selected")
    kinds = sorted({kind for kind, _ in OUTCOMES})
    lines = ["", "events corpus: events per kind (outcome)"]
    for kind in kinds:
        counts = {o: n for (k, o), n in OUTCOMES.items() if k == kind}
        detail = ", ".join(f"{o} {n}" for o, n in sorted(counts.items()))
        lines.append(f"  {kind:16} {sum(counts.values()):4}  ({detail})")
    lines.append(f"  {'total':16} {sum(OUTCOMES.values()):4}")
    with capsys.disabled():
        print("\n".join(lines))
    assert sum(OUTCOMES.values()) >= 300
