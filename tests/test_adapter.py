"""LambdaAdapter: the warm loop, lifespan once per cold start, options, errors, zero-code."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_asgi import (
    AppLoadError,
    ConfigurationError,
    LambdaAdapter,
    LambdaContext,
    LifespanError,
    UnsupportedEventError,
)
from lambda_asgi.adapter import load_app

from .events import http_api_v2_event

ROOT = Path(__file__).resolve().parent.parent


class CountingApp:
    """An ASGI app that counts lifespan events and requests, and keeps a loop-bound client."""

    def __init__(self, *, lifespan: str = "ok") -> None:
        self.lifespan = lifespan
        self.startups = 0
        self.shutdowns = 0
        self.requests = 0
        self.queue: asyncio.Queue[int] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            if self.lifespan == "unsupported":
                raise RuntimeError("this app does not do lifespan")
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.startups += 1
                    if self.lifespan == "fail":
                        await send({"type": "lifespan.startup.failed", "message": "no database"})
                        return
                    scope["state"]["pool"] = {"created_in_startup": True}
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.shutdowns += 1
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.requests += 1
        # A loop-bound object created by the first request and used by every later one.
        if self.queue is None:
            self.queue = asyncio.Queue()
        await self.queue.put(self.requests)
        value = await self.queue.get()
        state = scope.get("state", {})
        body = json.dumps({"n": value, "state": sorted(state)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def call(handler: LambdaAdapter, path: str = "/") -> dict[str, Any]:
    return handler(http_api_v2_event("GET", path), LambdaContext.local())


def test_lifespan_runs_once_and_state_reaches_every_request() -> None:
    app = CountingApp()
    handler = LambdaAdapter(app)
    assert app.startups == 1
    bodies = [json.loads(call(handler)["body"]) for _ in range(5)]
    assert bodies == [{"n": n, "state": ["pool"]} for n in range(1, 6)]
    assert app.startups == 1
    handler.shutdown()
    handler.shutdown()
    assert app.shutdowns == 1


def test_state_is_a_shallow_copy_per_request() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            scope["state"]["shared"] = []
            await send({"type": "lifespan.startup.complete"})
            await receive()
            return
        scope["state"]["shared"].append(1)
        scope["state"]["per_request"] = True
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    handler = LambdaAdapter(app)
    call(handler)
    call(handler)
    assert handler.state["shared"] == [1, 1]  # the objects are shared
    assert "per_request" not in handler.state  # the dict is not


def test_lifespan_auto_remembers_an_app_without_lifespan() -> None:
    app = CountingApp(lifespan="unsupported")
    handler = LambdaAdapter(app)
    assert json.loads(call(handler)["body"]) == {"n": 1, "state": []}
    assert json.loads(call(handler)["body"]) == {"n": 2, "state": []}


def test_lifespan_on_raises_at_init_with_the_apps_message() -> None:
    with pytest.raises(LifespanError, match="no database"):
        LambdaAdapter(CountingApp(lifespan="fail"), lifespan="on")
    with pytest.raises(LifespanError, match="does not do lifespan"):
        LambdaAdapter(CountingApp(lifespan="unsupported"), lifespan="on")


def lifespan_app(ending: str) -> Any:
    """An app whose lifespan ends one of the ways real apps do besides the textbook one."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            if ending == "returns-before-startup-complete":
                return
            await send({"type": "lifespan.startup.complete"})
            if ending == "raises-after-startup":
                await asyncio.sleep(0)
                raise RuntimeError("the pool's watchdog died")
            if ending == "returns-after-startup":
                return
            assert (await receive())["type"] == "lifespan.shutdown"
            if ending == "returns-at-shutdown":
                return
            raise RuntimeError("could not close the pool")
        await asyncio.sleep(0.01)  # a real wait: the loop runs, so does the lifespan task
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


@pytest.mark.parametrize(
    ("ending", "logged"),
    [
        # A plain return is a finished shutdown, as uvicorn and hypercorn take it.
        ("returns-after-startup", []),
        ("returns-at-shutdown", []),
        ("returns-before-startup-complete", []),  # auto: taken as lifespan unsupported
        (
            "raises-after-startup",
            [
                (
                    "the app's ASGI lifespan raised between startup and shutdown",
                    "RuntimeError: the pool's watchdog died",
                )
            ],
        ),
        (
            "raises-at-shutdown",
            [("ASGI lifespan shutdown raised", "RuntimeError: could not close the pool")],
        ),
    ],
)
def test_lifespan_endings_log_only_real_errors_and_never_wait(
    ending: str,
    logged: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Short, so that a shutdown waiting on an app that already returned fails fast, not in 5 s.
    monkeypatch.setattr("lambda_asgi.lifespan.SHUTDOWN_TIMEOUT", 0.5)
    handler = LambdaAdapter(lifespan_app(ending))
    assert call(handler)["statusCode"] == 204
    handler.shutdown()
    errors = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert [(r.getMessage(), (r.exc_text or "").splitlines()[-1]) for r in errors] == logged


def test_lifespan_on_names_an_app_that_returns_without_starting() -> None:
    with pytest.raises(
        LifespanError,
        match=re.escape(
            "the app returned without sending 'lifespan.startup.complete' (lifespan='on'"
        ),
    ):
        LambdaAdapter(lifespan_app("returns-before-startup-complete"), lifespan="on")


def test_lifespan_off_skips_it() -> None:
    app = CountingApp()
    handler = LambdaAdapter(app, lifespan="off")
    assert app.startups == 0
    assert json.loads(call(handler)["body"])["state"] == []


def test_the_loop_is_reused_across_invocations_and_adapters() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    first, second = LambdaAdapter(app, lifespan="off"), LambdaAdapter(app, lifespan="off")
    for _ in range(3):
        call(first)
        call(second)
    assert len(set(map(id, loops))) == 1
    assert not loops[0].is_closed()


def test_a_thread_other_than_the_builder_can_call_it() -> None:
    app = CountingApp()
    handler = LambdaAdapter(app)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                results.extend(json.loads(call(handler)["body"]) for _ in range(3))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert errors == []
    # The worker thread has its own loop; the lifespan state still reaches its requests.
    assert results == [{"n": n, "state": ["pool"]} for n in (1, 2, 3)]
    assert json.loads(call(handler)["body"]) == {"n": 4, "state": ["pool"]}


def test_no_deprecation_warning_on_warm_or_cold_calls() -> None:
    code = (
        "import warnings; warnings.simplefilter('error');"
        "from lambda_asgi import LambdaAdapter, LambdaContext;"
        "from tests.events import http_api_v2_event;"
        "from tests.test_adapter import CountingApp;"
        "h = LambdaAdapter(CountingApp());"
        "[h(http_api_v2_event(), LambdaContext.local()) for _ in range(3)];"
        "h.shutdown(); print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_app_exception_gives_a_short_json_500_and_logs_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("secret database password in message")

    handler = LambdaAdapter(app, lifespan="off")
    response = call(handler, "/boom")
    assert response == {
        "statusCode": 500,
        "headers": {"content-type": "application/json"},
        "body": '{"message": "Internal Server Error"}',
        "isBase64Encoded": False,
    }
    assert "secret" not in json.dumps(response)
    assert "Traceback" in caplog.text and "secret database password" in caplog.text
    assert "GET /boom" in caplog.text


def test_propagate_exceptions_reraises() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("boom")

    handler = LambdaAdapter(app, lifespan="off", propagate_exceptions=True)
    with pytest.raises(ValueError, match="boom"):
        call(handler)


def test_unsupported_event_names_sources_and_keys() -> None:
    handler = LambdaAdapter(CountingApp(), lifespan="off")
    with pytest.raises(UnsupportedEventError) as info:
        handler({"Records": [{"eventSource": "aws:sqs", "body": "x"}]}, LambdaContext.local())
    message = str(info.value)
    assert "aws:sqs" in message
    assert "Top-level keys seen: Records" in message
    assert "HTTP API (payload format 2.0)" in message and "Function URL" in message


def test_websocket_event_gets_a_clear_error() -> None:
    event = {
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": "abc=",
            "domainName": "x.execute-api.us-east-1.amazonaws.com",
            "stage": "prod",
        },
        "isBase64Encoded": False,
    }
    handler = LambdaAdapter(CountingApp(), lifespan="off")
    with pytest.raises(UnsupportedEventError, match="WebSocket"):
        handler(event, LambdaContext.local())


def stream_app(chunks: int, size: int, media_type: bytes = b"text/plain") -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", media_type)],
            }
        )
        for _ in range(chunks):
            await send({"type": "http.response.body", "body": b"x" * size, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})

    return app


def test_streamed_response_is_buffered_within_the_limit() -> None:
    handler = LambdaAdapter(stream_app(10, 1000), lifespan="off")
    response = call(handler)
    assert response["statusCode"] == 200
    assert response["body"] == "x" * 10_000


def test_streamed_response_over_the_limit_is_a_clear_502(caplog: pytest.LogCaptureFixture) -> None:
    handler = LambdaAdapter(stream_app(7, 1024 * 1024), lifespan="off")
    response = call(handler)
    assert response["statusCode"] == 502
    message = json.loads(response["body"])["message"]
    assert "6 MB" in message and "RESPONSE_STREAM" in message
    assert "6 MB" in caplog.text


def test_whole_response_over_the_limit_once_base64_encoded_is_a_502() -> None:
    body = os.urandom(5 * 1024 * 1024)  # 5 MB of bytes is 6.7 MB of base64

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    response = call(LambdaAdapter(app, lifespan="off"))
    assert response["statusCode"] == 502
    assert "6 MB once encoded" in json.loads(response["body"])["message"]


def test_streaming_reject_refuses_any_streamed_response() -> None:
    handler = LambdaAdapter(stream_app(2, 10), lifespan="off", streaming="reject")
    response = call(handler)
    assert response["statusCode"] == 500
    assert "streaming='reject'" in json.loads(response["body"])["message"]


def test_server_sent_events_in_buffered_mode_name_response_stream() -> None:
    handler = LambdaAdapter(stream_app(2, 10, b"text/event-stream"), lifespan="off")
    response = call(handler)
    assert response["statusCode"] == 500
    message = json.loads(response["body"])["message"]
    assert "RESPONSE_STREAM" in message and "text/event-stream" in message


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"lifespan": "sometimes"}, "lifespan must be one of"),
        ({"streaming": "yes"}, "streaming must be one of"),
        ({"text_mime_types": "application/x-foo"}, "list of strings"),
        ({"text_mime_types": ["json"]}, "not a MIME type"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        LambdaAdapter(CountingApp(), **options)


def test_text_mime_types_extend_the_defaults() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        media = scope["path"].strip("/").replace("_", "/").encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", media)]}
        )
        await send({"type": "http.response.body", "body": b"hello"})

    handler = LambdaAdapter(app, lifespan="off", text_mime_types=["application/x-custom"])
    assert call(handler, "/application_x-custom")["isBase64Encoded"] is False
    assert call(handler, "/application_json")["isBase64Encoded"] is False
    assert call(handler, "/application_octet-stream")["isBase64Encoded"] is True


def test_from_env_reads_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    env = {
        "LAMBDA_ASGI_APP": "hello.app:app",
        "LAMBDA_ASGI_LIFESPAN": "off",
        "LAMBDA_ASGI_BASE_PATH": "api/",
        "LAMBDA_ASGI_TEXT_MIME_TYPES": "application/x-one, application/x-two",
        "LAMBDA_ASGI_EXCLUDE_HEADERS": "Server, x-powered-by",
        "LAMBDA_ASGI_STREAMING": "reject",
        "LAMBDA_ASGI_PROPAGATE_EXCEPTIONS": "true",
    }
    handler = LambdaAdapter.from_env(env)
    assert handler.config.base_path == "/api"
    assert {"application/x-one", "application/x-two", "application/json"} <= (
        handler.config.text_mime_types
    )
    assert handler.config.exclude_headers == {"server", "x-powered-by"}
    assert handler.streaming == "reject"
    assert handler.propagate_exceptions is True


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "LAMBDA_ASGI_APP is not set"),
        ("hello.app", "is not package.module:attribute"),
        ("no_such_module_here:app", "cannot import module 'no_such_module_here'"),
        ("hello.app:missing", "has no attribute 'missing'"),
    ],
)
def test_load_app_errors_say_what_to_set(
    monkeypatch: pytest.MonkeyPatch, value: str, error: str
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    with pytest.raises(ConfigurationError, match=error) as info:
        load_app(value)
    assert "LAMBDA_ASGI_APP" in str(info.value)


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on the module path for the test's app modules, forgotten after it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


# Module-level code of an app with a typo (os.enviro): an AttributeError at import.
TYPO_APP = """import os

DATABASE_URL = os.enviro["DATABASE_URL"]


async def app(scope, receive, send):
    pass
"""

TYPO_ERROR = (
    "AppLoadError: LAMBDA_ASGI_APP='{module}:app': importing module '{module}' raised "
    "AttributeError: module 'os' has no attribute 'enviro'. The error is in the app's own code "
    "(see its traceback), not in LAMBDA_ASGI_APP: fix it there."
)


def test_load_app_reports_an_error_of_the_apps_import_as_the_apps(app_dir: Path) -> None:
    (app_dir / "typo_app_in_process.py").write_text(TYPO_APP)
    with pytest.raises(AppLoadError) as info:
        load_app("typo_app_in_process:app")
    error = info.value
    assert not isinstance(error, AttributeError)
    assert f"AppLoadError: {error}" == TYPO_ERROR.format(module="typo_app_in_process")
    assert isinstance(error.__cause__, AttributeError)
    # The traceback a runtime logs ends on the app's line.
    last = traceback.extract_tb(error.__traceback__)[-1]
    assert (last.filename, last.lineno) == (str(app_dir / "typo_app_in_process.py"), 3)


LAZY_APP = """class Factory:
    @property
    def app(self):
        return self.settings.app


factory = Factory()
"""


def test_load_app_tells_an_attribute_that_raises_from_a_missing_one(app_dir: Path) -> None:
    (app_dir / "lazy_app.py").write_text(LAZY_APP)
    with pytest.raises(AppLoadError) as info:
        load_app("lazy_app:factory.app")
    assert str(info.value) == (
        "LAMBDA_ASGI_APP='lazy_app:factory.app': reading 'factory.app' of module 'lazy_app' "
        "raised AttributeError: 'Factory' object has no attribute 'settings'. The error is in "
        "the app's own code (see its traceback), not in LAMBDA_ASGI_APP: fix it there."
    )
    assert isinstance(info.value.__cause__, AttributeError)
    with pytest.raises(ConfigurationError, match=re.escape("has no attribute 'factory.missing'")):
        load_app("lazy_app:factory.missing")


def run_zero_code(
    app_spec: str | None, app_dir: Path | None = None, *, from_import: bool = False
) -> subprocess.CompletedProcess[str]:
    """Import lambda_asgi.handler the way the managed runtime does (``getattr`` on the
    module), or with ``from lambda_asgi import handler``, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDA_ASGI_")}
    paths = [str(ROOT / "examples"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([str(app_dir), *paths] if app_dir else paths)
    if app_spec is not None:
        env["LAMBDA_ASGI_APP"] = app_spec
    get_handler = (
        "from lambda_asgi import handler;"
        if from_import
        else "handler = getattr(importlib.import_module('lambda_asgi'), 'handler');"
    )
    code = (
        "import importlib, json;"
        "from tests.events import http_api_v2_event;"
        "from lambda_asgi import LambdaContext;"
        f"{get_handler}"
        "print(json.dumps(handler(http_api_v2_event('GET', '/'), LambdaContext.local())))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_zero_code_handler_serves_the_app_named_by_the_env() -> None:
    result = run_zero_code("hello.app:app")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["message"] == "hello from lambda-asgi"


def test_zero_code_handler_fails_at_init_with_what_to_set() -> None:
    result = run_zero_code(None)
    assert result.returncode != 0
    assert "ConfigurationError: LAMBDA_ASGI_APP is not set" in result.stderr
    assert "package.module:attribute" in result.stderr


@pytest.mark.parametrize("from_import", [False, True], ids=["getattr", "from-import"])
def test_zero_code_handler_reports_an_attribute_error_of_the_app_as_the_apps(
    tmp_path: Path, from_import: bool
) -> None:
    """Not as "handler missing": the managed runtime reads an AttributeError out of
    ``getattr(lambda_asgi, "handler")`` as ``Runtime.HandlerNotFound`` and drops it."""
    (tmp_path / "typo_app.py").write_text(TYPO_APP)
    result = run_zero_code("typo_app:app", tmp_path, from_import=from_import)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "lambda_asgi.errors." + TYPO_ERROR.format(module="typo_app")
    # The app's own exception, chained as the cause (Python adds "Did you mean ...").
    cause = "AttributeError: module 'os' has no attribute 'enviro'"
    assert [line for line in lines if line.startswith(cause)] != []
    assert "The above exception was the direct cause of the following exception:" in lines
    assert "cannot import name" not in result.stderr
    assert "has no attribute 'handler'" not in result.stderr


def test_zero_code_handler_never_lets_an_attribute_error_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever raises it while the handler is built, an AttributeError would read as "no
    attribute 'handler'"."""
    import lambda_asgi
    import lambda_asgi.adapter

    def broken() -> LambdaAdapter:
        raise AttributeError("'NoneType' object has no attribute 'app'")

    monkeypatch.setattr(lambda_asgi.adapter, "zero_code_handler", broken)
    monkeypatch.setenv("LAMBDA_ASGI_APP", "main:app")
    with pytest.raises(AppLoadError) as info:
        lambda_asgi.handler  # noqa: B018
    assert str(info.value) == (
        "lambda_asgi.handler: building the handler for LAMBDA_ASGI_APP='main:app' raised "
        "AttributeError: 'NoneType' object has no attribute 'app'"
    )
    assert isinstance(info.value.__cause__, AttributeError)


# The README quick start's module: ``handler = LambdaAdapter(app)``, with an option.
ADAPTER_MODULE = """from lambda_asgi import LambdaAdapter

startups = 0


async def app(scope, receive, send):
    global startups
    if scope["type"] == "lifespan":
        await receive()
        startups += 1
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": scope["root_path"].encode()})


handler = LambdaAdapter(app, base_path="/api")
"""


def test_an_adapter_named_as_the_app_serves_as_it_was_built(
    app_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (app_dir / "adapter_module.py").write_text(ADAPTER_MODULE)
    module: Any = importlib.import_module("adapter_module")
    assert load_app("adapter_module:handler") is module.app
    env = {"LAMBDA_ASGI_APP": "adapter_module:handler"}
    with caplog.at_level(logging.WARNING, "lambda_asgi"):
        assert LambdaAdapter.from_env(env) is module.handler
        assert caplog.messages == []
        options = {"LAMBDA_ASGI_LIFESPAN": "off", "LAMBDA_ASGI_BASE_PATH": "/other"}
        adapter = LambdaAdapter.from_env({**env, **options})
    assert adapter is module.handler
    assert caplog.messages == [
        "LAMBDA_ASGI_APP='adapter_module:handler' names a LambdaAdapter, which serves with the "
        "options it was built with: LAMBDA_ASGI_LIFESPAN, LAMBDA_ASGI_BASE_PATH ignored. Pass "
        "them to LambdaAdapter(...), or name the ASGI app it wraps."
    ]
    response = adapter(http_api_v2_event("GET", "/api/x"), LambdaContext.local())
    assert (response["statusCode"], response["body"]) == (200, "/api")
    assert module.startups == 1  # its lifespan, started once
    adapter.shutdown()
