"""The pieces of the runtime in-process: the deadline guard, the Runtime API emulator's
strictness, the client's chunked writer and trailers, handler loading, error types."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lambda_asgi import ConfigurationError, LambdaAdapter, LambdaContext
from lambda_asgi.local.runtime_api import InvocationHandle, RuntimeAPIServer
from lambda_asgi.runtime.client import HTTP_INTEGRATION_CONTENT_TYPE, RuntimeAPIError, RuntimeClient
from lambda_asgi.runtime.faults import (
    RuntimeFault,
    error_body,
    error_type,
    stream_error_trailers,
)
from lambda_asgi.runtime.handler import FunctionHandler, load_handler
from lambda_asgi.runtime.logs import LOCAL_EXECUTION_ENV
from lambda_asgi.runtime.loop import Runtime, invoke_mode
from lambda_asgi.runtime.respond import DELIMITER, ResponseHeadersTooLargeError, http_prelude
from tests.events import alb_event, function_url_event, http_api_v2_event, rest_event

# -- deadline guard, through LambdaAdapter (works under the managed runtime too) ----------------

cancelled: list[str] = []


async def slow(request: Request) -> Response:
    try:
        await asyncio.sleep(float(request.query_params.get("s", "10")))
    except asyncio.CancelledError:
        cancelled.append(request.url.path)
        raise
    return JSONResponse({"slept": True})


async def stalled_stream(_request: Request) -> Response:
    async def chunks() -> Any:
        yield b"first"
        await asyncio.sleep(10)
        yield b"never"

    return StreamingResponse(chunks(), media_type="text/plain")


async def fast(_request: Request) -> Response:
    return JSONResponse({"fast": True})


guard_app = Starlette(
    routes=[Route("/slow", slow), Route("/stalled", stalled_stream), Route("/fast", fast)]
)


def context_with(remaining_s: float) -> LambdaContext:
    return LambdaContext(deadline_ms=int((time.time() + remaining_s) * 1000))


def test_deadline_guard_cancels_the_app_and_answers_504() -> None:
    adapter = LambdaAdapter(guard_app, lifespan="off", timeout_margin_ms=200)
    cancelled.clear()
    result = adapter(http_api_v2_event("GET", "/slow"), context_with(0.5))
    assert result["statusCode"] == 504
    assert result["headers"] == {"content-type": "application/json"}
    assert json.loads(result["body"]) == {
        "message": "Gateway Timeout: the app did not answer before the function's timeout"
    }
    assert cancelled == ["/slow"]
    # The warm loop is healthy: the next invocation is served normally.
    ok = adapter(http_api_v2_event("GET", "/fast"), context_with(5))
    assert (ok["statusCode"], json.loads(ok["body"])) == (200, {"fast": True})


def test_deadline_guard_stops_a_stalled_stream_in_buffered_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = LambdaAdapter(guard_app, lifespan="off", timeout_margin_ms=200)
    result = adapter(http_api_v2_event("GET", "/stalled"), context_with(0.5))
    assert result["statusCode"] == 504
    assert "Deadline guard: GET /stalled was still running 200 ms before" in caplog.text


def test_deadline_guard_reports_timed_out_on_a_streamed_invocation() -> None:
    adapter = LambdaAdapter(guard_app, lifespan="off", timeout_margin_ms=200)
    invocation = adapter.invoke(
        function_url_event("GET", "/stalled"), context_with(0.5), stream=True
    )
    assert invocation.streamed is not None and invocation.streamed.stream is not None
    assert invocation.streamed.body == b"first"
    assert not invocation.timed_out
    with pytest.raises(Exception, match="cancelled"):
        list(invocation.streamed.stream)
    assert invocation.timed_out


def test_margin_zero_disables_the_guard() -> None:
    adapter = LambdaAdapter(guard_app, lifespan="off", timeout_margin_ms=0)
    result = adapter(http_api_v2_event("GET", "/slow", "s=0.2"), context_with(0.1))
    assert result["statusCode"] == 200


def test_guard_is_not_armed_without_a_deadline_in_the_context() -> None:
    adapter = LambdaAdapter(guard_app, lifespan="off", timeout_margin_ms=10_000)
    result = adapter(http_api_v2_event("GET", "/slow", "s=0.05"), object())
    assert result["statusCode"] == 200


@pytest.mark.parametrize(("value", "expected"), [("", 500), ("0", 0), (" 1500 ", 1500)])
def test_timeout_margin_from_env(value: str, expected: int) -> None:
    env = {"LAMBDA_ASGI_APP": "tests.test_runtime_units:guard_app", "LAMBDA_ASGI_LIFESPAN": "off"}
    adapter = LambdaAdapter.from_env({**env, "LAMBDA_ASGI_TIMEOUT_MARGIN_MS": value})
    assert adapter.timeout_margin_ms == expected


@pytest.mark.parametrize("value", ["-1", "1.5", "soon"])
def test_bad_timeout_margin_env_is_a_configuration_error(value: str) -> None:
    env = {"LAMBDA_ASGI_APP": "tests.test_runtime_units:guard_app", "LAMBDA_ASGI_LIFESPAN": "off"}
    with pytest.raises(ConfigurationError, match="LAMBDA_ASGI_TIMEOUT_MARGIN_MS must be"):
        LambdaAdapter.from_env({**env, "LAMBDA_ASGI_TIMEOUT_MARGIN_MS": value})


@pytest.mark.parametrize("value", [-5, 1.5, "x"])
def test_bad_timeout_margin_option_is_a_configuration_error(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout_margin_ms must be"):
        LambdaAdapter(guard_app, lifespan="off", timeout_margin_ms=value)


# -- the Runtime API emulator's strictness, seen with a plain HTTP client -----------------------


@pytest.fixture
def api() -> Iterator[RuntimeAPIServer]:
    with RuntimeAPIServer() as server:
        yield server


def connect(api: RuntimeAPIServer) -> http.client.HTTPConnection:
    host, port = api.address.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_next_serves_the_event_with_the_real_headers(api: RuntimeAPIServer) -> None:
    handle = api.submit(
        {"n": 1},
        timeout_s=7,
        trace_id="Root=1-abc",
        client_context={"custom": {"a": 1}},
        cognito_identity={"cognitoIdentityId": "x"},
    )
    status, headers, body = request(connect(api), "GET", "/2018-06-01/runtime/invocation/next")
    assert (status, json.loads(body)) == (200, {"n": 1})
    assert headers["lambda-runtime-aws-request-id"] == handle.request_id
    assert headers["lambda-runtime-deadline-ms"] == str(handle.deadline_ms)
    assert headers["lambda-runtime-invoked-function-arn"] == api.function_arn
    assert headers["lambda-runtime-trace-id"] == "Root=1-abc"
    assert json.loads(headers["lambda-runtime-client-context"]) == {"custom": {"a": 1}}
    assert json.loads(headers["lambda-runtime-cognito-identity"]) == {"cognitoIdentityId": "x"}
    assert 0 < handle.deadline_ms - time.time() * 1000 <= 7000
    assert handle.status == "running"


def test_strict_response_rules(api: RuntimeAPIServer) -> None:
    conn = connect(api)
    handle = api.submit({})
    request(conn, "GET", "/2018-06-01/runtime/invocation/next")
    path = f"/2018-06-01/runtime/invocation/{handle.request_id}/response"
    status, _, body = request(
        conn, "POST", path, b"{}", {"Lambda-Runtime-Function-Response-Mode": "buffered"}
    )
    assert status == 400 and json.loads(body)["errorType"] == "InvalidResponseModeHeader"
    status, _, _ = request(conn, "POST", "/2018-06-01/runtime/invocation/nope/response", b"{}")
    assert status == 400
    status, _, _ = request(conn, "POST", path, b'"ok"')
    assert status == 202 and handle.wait(1).json() == "ok"
    # A second answer for a finished invocation is refused.
    status, _, body = request(conn, "POST", path, b'"again"')
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"


def test_buffered_response_over_6_mb_is_413_and_the_connection_stays_usable(
    api: RuntimeAPIServer,
) -> None:
    conn = connect(api)
    handle = api.submit({})
    request(conn, "GET", "/2018-06-01/runtime/invocation/next")
    path = f"/2018-06-01/runtime/invocation/{handle.request_id}/response"
    status, _, body = request(conn, "POST", path, b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
    assert handle.error is not None
    assert handle.error.error_type == "Function.ResponseSizeTooLarge"
    second = api.submit({"second": True})
    status, _, body = request(conn, "GET", "/2018-06-01/runtime/invocation/next")
    assert (status, json.loads(body)) == (200, {"second": True})
    assert second.status == "running"


def test_extension_registration_only_during_init(api: RuntimeAPIServer) -> None:
    conn = connect(api)
    path = "/2020-01-01/extension/register"
    status, _, _ = request(conn, "POST", path, b'{"events": []}')
    assert status == 400  # no Lambda-Extension-Name
    status, _, _ = request(
        conn, "POST", path, b'{"events": ["BOGUS"]}', {"Lambda-Extension-Name": "e"}
    )
    assert status == 400
    status, headers, body = request(
        conn, "POST", path, b'{"events": []}', {"Lambda-Extension-Name": "e"}
    )
    assert status == 200 and headers["lambda-extension-identifier"]
    assert json.loads(body)["functionName"] == "local-function"
    api.submit({})
    request(conn, "GET", "/2018-06-01/runtime/invocation/next")
    status, _, _ = request(conn, "POST", path, b'{"events": []}', {"Lambda-Extension-Name": "late"})
    assert status == 403
    assert [e["name"] for e in api.extensions] == ["e"]


def test_restore_next_is_refused_without_snap_start(api: RuntimeAPIServer) -> None:
    status, _, _ = request(connect(api), "GET", "/2018-06-01/runtime/restore/next")
    assert status == 403 and api.restored_at is None


# -- the client: chunked writer, trailers, errors -----------------------------------------------


def test_client_streams_chunks_and_trailers_the_emulator_parses(api: RuntimeAPIServer) -> None:
    client = RuntimeClient(api.address)
    handle = api.submit({"k": "v"})
    invocation = client.next_invocation()
    assert (invocation.request_id, json.loads(invocation.body)) == (handle.request_id, {"k": "v"})
    writer = client.start_stream(invocation.request_id, "text/plain")
    for part in (b"one", b"", b"two" * 10_000):
        writer.write(part)
    assert writer.bytes_sent == 3 + 30_000
    error = RuntimeError("late failure")
    writer.finish(stream_error_trailers(error))
    handle.wait(5)
    assert handle.streaming and handle.content_type == "text/plain"
    assert [c.data for c in handle.chunks] == [b"one", b"two" * 10_000]
    assert handle.status == "error" and handle.error is not None
    assert handle.error.error_type == "Function.RuntimeError"
    assert handle.error.body == {
        "errorType": "RuntimeError",
        "errorMessage": "late failure",
        "trace": [],
    }
    # The same kept-alive connection serves the next invocation.
    api.submit({"again": 1})
    client.post_response(client.next_invocation().request_id, b'{"done": true}')


def stream_response(
    api: RuntimeAPIServer, parts: list[bytes], content_type: str = HTTP_INTEGRATION_CONTENT_TYPE
) -> InvocationHandle:
    """Post ``parts`` as one streamed response with the real client; the recorded handle."""
    client = RuntimeClient(api.address)
    handle = api.submit({})
    writer = client.start_stream(client.next_invocation().request_id, content_type)
    for part in parts:
        writer.write(part)
    writer.finish()  # the Runtime API still answers 202: it does not read the prelude
    # The kept-alive connection goes on serving.
    api.submit({"next": True})
    assert json.loads(client.next_invocation().body) == {"next": True}
    client.close()
    return handle.wait(5)


def prelude_of_size(size: int) -> bytes:
    """A JSON prelude plus delimiter of exactly ``size`` bytes."""
    frame = b'{"statusCode":200,"headers":{"x-pad":""}}' + DELIMITER
    return frame.replace(b'""', b'"' + b"p" * (size - len(frame)) + b'"')


def test_emulator_accepts_a_delimiter_ending_exactly_at_16_kib(api: RuntimeAPIServer) -> None:
    prelude = prelude_of_size(16 * 1024)
    assert len(prelude) == 16384
    # Split inside the delimiter: the check sees across chunk boundaries.
    handle = stream_response(api, [prelude[:-4], prelude[-4:] + b"body", b" more"])
    assert handle.status == "success"
    assert handle.http_response() == (
        {"statusCode": 200, "headers": {"x-pad": "p" * (16384 - 49)}},
        b"body more",
    )


def test_emulator_fails_a_stream_whose_delimiter_is_past_16_kib(api: RuntimeAPIServer) -> None:
    prelude = prelude_of_size(16 * 1024 + 1)
    handle = stream_response(api, [prelude[:10_000], prelude[10_000:], b"late body"])
    assert handle.status == "error" and handle.error is not None
    assert handle.error.error_type == "Function.InvalidHttpIntegrationResponse"
    assert handle.error.body["errorMessage"].startswith(
        f"Invalid {HTTP_INTEGRATION_CONTENT_TYPE} stream: no 8-NUL delimiter within the first "
        "16384 bytes."
    )
    # Recorded up to the 16 KiB at which the front door gives up; nothing after.
    assert [chunk.data for chunk in handle.chunks] == [prelude[:10_000]]


def test_emulator_fails_a_stream_that_ends_without_its_delimiter(api: RuntimeAPIServer) -> None:
    handle = stream_response(api, [b'{"statusCode":200}', b"body, no delimiter"])
    assert handle.error is not None
    assert handle.error.error_type == "Function.InvalidHttpIntegrationResponse"
    message = handle.error.body["errorMessage"]
    assert "the stream ended after 36 bytes without its delimiter" in message
    # Only the HTTP integration framing has a prelude: a raw stream needs no delimiter.
    raw = stream_response(api, [b"x" * 20_000], content_type="text/plain")
    assert raw.status == "success" and raw.body == b"x" * 20_000


def test_client_raises_runtime_api_errors_with_status(api: RuntimeAPIServer) -> None:
    client = RuntimeClient(api.address)
    with pytest.raises(RuntimeAPIError) as caught:
        client.post_response("unknown-id", b"{}")
    assert caught.value.status == 400
    with pytest.raises(RuntimeAPIError, match="HTTP 403"):
        client.restore_next()


def test_client_rejects_a_malformed_address() -> None:
    with pytest.raises(ValueError, match="is not host:port"):
        RuntimeClient("localhost")


# -- prelude, handler loading, error types --------------------------------------------------------


def test_prelude_drops_the_body_and_always_has_cookies() -> None:
    proxy = {"statusCode": 201, "headers": {"a": "b"}, "body": "aGk=", "isBase64Encoded": True}
    assert http_prelude(proxy) == b'{"statusCode":201,"headers":{"a":"b"},"cookies":[]}' + b"\0" * 8


def test_prelude_over_16_kib_is_refused_before_anything_is_sent() -> None:
    def proxy(pad: int) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"x": "p" * pad}, "cookies": [], "body": "b"}

    room = 16384 - len(http_prelude(proxy(0)))
    fits = http_prelude(proxy(room))
    assert len(fits) == 16384 and fits.endswith(DELIMITER)
    with pytest.raises(ResponseHeadersTooLargeError) as caught:
        http_prelude(proxy(room + 1))
    error = caught.value
    assert error.size == 16385
    assert error_type(error) == "Function.ResponseHeadersTooLarge"
    assert str(error).startswith(
        "The response's headers and cookies make a 16385-byte stream prelude; Lambda requires "
        "it (with its 8-byte delimiter) within the first 16384 bytes"
    )
    assert error_body(error)["errorType"] == "ResponseHeadersTooLargeError"


def test_context_log_writes_to_stdout_like_the_managed_runtime(
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = LambdaContext()
    context.log("first line\n")
    context.log("no newline added")
    context.log(42)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("first line\nno newline added42", "")


def test_load_handler_forms() -> None:
    env: dict[str, str] = {"LAMBDA_ASGI_LIFESPAN": "off"}
    adapter = load_handler("tests.test_runtime_units:guard_app", env)
    assert isinstance(adapter, LambdaAdapter) and adapter.app is guard_app
    adapter = load_handler(None, {**env, "_HANDLER": "tests.test_runtime_units.guard_app"})
    assert isinstance(adapter, LambdaAdapter)
    plain = load_handler(None, {"_HANDLER": "tests.runtime_apps.plain"})
    assert isinstance(plain, FunctionHandler) and not plain.is_async
    assert load_handler("tests.runtime_apps.async_plain", {}).is_async  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("nodot", "Runtime.MalformedHandlerName"),
        ("sys.path", "Runtime.BuiltInModuleConflict"),
        ("tests.nope_module.handler", "Runtime.ImportModuleError"),
        ("tests.runtime_apps.nope", "Runtime.HandlerNotFound"),
        ("tests.runtime_apps.MARKER_DIR", "Runtime.HandlerNotFound"),
    ],
)
def test_load_handler_faults_are_reported_by_their_runtime_type(spec: str, kind: str) -> None:
    with pytest.raises(RuntimeFault) as caught:
        load_handler(spec, {})
    assert caught.value.error_type == kind
    # The /init/error body names the fault the same way (its message says precisely what).
    body = error_body(caught.value)
    assert (body["errorType"], body["errorMessage"]) == (kind, str(caught.value))


def test_error_types() -> None:
    assert error_type(KeyError("x")) == "Function.KeyError"
    assert error_type(RuntimeFault("Runtime.MarshalError", "m")) == "Runtime.MarshalError"
    try:
        raise ConfigurationError("bad app") from ImportError("no module")
    except ConfigurationError as exc:
        assert error_type(exc) == "Runtime.ImportModuleError"
    assert error_type(ConfigurationError("x")) == "Runtime.ConfigurationError"


def test_invoke_mode_values() -> None:
    assert invoke_mode(None) == "buffered"
    assert invoke_mode(" RESPONSE_STREAM ") == "response_stream"
    with pytest.raises(ConfigurationError, match="LAMBDA_ASGI_INVOKE_MODE must be one of"):
        invoke_mode("streaming")


# -- the invocation loop in-process, against the Runtime API emulator ----------------------------


def serve_one(
    api: RuntimeAPIServer, runtime: Runtime, event: Any, timeout: float = 10
) -> InvocationHandle:
    """Submit ``event``, let ``runtime`` serve it in this thread; the answered handle."""
    handle = api.submit(event)
    runtime.handle(runtime.client.next_invocation())
    return handle.wait(timeout)


def test_stream_mode_streams_a_body_sent_in_one_message_raw_and_past_6_mb(
    api: RuntimeAPIServer,
) -> None:
    # Binary, 7 MB, in ONE body message: a buffered response would be base64 and over 6 MB.
    payload = bytes(range(256)) * (7 * 4096)
    app = Starlette(
        routes=[Route("/file", lambda _: Response(payload, media_type="application/octet-stream"))]
    )
    adapter = LambdaAdapter(app, lifespan="off")
    runtime = Runtime(RuntimeClient(api.address), adapter, invoke_mode="response_stream")
    handle = serve_one(api, runtime, function_url_event("GET", "/file"))
    assert handle.status == "success" and handle.streaming
    assert handle.content_type == HTTP_INTEGRATION_CONTENT_TYPE
    assert handle.http_response() == (
        {
            "statusCode": 200,
            "headers": {
                "content-length": str(7 * 1024 * 1024),
                "content-type": "application/octet-stream",
            },
            "cookies": [],
        },
        payload,
    )


def database_down(_event: Any, _context: Any) -> Any:
    raise http.client.RemoteDisconnected("Remote end closed connection without response")


async def refused_app(scope: Any, _receive: Any, _send: Any) -> None:
    raise ConnectionRefusedError(111, "Connection refused (database)")


@pytest.mark.parametrize(
    ("handler", "event", "kind", "message"),
    [
        (
            FunctionHandler(database_down, "tests.test_runtime_units.database_down"),
            {"n": 1},
            "RemoteDisconnected",
            "Remote end closed connection without response",
        ),
        (
            LambdaAdapter(refused_app, lifespan="off", propagate_exceptions=True),
            function_url_event("GET", "/"),
            "ConnectionRefusedError",
            "[Errno 111] Connection refused (database)",
        ),
    ],
    ids=["plain", "asgi"],
)
def test_a_connection_error_raised_by_the_handler_is_the_invocations_error(
    api: RuntimeAPIServer,
    caplog: pytest.LogCaptureFixture,
    handler: LambdaAdapter | FunctionHandler,
    event: Any,
    kind: str,
    message: str,
) -> None:
    runtime = Runtime(RuntimeClient(api.address), handler)
    handle = serve_one(api, runtime, event)
    assert handle.status == "error" and handle.error is not None
    assert handle.error.error_type == f"Function.{kind}"
    body = handle.error.body
    assert (body["errorType"], body["errorMessage"]) == (kind, message)
    assert body["requestId"] == handle.request_id
    assert f"Invocation {handle.request_id} failed: {kind}: {message}" in caplog.text
    assert "Runtime API failure" not in caplog.text


def fails_deep(event: Any, _context: Any) -> Any:
    return parse_order(event)


def parse_order(event: Any) -> Any:
    raise ValueError(event["message"])


def test_an_invocation_error_carries_its_xray_error_cause(api: RuntimeAPIServer) -> None:
    handler = FunctionHandler(fails_deep, "tests.test_runtime_units.fails_deep")
    runtime = Runtime(RuntimeClient(api.address), handler)
    handle = serve_one(api, runtime, {"message": "no such order: 'é7'"})
    assert handle.status == "error" and handle.error is not None
    cause = handle.error.xray_cause
    assert cause["working_directory"] == os.getcwd()
    (exception,) = cause["exceptions"]
    assert (exception["type"], exception["message"]) == ("ValueError", "no such order: 'é7'")
    # The stack runs from the runtime's call into the handler down to the raising line.
    assert [frame["label"] for frame in exception["stack"][-2:]] == ["fails_deep", "parse_order"]
    assert exception["stack"][-1]["path"] == __file__
    assert exception["stack"][-1]["line"] == parse_order.__code__.co_firstlineno + 1
    assert __file__ in cause["paths"] and len(set(cause["paths"])) == len(cause["paths"])


def test_an_xray_error_cause_too_large_for_a_header_is_left_out(api: RuntimeAPIServer) -> None:
    handler = FunctionHandler(fails_deep, "tests.test_runtime_units.fails_deep")
    runtime = Runtime(RuntimeClient(api.address), handler)
    handle = serve_one(api, runtime, {"message": "x" * 70_000})
    assert handle.status == "error" and handle.error is not None
    assert handle.error.xray_cause is None
    assert handle.error.body["errorMessage"] == "x" * 70_000  # the error itself still arrives


def returns_event(event: Any, _context: Any) -> Any:
    return event.get("result", {"served": True})


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (
            {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": {"a": 1}},
            "its 'body' must be a string or null, got dict",
        ),
        (
            {"statusCode": 200, "body": "abcde", "isBase64Encoded": True},
            "it is flagged \"isBase64Encoded\": true but its 'body' is not valid base64",
        ),
    ],
    ids=["dict-body", "bad-base64"],
)
def test_stream_mode_reports_a_bad_plain_response_body_before_the_first_byte(
    api: RuntimeAPIServer, result: dict[str, Any], problem: str
) -> None:
    handler = FunctionHandler(returns_event, "tests.test_runtime_units.returns_event")
    runtime = Runtime(RuntimeClient(api.address), handler, invoke_mode="response_stream")
    event = {**function_url_event("GET", "/"), "result": result}
    handle = serve_one(api, runtime, event)
    # Nothing went to /response: the stream was never opened.
    assert handle.response_started_at is None and handle.chunks == []
    assert handle.status == "error" and handle.error is not None
    assert handle.error.error_type == "Runtime.MarshalError"
    assert handle.error.body["errorMessage"] == (
        f"The handler's response cannot be streamed: {problem}. Return the body as a string "
        '(json.dumps() a JSON body), or binary data base64-encoded with "isBase64Encoded": true.'
    )
    # The same runtime serves the next event.
    assert serve_one(api, runtime, {"n": 2}).json() == {"served": True}


def test_a_failed_error_report_is_logged_and_the_loop_goes_on(
    api: RuntimeAPIServer, caplog: pytest.LogCaptureFixture
) -> None:
    def answered_elsewhere(event: Any, context: Any) -> Any:
        if event.get("ok"):
            return {"ok": True}
        # Answered behind the runtime's back: the Runtime API refuses the /error (403) that
        # reports the result, which cannot be marshalled.
        RuntimeClient(api.address).post_response(context.aws_request_id, b'"elsewhere"')
        return {"when": object()}

    handler = FunctionHandler(answered_elsewhere, "tests.answered_elsewhere")
    runtime = Runtime(RuntimeClient(api.address), handler)
    first = serve_one(api, runtime, {})
    assert first.json() == "elsewhere"
    rid = first.request_id
    assert (
        f"Runtime API failure during invocation {rid}: Runtime API POST "
        f"/2018-06-01/runtime/invocation/{rid}/error failed with HTTP 403: "
        '{"errorType": "InvalidStateTransition", "errorMessage": '
        f'"invocation {rid} is not in progress (status success)"}}'
    ) in caplog.text
    assert serve_one(api, runtime, {"ok": True}).json() == {"ok": True}


PLAIN_HTTP_RESULT = {
    "statusCode": 200,
    "headers": {"content-type": "application/json"},
    "body": '{"ok": true}',
}


@pytest.mark.parametrize(
    ("event", "streams"),
    [
        (function_url_event("GET", "/"), True),
        (rest_event("GET", "/"), True),
        # Other front doors and direct invocations never read a stream: they get proxy JSON.
        (http_api_v2_event("GET", "/"), False),
        (alb_event("GET", "/"), False),
        ({"direct": "invoke"}, False),
    ],
    ids=["function-url", "rest", "http-api-v2", "alb", "direct"],
)
def test_stream_mode_streams_a_plain_handlers_response_only_to_a_streaming_front_door(
    api: RuntimeAPIServer, event: dict[str, Any], streams: bool
) -> None:
    handler = FunctionHandler(returns_event, "tests.test_runtime_units.returns_event")
    runtime = Runtime(RuntimeClient(api.address), handler, invoke_mode="response_stream")
    handle = serve_one(api, runtime, {**event, "result": PLAIN_HTTP_RESULT})
    if streams:
        assert handle.streaming and handle.content_type == HTTP_INTEGRATION_CONTENT_TYPE
        assert handle.http_response() == (
            {"statusCode": 200, "headers": {"content-type": "application/json"}, "cookies": []},
            b'{"ok": true}',
        )
    else:
        assert not handle.streaming and handle.content_type == "application/json"
        assert handle.json() == PLAIN_HTTP_RESULT


def raised(exc: Exception, cause: BaseException | None = None) -> Exception:
    """``exc`` raised (from ``cause``) and caught, so that it has a traceback."""
    try:
        raise exc from cause
    except Exception as caught:
        return caught


def test_error_body_names_a_runtime_fault_by_its_runtime_type_and_user_code_by_class() -> None:
    cause = raised(TypeError("Object of type object is not JSON serializable"))
    fault = raised(RuntimeFault("Runtime.MarshalError", "Unable to marshal: no"), cause)
    body = error_body(fault, "req-1")
    assert body == {
        "errorMessage": "Unable to marshal: no",
        "errorType": "Runtime.MarshalError",
        "stackTrace": body["stackTrace"],
        "requestId": "req-1",
    }
    # The trace is the cause's: where the failure happened.
    assert body["stackTrace"] and "raise exc from cause" in body["stackTrace"][-1]
    config = raised(ConfigurationError("cannot import module 'x'"), ImportError("no x"))
    assert error_body(config)["errorType"] == "Runtime.ImportModuleError"
    syntax = raised(SyntaxError("invalid syntax"))
    assert error_body(syntax)["errorType"] == "Runtime.UserCodeSyntaxError"
    # An exception of the function's code keeps its class name (its header: Function.*).
    assert error_body(raised(KeyError("k")))["errorType"] == "KeyError"


def unmarshallable(_event: Any, _context: Any) -> Any:
    return {"when": object()}


@pytest.mark.parametrize(
    ("event", "kind", "message"),
    [
        (
            {"n": 1},
            "Runtime.MarshalError",
            "Unable to marshal the handler's response: Object of type object is not JSON "
            "serializable",
        ),
        (
            b"{not json",
            "Runtime.UnmarshalError",
            "Unable to unmarshal the event JSON: Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)",
        ),
    ],
    ids=["marshal", "unmarshal"],
)
def test_invocation_error_body_has_the_runtime_error_type(
    api: RuntimeAPIServer, caplog: pytest.LogCaptureFixture, event: Any, kind: str, message: str
) -> None:
    handler = FunctionHandler(unmarshallable, "tests.test_runtime_units.unmarshallable")
    runtime = Runtime(RuntimeClient(api.address), handler)
    handle = serve_one(api, runtime, event)
    assert handle.error is not None and handle.error.error_type == kind
    body = handle.error.body
    assert (body["errorType"], body["errorMessage"], body["requestId"]) == (
        kind,
        message,
        handle.request_id,
    )
    assert f"Invocation {handle.request_id} failed: {kind}: {message}" in caplog.text


LOG_A_TRACEBACK = """
import json, sys
from lambda_asgi.runtime.logs import logger, setup_logging
setup_logging(json.loads(sys.argv[1]))
try:
    raise ValueError("first line\\nsecond line")
except ValueError as exc:
    logger.error("Invocation r1 failed", exc_info=exc)
"""


@pytest.mark.parametrize(
    ("environ", "newline"),
    [({}, "\r"), ({"AWS_EXECUTION_ENV": LOCAL_EXECUTION_ENV}, "\n")],
    ids=["lambda", "local"],
)
def test_a_log_record_is_one_line_with_cr_line_breaks_except_in_a_local_run(
    environ: dict[str, str], newline: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", LOG_A_TRACEBACK, json.dumps(environ)],
        capture_output=True,
        check=True,
    ).stdout.decode()
    # One line per record for CloudWatch (one event); a console keeps the line breaks.
    other = "\n" if newline == "\r" else "\r"
    assert out.endswith("\n") and other not in out[:-1]
    lines = out[:-1].split(newline)
    assert re.fullmatch(
        r"\[ERROR\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t\tInvocation r1 failed", lines[0]
    )
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2].startswith('  File "<string>", line 6, in <module>')
    assert lines[-2:] == ["ValueError: first line", "second line"]
