"""Apps that break the ASGI rules or misbehave, served through ``LambdaAdapter`` with real
HTTP API v2 events.

Each misbehaviour must give a short JSON error response (never a traceback), a log line that
says what the app did wrong, and leave the event loop as it was: the next invocation on the
same adapter is served normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lambda_asgi import LambdaAdapter, LambdaContext
from lambda_asgi.adapter import get_runner
from tests.events import http_api_v2_event

Send = Callable[[dict[str, Any]], Awaitable[None]]
Behaviour = Callable[[Send], Awaitable[None]]

START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
BODY = {"type": "http.response.body", "body": b"fine"}

OK_RESPONSE = {
    "statusCode": 200,
    "headers": {"content-type": "text/plain"},
    "body": "fine",
    "isBase64Encoded": False,
}


def error_response(status: int, message: str) -> dict[str, Any]:
    """The adapter's JSON error response for ``status``."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": message}),
        "isBase64Encoded": False,
    }


INTERNAL_ERROR = error_response(500, "Internal Server Error")


# -- the misbehaviours ------------------------------------------------------------------


async def raise_before_start(send: Send) -> None:
    raise RuntimeError("database unreachable")


async def raise_after_start(send: Send) -> None:
    await send(START)
    raise RuntimeError("template failed")


async def raise_while_streaming(send: Send) -> None:
    await send(START)
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b"more", "more_body": True})
    await asyncio.sleep(0)
    raise RuntimeError("lost the upstream")


async def no_response(send: Send) -> None:
    return None


async def start_without_body(send: Send) -> None:
    await send(START)


async def start_twice(send: Send) -> None:
    await send(START)
    await send(START)


async def start_twice_caught(send: Send) -> None:
    await send(START)
    with contextlib.suppress(RuntimeError):  # the app swallows the error and answers anyway
        await send({**START, "status": 201})
    await send(BODY)


async def body_before_start(send: Send) -> None:
    await send(BODY)
    await send(START)


async def str_body(send: Send) -> None:
    await send(START)
    await send({"type": "http.response.body", "body": "fine"})


def with_status(status: object) -> Behaviour:
    async def behaviour(send: Send) -> None:
        await send({**START, "status": status})
        await send(BODY)

    return behaviour


def with_headers(headers: object) -> Behaviour:
    async def behaviour(send: Send) -> None:
        await send({**START, "headers": headers})
        await send(BODY)

    return behaviour


async def not_a_message(send: Send) -> None:
    await send("http.response.start")  # type: ignore[arg-type]


async def unknown_message_type(send: Send) -> None:
    await send({"type": "websocket.send", "text": "hi"})


async def cancelled_before_start(send: Send) -> None:
    await asyncio.sleep(0)
    raise asyncio.CancelledError()


# (id, behaviour, what the log line must say)
PROTOCOL_BREAKS: list[tuple[str, Behaviour, str]] = [
    ("raise-before-start", raise_before_start, "database unreachable"),
    (
        "raise-after-start",
        raise_after_start,
        "the app raised RuntimeError after 'http.response.start' (status 200)",
    ),
    ("raise-while-streaming", raise_while_streaming, "RuntimeError while streaming"),
    ("no-response", no_response, "the app returned without sending 'http.response.start'"),
    (
        "start-without-body",
        start_without_body,
        "the app returned without a final 'http.response.body'",
    ),
    ("start-twice", start_twice, "the app sent 'http.response.start' twice"),
    (
        "start-twice-caught",
        start_twice_caught,
        "'http.response.start' twice: ASGI allows exactly one per response (the app caught "
        "this error and went on)",
    ),
    (
        "body-before-start",
        body_before_start,
        "the app sent 'http.response.body' before 'http.response.start'",
    ),
    ("str-body", str_body, "'http.response.body' body must be bytes, got str"),
    ("status-99", with_status(99), "status must be an int from 100 to 599, got 99"),
    ("status-600", with_status(600), "status must be an int from 100 to 599, got 600"),
    ("status-str", with_status("200"), "status must be an int from 100 to 599, got '200'"),
    ("status-none", with_status(None), "status must be an int from 100 to 599, got None"),
    (
        "header-name-str",
        with_headers([("content-type", b"text/plain")]),
        "headers are (bytes, bytes) pairs; the app sent ('content-type', b'text/plain')",
    ),
    (
        "header-value-str",
        with_headers([(b"content-type", "text/plain")]),
        "headers are (bytes, bytes) pairs; the app sent (b'content-type', 'text/plain')",
    ),
    (
        "header-value-crlf",
        with_headers([(b"location", b"/next\r\nSet-Cookie: session=stolen")]),
        "CR, LF or NUL, which would split the response",
    ),
    (
        "header-value-lf",
        with_headers([(b"x-note", b"a\nb")]),
        "CR, LF or NUL, which would split the response",
    ),
    (
        "header-name-nul",
        with_headers([(b"x-a\x00b", b"1")]),
        "CR, LF or NUL, which would split the response",
    ),
    (
        "header-not-a-pair",
        with_headers([b"content-type: text/plain"]),
        "headers are (name, value) pairs; the app sent b'content-type: text/plain'",
    ),
    ("headers-not-iterable", with_headers(42), "iterable of (bytes, bytes) pairs"),
    ("not-a-message", not_a_message, "ASGI messages are dicts with a 'type' key"),
    (
        "unknown-message-type",
        unknown_message_type,
        "unsupported ASGI message type 'websocket.send'",
    ),
    (
        "cancelled-before-start",
        cancelled_before_start,
        "the app's task was cancelled before 'http.response.start'",
    ),
]


def misbehaving_app(behaviour: Behaviour) -> Callable[..., Awaitable[None]]:
    """An app that answers ``/ok`` correctly and misbehaves on every other path."""

    async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
        assert scope["type"] == "http"
        if scope["path"] == "/ok":
            await send(START)
            await send(BODY)
            return
        await behaviour(send)

    return app


def pending_tasks() -> set[asyncio.Task[Any]]:
    """The tasks still pending on this thread's adapter loop."""
    return asyncio.all_tasks(get_runner().get_loop())


def lambda_asgi_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages of the ERROR records ``lambda_asgi`` logged."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "lambda_asgi" and r.levelno >= logging.ERROR
    ]


@pytest.mark.parametrize(
    ("behaviour", "expected_log"),
    [pytest.param(b, log, id=name) for name, b, log in PROTOCOL_BREAKS],
)
def test_misbehaviour_gives_500_and_a_log_line_and_the_next_request_works(
    behaviour: Behaviour, expected_log: str, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = LambdaAdapter(misbehaving_app(behaviour), lifespan="off")
    before = pending_tasks()
    caplog.set_level(logging.ERROR, logger="lambda_asgi")

    result = adapter(http_api_v2_event("GET", "/broken"), LambdaContext())

    assert result == INTERNAL_ERROR
    errors = lambda_asgi_errors(caplog)
    assert len(errors) == 1, errors
    assert "GET /broken" in errors[0] or "/broken" in errors[0]
    assert expected_log in errors[0]
    # The bridge leaves nothing of the failed exchange on the loop.
    assert pending_tasks() == before

    caplog.clear()
    assert adapter(http_api_v2_event("GET", "/ok"), LambdaContext()) == OK_RESPONSE
    assert lambda_asgi_errors(caplog) == []


def test_streaming_misbehaviour_with_stream_true_fails_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In streaming mode the headers are out already: iterating the stream raises."""
    from lambda_asgi import ResponseFailedError

    adapter = LambdaAdapter(misbehaving_app(raise_while_streaming), lifespan="off")
    invocation = adapter.invoke(http_api_v2_event("GET", "/broken"), LambdaContext(), stream=True)
    streamed = invocation.streamed
    assert streamed is not None
    assert (streamed.status, streamed.body) == (200, b"part")
    with pytest.raises(ResponseFailedError, match="RuntimeError while streaming") as failure:
        list(streamed.iter_body())
    assert str(failure.value.__cause__) == "lost the upstream"
    invocation.finish()
    assert adapter(http_api_v2_event("GET", "/ok"), LambdaContext()) == OK_RESPONSE


def test_raise_after_the_response_is_complete_keeps_the_response_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Post-response work (background tasks) failing cannot change a delivered response."""

    async def behaviour(send: Send) -> None:
        await send(START)
        await send(BODY)
        await asyncio.sleep(0)
        raise RuntimeError("audit write failed")

    adapter = LambdaAdapter(misbehaving_app(behaviour), lifespan="off")
    caplog.set_level(logging.ERROR, logger="lambda_asgi")
    assert adapter(http_api_v2_event("GET", "/broken"), LambdaContext()) == OK_RESPONSE
    [record] = [r for r in caplog.records if r.name == "lambda_asgi"]
    assert record.getMessage() == "ASGI app raised after its response was complete"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "audit write failed"
    assert adapter(http_api_v2_event("GET", "/ok"), LambdaContext()) == OK_RESPONSE


def test_body_after_the_response_is_complete_is_logged_with_the_rule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def behaviour(send: Send) -> None:
        await send(START)
        await send(BODY)
        await send({"type": "http.response.body", "body": b"extra"})

    adapter = LambdaAdapter(misbehaving_app(behaviour), lifespan="off")
    caplog.set_level(logging.ERROR, logger="lambda_asgi")
    assert adapter(http_api_v2_event("GET", "/broken"), LambdaContext()) == OK_RESPONSE
    [record] = [r for r in caplog.records if r.name == "lambda_asgi"]
    assert record.exc_info is not None
    assert "'http.response.body' after the response was complete" in str(record.exc_info[1])
    assert adapter(http_api_v2_event("GET", "/ok"), LambdaContext()) == OK_RESPONSE


def test_error_response_carries_no_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    """The exception text goes to the log only, never into the response."""

    async def behaviour(send: Send) -> None:
        raise ValueError("password=hunter2 for db.internal:5432")

    adapter = LambdaAdapter(misbehaving_app(behaviour), lifespan="off")
    caplog.set_level(logging.ERROR, logger="lambda_asgi")
    result = adapter(http_api_v2_event("GET", "/broken"), LambdaContext())
    assert result == INTERNAL_ERROR
    assert "hunter2" in lambda_asgi_errors(caplog)[0]


def run_in_fresh_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a new thread (its own adapter loop and invocation count)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_app_leaving_tasks_running_is_warned_about_and_the_loop_still_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tasks the app forgets keep living on the loop: the adapter says so, once per task,
    never cancels them (a pool may keep one on purpose) and keeps serving."""
    ticks: list[int] = []
    leaked: list[asyncio.Task[None]] = []

    async def forgotten() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.001)

    async def behaviour(send: Send) -> None:
        leaked.append(asyncio.get_running_loop().create_task(forgotten(), name="forgotten"))
        await send(START)
        await send(BODY)

    def work() -> list[dict[str, Any]]:
        adapter = LambdaAdapter(misbehaving_app(behaviour), lifespan="off")
        try:
            results = [adapter(http_api_v2_event("GET", "/leak"), LambdaContext())]
            results += [adapter(http_api_v2_event("GET", "/ok"), LambdaContext()) for _ in range(3)]
            return results
        finally:
            for task in leaked:
                task.cancel()
            loop = get_runner().get_loop()
            loop.run_until_complete(asyncio.gather(*leaked, return_exceptions=True))
            get_runner().close()

    caplog.set_level(logging.WARNING, logger="lambda_asgi")
    results = run_in_fresh_thread(work)
    assert results == [OK_RESPONSE] * 4
    warnings = [r.getMessage() for r in caplog.records if r.name == "lambda_asgi"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("The app left 1 task(s) running after its response: forgotten")
    assert "forgotten" in warnings[0] and "await them" in warnings[0]
    # The leaked task was never cancelled by the adapter: it ran during later invocations.
    assert ticks


def test_many_failures_in_a_row_leave_no_tasks_behind() -> None:
    """A few hundred misbehaving requests of every kind, then a normal one."""
    adapters = [
        LambdaAdapter(misbehaving_app(behaviour), lifespan="off")
        for _, behaviour, _ in PROTOCOL_BREAKS
    ]
    before = pending_tasks()
    logging.getLogger("lambda_asgi").disabled = True
    try:
        for _ in range(10):
            for adapter in adapters:
                assert adapter(http_api_v2_event("GET", "/x"), LambdaContext()) == INTERNAL_ERROR
    finally:
        logging.getLogger("lambda_asgi").disabled = False
    assert pending_tasks() == before
    assert all(a(http_api_v2_event("GET", "/ok"), LambdaContext()) == OK_RESPONSE for a in adapters)


async def never_answers(send: Send) -> None:
    await asyncio.sleep(3600)


async def starts_then_hangs(send: Send) -> None:
    await send(START)
    await asyncio.sleep(3600)


async def streams_for_ever(send: Send) -> None:
    await send(START)
    while True:
        await send({"type": "http.response.body", "body": b".", "more_body": True})
        await asyncio.sleep(0.005)


GATEWAY_TIMEOUT = error_response(
    504, "Gateway Timeout: the app did not answer before the function's timeout"
)


@pytest.mark.parametrize(
    "behaviour",
    [
        pytest.param(never_answers, id="never-answers"),
        pytest.param(starts_then_hangs, id="starts-then-hangs"),
        pytest.param(streams_for_ever, id="streams-for-ever"),
    ],
)
def test_never_ending_app_is_cancelled_before_the_deadline(
    behaviour: Behaviour, caplog: pytest.LogCaptureFixture
) -> None:
    """The deadline guard (``timeout_margin_ms``) answers 504 and keeps the loop usable."""
    adapter = LambdaAdapter(misbehaving_app(behaviour), lifespan="off", timeout_margin_ms=100)
    before = pending_tasks()
    caplog.set_level(logging.ERROR, logger="lambda_asgi")
    context = LambdaContext.local(timeout_s=0.4)

    assert adapter(http_api_v2_event("GET", "/hang"), context) == GATEWAY_TIMEOUT

    [message] = lambda_asgi_errors(caplog)
    assert message.startswith("Deadline guard: GET /hang was still running 100 ms before")
    assert pending_tasks() == before
    assert adapter(http_api_v2_event("GET", "/ok"), LambdaContext.local()) == OK_RESPONSE
