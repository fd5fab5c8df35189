"""Security properties of the HTTP API v2 and Function URL sources.

* ``scope["client"]`` comes only from what AWS sets (``requestContext.http.sourceIp``): a
  forged ``X-Forwarded-For`` never reaches it.
* ``Host`` is used for ``scope["server"]`` and nothing else.
* No traceback, exception text or environment value ever appears in a response body.
* Function URLs keep the path as received in ``raw_path``: ``%2F`` and ``..`` stay visible
  to path-based authorization in the app.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from lambda_asgi import LambdaAdapter, LambdaContext
from tests.conftest import corpus_entries
from tests.events import function_url_event, http_api_v2_event

FORGED = {
    "x-forwarded-for": "127.0.0.1, 10.0.0.1",
    "x-real-ip": "127.0.0.1",
    "forwarded": "for=127.0.0.1;proto=https",
    "true-client-ip": "127.0.0.1",
    "x-client-ip": "127.0.0.1",
}


class ScopeRecorder:
    """An ASGI app that answers 200 and keeps the last scope it saw."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None
        self.context = LambdaContext()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.scope = scope
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def serve(self, event: dict[str, Any]) -> dict[str, Any]:
        """The scope the app gets for ``event``."""
        self.scope = None
        result = LambdaAdapter(self, lifespan="off")(event, self.context)
        assert result["statusCode"] == 200
        assert self.scope is not None
        return self.scope


BUILDERS = [
    pytest.param(http_api_v2_event, id="http-api-v2"),
    pytest.param(function_url_event, id="function-url"),
]


# -- client ---------------------------------------------------------------------------


@pytest.mark.parametrize("build", BUILDERS)
def test_forged_forwarding_headers_never_reach_client(build: Any) -> None:
    event = build("GET", "/admin", headers=FORGED, source_ip="198.51.100.23")
    scope = ScopeRecorder().serve(event)
    assert scope["client"] == ("198.51.100.23", 0)
    # The app still sees the headers as sent (they are the caller's, not the adapter's).
    assert (b"x-forwarded-for", b"127.0.0.1, 10.0.0.1") in scope["headers"]


@pytest.mark.parametrize("build", BUILDERS)
def test_no_source_ip_means_no_client_not_a_header_value(build: Any) -> None:
    event = build("GET", "/", headers=FORGED)
    del event["requestContext"]["http"]["sourceIp"]
    assert ScopeRecorder().serve(event)["client"] is None


@pytest.mark.parametrize(("entry", "event"), corpus_entries("http-api-v2", "function-url"))
def test_corpus_events_take_client_from_source_ip_only(entry: Any, event: Any) -> None:
    if "/invalid/" in f"/{entry['file']}":
        pytest.skip("a deliberately invalid fixture (the fuzz tests cover those)")
    forged = copy.deepcopy(event)
    forged["headers"] = {**(forged.get("headers") or {}), **FORGED}
    # A few fixtures flag a non-base64 body as base64; the body is not what is tested here.
    forged["body"], forged["isBase64Encoded"] = None, False
    source_ip = forged["requestContext"]["http"].get("sourceIp")
    scope = ScopeRecorder().serve(forged)
    assert scope["client"] == ((source_ip, 0) if source_ip else None)


def test_starlette_request_client_is_the_source_ip() -> None:
    """What a real framework reports as the client address."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def whoami(request: Request) -> JSONResponse:
        assert request.client is not None
        return JSONResponse({"client": request.client.host, "host": request.url.hostname})

    app = Starlette(routes=[Route("/whoami", whoami)])
    event = function_url_event("GET", "/whoami", headers=FORGED, source_ip="192.0.2.44")
    result = LambdaAdapter(app, lifespan="off")(event, LambdaContext())
    assert json.loads(result["body"]) == {
        "client": "192.0.2.44",
        "host": "abcdefghij.lambda-url.us-east-1.on.aws",
    }


# -- Host -------------------------------------------------------------------------------


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    ("host", "server"),
    [
        ("evil.example", ("evil.example", 443)),
        ("evil.example:8443", ("evil.example", 8443)),
        ("[::1]:9000", ("[::1]", 9000)),
    ],
)
def test_host_only_changes_server(build: Any, host: str, server: tuple[str, int]) -> None:
    recorder = ScopeRecorder()
    honest = recorder.serve(build("GET", "/a/b", "x=1"))
    forged = recorder.serve(build("GET", "/a/b", "x=1", headers={"host": host}))
    assert forged["server"] == server
    differing = {key for key in honest if honest[key] != forged[key]}
    assert differing == {"server", "headers", "aws.event"}


# -- nothing private in a response body -----------------------------------------------

SECRET = "s3cr3t-d0-not-leak-7f1c"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LAMBDA_ASGI_TEST_SECRET", SECRET)
    yield SECRET


def leaking_app(where: str) -> Any:
    """An app that fails at ``where`` with the secret in its exception or its headers."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        secret = os.environ["LAMBDA_ASGI_TEST_SECRET"]
        start = {"type": "http.response.start", "status": 200, "headers": []}
        if where == "before-start":
            raise RuntimeError(f"cannot connect with password {secret}")
        if where == "header-crlf":
            start["headers"] = [(b"x-debug", f"{secret}\r\nx-injected: 1".encode())]
            await send(start)
        if where == "header-str":
            start["headers"] = [(b"x-debug", secret)]
            await send(start)
        if where == "status":
            await send({**start, "status": secret})
        await send(start)
        if where == "after-start":
            raise KeyError(secret)
        if where == "streaming":
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            await asyncio.sleep(0)
            raise ValueError(secret)
        if where == "str-body":
            await send({"type": "http.response.body", "body": secret})
        if where == "exception-group":
            raise ExceptionGroup(secret, [RuntimeError(secret)])

    return app


LEAK_POINTS = [
    "before-start",
    "header-crlf",
    "header-str",
    "status",
    "after-start",
    "streaming",
    "str-body",
    "exception-group",
]


@pytest.mark.parametrize("where", LEAK_POINTS)
@pytest.mark.parametrize("build", BUILDERS)
def test_no_exception_text_traceback_or_env_value_in_the_response(
    where: str, build: Any, secret_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = LambdaAdapter(leaking_app(where), lifespan="off")
    result = adapter(build("POST", "/orders", body="{}"), LambdaContext())
    assert result["statusCode"] == 500
    assert json.loads(result["body"]) == {"message": "Internal Server Error"}
    serialized = json.dumps(result)
    leaks = (secret_env, "Traceback", "File ", "line ", "RuntimeError", "KeyError", "ValueError")
    for private in (*leaks, "ExceptionGroup", "ASGIProtocolError", "ResponseFailedError"):
        assert private not in serialized
    # The exception text is in the log, where the operator can see what went wrong (a str
    # body is named by its type only: a body is never logged).
    assert (secret_env in caplog.text) is (where != "str-body")


# -- raw_path -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/files/a%2Fb", "/files/a/b"),
        ("/public/..%2Fadmin/users", "/public/../admin/users"),
        ("/public/%2e%2e/admin", "/public/../admin"),
        ("/public/../admin", "/public/../admin"),
        ("/a/./b//c", "/a/./b//c"),
        ("/caf%C3%A9/%252F", "/café/%2F"),
    ],
)
def test_function_url_keeps_the_path_as_received(raw: str, path: str) -> None:
    scope = ScopeRecorder().serve(function_url_event("GET", raw))
    assert scope["raw_path"] == raw.encode()
    # Decoded once, never normalised: ".." and "//" are the app's to judge.
    assert scope["path"] == path


def test_http_api_path_is_not_normalised() -> None:
    """HTTP API sends the path decoded; the adapter does not resolve ``..`` either."""
    scope = ScopeRecorder().serve(http_api_v2_event("GET", "/public/../admin"))
    assert scope["path"] == "/public/../admin"
    assert scope["raw_path"] == b"/public/../admin"


def test_path_authorization_in_a_real_app_sees_the_encoded_slash() -> None:
    """A Starlette app guarding ``/admin`` can see that ``/public/..%2Fadmin`` was sent."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def public(request: Request) -> PlainTextResponse:
        raw = request.scope["raw_path"]
        if b"%2f" in raw.lower() or b".." in raw:
            return PlainTextResponse("refused", status_code=400)
        return PlainTextResponse(request.path_params["rest"])

    app = Starlette(routes=[Route("/public/{rest:path}", public)])
    adapter = LambdaAdapter(app, lifespan="off")
    ok = adapter(function_url_event("GET", "/public/logo.png"), LambdaContext())
    assert (ok["statusCode"], ok["body"]) == (200, "logo.png")
    smuggled = adapter(function_url_event("GET", "/public/..%2Fadmin"), LambdaContext())
    assert (smuggled["statusCode"], smuggled["body"]) == (400, "refused")
