"""The sync bridge on its own: exchanges, streaming hand-off, errors, loop reuse."""

from __future__ import annotations

import asyncio
import contextvars
import re
from typing import Any

import pytest

from lambda_asgi.sync_bridge import (
    REQUEST_TASK_NAME,
    ASGIProtocolError,
    BridgeEventLoop,
    NeedsAsyncError,
    ResponseFailedError,
    call_asgi_sync,
    new_runner,
)

Message = dict[str, Any]


def http_scope(path: str = "/") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": ("example.com", 443),
    }


@pytest.fixture
def runner() -> Any:
    with new_runner() as runner:
        yield runner


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1"), (b"x-a", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"got:" + message["body"]})


def test_simple_exchange(runner: asyncio.Runner) -> None:
    response = call_asgi_sync(echo_app, http_scope(), b"hello", runner=runner)
    assert response.status == 201
    assert response.headers == [(b"content-type", b"text/plain"), (b"x-a", b"1"), (b"x-a", b"2")]
    assert response.body == b"got:hello"
    assert response.needs_async is False
    assert response.stream is None


def test_without_runner_uses_a_temporary_one() -> None:
    response = call_asgi_sync(echo_app, http_scope(), b"x")
    assert (response.status, response.body) == (201, b"got:x")


def test_body_in_several_messages_is_joined(runner: asyncio.Runner) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"b", "more_body": True})
        await send({"type": "http.response.body", "body": b"c"})

    response = call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert response.needs_async is True
    assert response.body == b"a"
    assert response.stream is not None
    assert list(response.stream) == [b"b", b"c"]
    response.finish()
    assert b"".join(response.iter_body()) == b"a"  # stream already consumed


def test_streaming_handoff_pulls_chunks_lazily(runner: asyncio.Runner) -> None:
    produced: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index in range(100):
            produced.append(index)
            await send({"type": "http.response.body", "body": b"%d," % index, "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})

    response = call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert response.needs_async
    # The app runs only a few chunks ahead of the consumer: memory stays bounded.
    assert len(produced) < 10
    stream = response.stream
    assert stream is not None
    first = next(stream)
    assert first == b"1,"
    assert len(produced) < 12
    rest = b"".join(stream)
    assert rest.endswith(b"99,end")
    assert len(produced) == 100


def test_stream_close_cancels_the_app(runner: asyncio.Runner) -> None:
    cancelled = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    response = call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert response.stream is not None
    next(response.stream)
    response.stream.close()
    assert cancelled == [True]
    # The loop is healthy afterwards.
    assert call_asgi_sync(echo_app, http_scope(), b"ok", runner=runner).body == b"got:ok"


def test_receive_does_not_report_disconnect_before_response_completes(
    runner: asyncio.Runner,
) -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.request"

        async def watch() -> None:
            message = await receive()
            events.append(f"{message['type']} after {len(events)} chunks")

        watcher = asyncio.ensure_future(watch())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):
            await asyncio.sleep(0)
            events.append("chunk")
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        await watcher

    response = call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert response.stream is not None
    assert b"".join(response.iter_body()) == b"xxx"
    response.finish()
    assert events == ["chunk", "chunk", "chunk", "http.disconnect after 3 chunks"]


def test_websocket_scope_raises_needs_async_before_calling_the_app() -> None:
    called = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    with pytest.raises(NeedsAsyncError, match="WebSocket"):
        call_asgi_sync(app, {"type": "websocket", "path": "/ws"}, b"")
    assert called == []


def test_exception_before_start_is_raised_as_is(runner: asyncio.Runner) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        call_asgi_sync(app, http_scope(), b"", runner=runner)


def test_exception_after_start_marks_the_response_failed(runner: asyncio.Runner) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise LookupError("late boom")

    with pytest.raises(ResponseFailedError, match=r"after 'http\.response\.start'") as info:
        call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert isinstance(info.value.__cause__, LookupError)


def test_exception_while_streaming_is_raised_by_the_stream(runner: asyncio.Runner) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await asyncio.sleep(0)
        raise LookupError("mid-stream")

    response = call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert response.stream is not None
    with pytest.raises(ResponseFailedError, match="while streaming") as info:
        list(response.stream)
    assert isinstance(info.value.__cause__, LookupError)


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([], "returned without sending 'http.response.start'"),
        (
            [{"type": "http.response.start", "status": 200, "headers": []}],
            "without a final 'http.response.body'",
        ),
        ([{"type": "http.response.body", "body": b"x"}], "before 'http.response.start'"),
        (
            [
                {"type": "http.response.start", "status": 200, "headers": []},
                {"type": "http.response.start", "status": 200, "headers": []},
            ],
            "'http.response.start' twice",
        ),
        ([{"type": "http.response.start", "status": 99}], "int from 100 to 599"),
        ([{"type": "http.response.start", "status": "200"}], "int from 100 to 599"),
        ([{"type": "http.response.start", "status": True}], "int from 100 to 599"),
        (
            [{"type": "http.response.start", "status": 200, "headers": [("a", "b")]}],
            r"\(bytes, bytes\) pairs",
        ),
        (
            [{"type": "http.response.start", "status": 200, "headers": [(b"a", b"b\r\nx: y")]}],
            "CR, LF or NUL",
        ),
        (
            [{"type": "http.response.start", "status": 200, "headers": [(b"a\x00", b"b")]}],
            "CR, LF or NUL",
        ),
        (
            [
                {"type": "http.response.start", "status": 200, "headers": []},
                {"type": "http.response.body", "body": "text"},
            ],
            "body must be bytes",
        ),
        ([{"type": "websocket.send"}], "unsupported ASGI message type"),
        (["not a dict"], "dicts with a 'type' key"),
    ],
)
def test_protocol_violations_name_the_rule(
    runner: asyncio.Runner, messages: list[Any], error: str
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    with pytest.raises((ASGIProtocolError, ResponseFailedError)) as info:
        call_asgi_sync(app, http_scope(), b"", runner=runner)
    exc = info.value
    text = str(exc if isinstance(exc, ASGIProtocolError) else exc.__cause__)
    assert re.search(error, text), text


def test_post_response_work_runs_in_finish(runner: asyncio.Runner) -> None:
    log: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        log.append("sent")
        await asyncio.sleep(0.01)
        log.append("background")

    response = call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert response.body == b"done"
    assert log == ["sent"]
    assert response.finished is False  # callers must not skip finish()
    response.finish()
    assert log == ["sent", "background"]
    assert response.finished is True


def test_a_response_with_nothing_left_to_run_is_finished(runner: asyncio.Runner) -> None:
    """Callers skip finish() on it; a task the app started still gets its loop turn."""
    started: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    async def spawner(scope: Any, receive: Any, send: Any) -> None:
        async def later() -> None:
            started.append("ran")

        scope["task"] = asyncio.get_running_loop().create_task(later())
        await app(scope, receive, send)

    assert call_asgi_sync(app, http_scope(), b"", runner=runner).finished is True
    response = call_asgi_sync(spawner, http_scope(), b"", runner=runner)
    # The app ran eagerly: the task it started has not had its turn yet.
    assert response.finished is False
    response.finish()
    assert started == ["ran"]
    assert response.finished is True


def test_current_task_and_fresh_context_per_request(runner: asyncio.Runner) -> None:
    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)
    seen: list[tuple[bool, int]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        task = asyncio.current_task()
        seen.append((task is not None, var.get()))
        var.set(var.get() + 1)
        assert asyncio.get_running_loop() is runner.get_loop()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for _ in range(3):
        call_asgi_sync(app, http_scope(), b"", runner=runner)
    # Each request sees the caller's context afresh: a value set in one does not leak.
    assert seen == [(True, 0), (True, 0), (True, 0)]
    assert var.get() == 0


def test_objects_bound_to_the_loop_survive_across_calls(runner: asyncio.Runner) -> None:
    state: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if "queue" not in state:
            state["queue"] = asyncio.Queue()
            state["worker"] = asyncio.ensure_future(worker(state["queue"]))
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await state["queue"].put(reply)
        body = await reply
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})

    async def worker(queue: asyncio.Queue[asyncio.Future[str]]) -> None:
        count = 0
        while True:
            reply = await queue.get()
            count += 1
            reply.set_result(f"call {count}")

    bodies = [call_asgi_sync(app, http_scope(), b"", runner=runner).body for _ in range(5)]
    assert bodies == [b"call 1", b"call 2", b"call 3", b"call 4", b"call 5"]
    state["worker"].cancel()


def test_the_request_task_is_named(runner: asyncio.Runner) -> None:
    names: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        names.append(asyncio.current_task().get_name())  # type: ignore[union-attr]
        await echo_app(scope, receive, send)

    call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert names == [REQUEST_TASK_NAME] == ["lambda-asgi request"]


def test_an_app_that_never_suspends_completes_without_running_the_loop(
    runner: asyncio.Runner,
) -> None:
    loop = runner.get_loop()
    assert isinstance(loop, BridgeEventLoop)
    loop_runs = []
    original = loop.run_until_complete

    def counting(future: Any) -> Any:
        loop_runs.append(future)
        return original(future)

    loop.run_until_complete = counting  # type: ignore[method-assign]
    response = call_asgi_sync(echo_app, http_scope(), b"a", runner=runner)
    assert response.body == b"got:a"
    assert loop_runs == []
    assert not loop.is_running()

    async def suspending(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0)
        await echo_app(scope, receive, send)

    assert call_asgi_sync(suspending, http_scope(), b"b", runner=runner).body == b"got:b"
    assert len(loop_runs) == 1


def test_body_after_the_response_completed_is_logged_not_returned(
    runner: asyncio.Runner, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a"})
        await send({"type": "http.response.body", "body": b"b"})

    response = call_asgi_sync(app, http_scope(), b"", runner=runner)
    response.finish()
    # The response was complete and is delivered; the extra message is the app's bug.
    assert (response.status, response.body) == (200, b"a")
    assert "after the response was complete" in caplog.text


def test_the_loop_debug_flag_follows_set_debug() -> None:
    # get_debug() is answered from C (every Future asks it); set_debug must keep it true.
    loop = BridgeEventLoop()
    try:
        assert loop.get_debug() is False
        assert loop.create_future()._source_traceback is None  # type: ignore[attr-defined]
        loop.set_debug(True)
        assert loop.get_debug() is True
        assert loop.create_future()._source_traceback  # type: ignore[attr-defined]
        loop.set_debug(False)
        assert loop.get_debug() is False
    finally:
        loop.close()


def test_is_running_is_the_loops_own_outside_an_eager_start(runner: asyncio.Runner) -> None:
    loop = runner.get_loop()
    seen: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(asyncio.get_running_loop().is_running())
        await echo_app(scope, receive, send)

    call_asgi_sync(app, http_scope(), b"", runner=runner)
    assert seen == [True]
    assert "is_running" not in vars(loop)
    assert not loop.is_running()


def test_the_response_headers_are_the_list_the_app_sent(runner: asyncio.Runner) -> None:
    headers = [(b"content-type", b"text/plain")]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    assert call_asgi_sync(app, http_scope(), b"", runner=runner).headers is headers


def test_response_headers_from_a_generator_are_checked_once_consumed(
    runner: asyncio.Runner,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pairs = ((name, value) for name, value in [(b"x-ok", b"1"), (b"x-bad", b"a\r\nb")])
        await send({"type": "http.response.start", "status": 200, "headers": pairs})
        await send({"type": "http.response.body", "body": b""})

    with pytest.raises(ASGIProtocolError, match="CR, LF or NUL"):
        call_asgi_sync(app, http_scope(), b"", runner=runner)


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-known", b"1")],
        [[b"x-known", b"1"]],  # list pairs: valid ASGI, not hashable
        [(bytearray(b"x-known"), b"1")],  # a bytearray name: valid, not hashable
        ((b"x-known", b"1"), (b"x-other", b"2")),  # a tuple of pairs
    ],
)
def test_header_pairs_seen_before_and_unhashable_pairs_are_accepted(
    runner: asyncio.Runner, headers: Any
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    for _ in range(2):  # the second time, remembered pairs skip the full check
        response = call_asgi_sync(app, http_scope(), b"", runner=runner)
        assert (response.status, list(response.headers)) == (200, list(headers))


def test_a_bad_value_of_a_header_accepted_before_is_refused(runner: asyncio.Runner) -> None:
    value = b"1"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-v", value)]})
        await send({"type": "http.response.body", "body": b""})

    assert call_asgi_sync(app, http_scope(), b"", runner=runner).status == 200
    value = b"1\r\nx-injected: yes"
    with pytest.raises(ASGIProtocolError, match="CR, LF or NUL"):
        call_asgi_sync(app, http_scope(), b"", runner=runner)


def test_remembered_header_pairs_stay_bounded(runner: asyncio.Runner) -> None:
    from lambda_asgi import sync_bridge

    async def app(scope: Any, receive: Any, send: Any) -> None:
        # A value that never repeats, as a Date or Content-Length header.
        pairs = [(b"x-count", str(scope["path"]).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": pairs})
        await send({"type": "http.response.body", "body": b""})

    for number in range(3000):
        assert call_asgi_sync(app, http_scope(f"/{number}"), b"", runner=runner).status == 200
    assert 0 < len(sync_bridge._CHECKED_PAIRS) <= sync_bridge._MAX_CHECKED_PAIRS
