"""End to end: ``lambda-asgi runtime`` as a real process against the strict Runtime API.

Each runtime process is started once per configuration (module-scoped) and serves many
invocations, as a warm Lambda environment does.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambda_asgi.local.runtime_api import InvocationHandle, RuntimeAPIServer
from tests.events import function_url_event, http_api_v2_event

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("lambda-asgi")


@dataclass
class RuntimeProcess:
    """A runtime process, its Runtime API and the directory its markers go to."""

    api: RuntimeAPIServer
    proc: subprocess.Popen[bytes]
    markers: Path
    log: Path

    def markers_of(self, name: str) -> list[tuple[float, str]]:
        path = self.markers / name
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        return [(float(stamp), text) for stamp, _, text in (line.partition(" ") for line in lines)]

    def peak_rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


@contextmanager
def runtime_process(
    tmp: Path,
    env: dict[str, str],
    args: tuple[str, ...] = (),
    *,
    snap_start: bool = False,
    module: bool = False,
    command: list[str] | None = None,
) -> Iterator[RuntimeProcess]:
    """``lambda-asgi runtime ARGS`` (or ``python -m lambda_asgi.runtime ARGS``) with ``env``."""
    markers = tmp / "markers"
    markers.mkdir(parents=True, exist_ok=True)
    log = tmp / "runtime.log"
    if command is None and module:
        command = [sys.executable, "-m", "lambda_asgi.runtime", *args]
    elif command is None:
        command = (
            [str(CLI), "runtime", *args]
            if CLI.exists()
            else [sys.executable, "-m", "lambda_asgi.cli", "runtime", *args]
        )
    with RuntimeAPIServer(snap_start=snap_start) as api, open(log, "wb") as log_file:
        full_env = {
            **os.environ,
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "runtime-test",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "MARKER_DIR": str(markers),
            **env,
        }
        proc = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            yield RuntimeProcess(api, proc, markers, log)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def buffered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    env = {"LAMBDA_ASGI_APP": "tests.runtime_apps:app", "LAMBDA_ASGI_TIMEOUT_MARGIN_MS": "300"}
    with runtime_process(tmp_path_factory.mktemp("buffered"), env) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def streaming(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    env = {
        "LAMBDA_ASGI_APP": "tests.runtime_apps:app",
        "LAMBDA_ASGI_INVOKE_MODE": "response_stream",
        "LAMBDA_ASGI_TIMEOUT_MARGIN_MS": "300",
    }
    # The same process through the module entry point (python -m lambda_asgi.runtime).
    with runtime_process(tmp_path_factory.mktemp("streaming"), env, module=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    # Buffered stdout, as outside the managed runtime: what must reach the log is flushed.
    env = {"_HANDLER": "tests.runtime_apps.plain", "PYTHONUNBUFFERED": ""}
    with runtime_process(tmp_path_factory.mktemp("plain"), env) as runtime:
        yield runtime


def url_event(path: str, query: str = "") -> dict[str, object]:
    return function_url_event("GET", path, query)


def invoke(runtime: RuntimeProcess, event: object, timeout_s: float = 15.0) -> InvocationHandle:
    return runtime.api.invoke(event, timeout_s=timeout_s)


# -- buffered mode ----------------------------------------------------------------------------


def test_buffered_response_is_the_sources_proxy_json(buffered: RuntimeProcess) -> None:
    handle = invoke(buffered, http_api_v2_event("GET", "/"))
    assert handle.status == "success"
    assert not handle.streaming
    assert handle.json() == {
        "statusCode": 200,
        "headers": {"content-length": "36", "content-type": "application/json"},
        "body": '{"message":"hello from the runtime"}',
        "isBase64Encoded": False,
    }
    # The internal extension was registered during init, so Lambda will send SIGTERM.
    assert buffered.api.extensions == [
        {"name": "lambda-asgi", "events": [], "id": buffered.api.extensions[0]["id"]}
    ]


def test_buffered_mode_buffers_a_streamed_response(buffered: RuntimeProcess) -> None:
    handle = invoke(buffered, url_event("/stream", "n=3&delay=0.01"))
    assert handle.json()["body"] == "chunk 0\nchunk 1\nchunk 2\n"


def test_app_error_is_a_500_and_the_loop_goes_on(buffered: RuntimeProcess) -> None:
    handle = invoke(buffered, url_event("/boom"))
    result = handle.json()
    # Starlette's error middleware answers 500 itself, then re-raises (logged).
    assert (result["statusCode"], result["body"]) == (500, "Internal Server Error")
    assert "ValueError: the app failed before responding" in buffered.logs()
    assert invoke(buffered, url_event("/")).json()["statusCode"] == 200


def test_unsupported_event_is_an_invocation_error(buffered: RuntimeProcess) -> None:
    handle = invoke(buffered, {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})
    assert handle.status == "error"
    assert handle.error is not None
    assert handle.error.error_type == "Function.UnsupportedEventError"
    assert handle.error.body["errorType"] == "UnsupportedEventError"
    assert "aws:sqs" in handle.error.body["errorMessage"]
    assert handle.error.body["requestId"] == handle.request_id
    # The loop is still healthy.
    assert invoke(buffered, url_event("/")).json()["statusCode"] == 200


def test_background_task_runs_after_the_response_before_the_next_event(
    buffered: RuntimeProcess,
) -> None:
    handle = invoke(buffered, url_event("/background", "name=bg-buffered"))
    assert json.loads(handle.json()["body"]) == {"queued": True}
    assert_background_ran_after_response(buffered, handle, "bg-buffered")


def assert_background_ran_after_response(
    runtime: RuntimeProcess, handle: InvocationHandle, marker: str
) -> None:
    completed = handle.completed_at
    assert completed is not None
    wait_for(lambda: any(t > completed for t in runtime.api.next_calls))
    [(done_at, text)] = runtime.markers_of(marker)
    assert text == "background done"
    # The response was recorded before the background task finished...
    assert completed < done_at
    # ...and the runtime asked for the next event only once it had finished.
    assert min(t for t in runtime.api.next_calls if t > completed) >= done_at


def test_deadline_guard_answers_504_and_the_next_invocation_works(
    buffered: RuntimeProcess,
) -> None:
    handle = invoke(buffered, url_event("/slow", "seconds=30"), timeout_s=1.2)
    assert handle.completed_epoch_ms is not None
    assert handle.completed_epoch_ms < handle.deadline_ms  # Lambda would not have killed it
    result = handle.json()
    assert result["statusCode"] == 504
    assert json.loads(result["body"])["message"].startswith("Gateway Timeout")
    assert [text for _, text in buffered.markers_of("slow")] == ["cancelled"]
    assert "Deadline guard: GET /slow was still running 300 ms before" in buffered.logs()
    assert invoke(buffered, url_event("/")).json()["statusCode"] == 200


# -- response streaming -----------------------------------------------------------------------


def test_streamed_prelude_and_delimiter_are_byte_exact(streaming: RuntimeProcess) -> None:
    handle = invoke(streaming, url_event("/cookies"))
    assert handle.status == "success" and handle.streaming
    assert handle.content_type == "application/vnd.awslambda.http-integration-response"
    body = handle.body
    prelude_end = body.index(b"\x00")
    assert json.loads(body[:prelude_end]) == {
        "statusCode": 200,
        "headers": {
            "content-length": "11",
            "content-type": "application/json",
            "x-custom": "yes",
        },
        "cookies": ["a=1; Path=/; SameSite=lax", "b=2; Path=/; SameSite=lax"],
    }
    assert body[prelude_end:] == b"\x00" * 8 + b'{"ok":true}'
    assert handle.trailers == {}


def test_sources_that_cannot_stream_get_a_buffered_response(streaming: RuntimeProcess) -> None:
    handle = invoke(streaming, http_api_v2_event("GET", "/stream", "n=2&delay=0.01"))
    assert not handle.streaming
    assert handle.json()["body"] == "chunk 0\nchunk 1\n"


def test_stream_chunks_arrive_as_the_app_sends_them(streaming: RuntimeProcess) -> None:
    n, delay = 10, 0.1
    handle = invoke(streaming, url_event("/stream", f"n={n}&delay={delay}"))
    prelude, body = handle.http_response()
    assert prelude["statusCode"] == 200
    assert body == b"".join(f"chunk {i}\n".encode() for i in range(n))
    chunks = handle.chunks
    assert len(chunks) == n  # one HTTP chunk per ASGI body message
    assert chunks[0].data.endswith(b"\x00" * 8 + b"chunk 0\n")
    # The first byte arrived long before the app finished (it sleeps between chunks).
    assert handle.completed_at is not None
    assert chunks[0].at - handle.delivered_at < (handle.completed_at - handle.delivered_at) / 2
    spaced = [b.at - a.at >= delay / 2 for a, b in itertools.pairwise(chunks)]
    assert sum(spaced) >= (n - 1) // 2


def test_server_sent_events_arrive_event_by_event(streaming: RuntimeProcess) -> None:
    n, delay = 5, 0.1
    handle = invoke(streaming, url_event("/sse", f"n={n}&delay={delay}"))
    prelude, _body = handle.http_response()
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["content-type"].startswith("text/event-stream")
    events = [chunk.data for chunk in handle.chunks]
    events[0] = events[0].split(b"\x00" * 8, 1)[1]
    assert [e.replace(b"\r\n", b"\n") for e in events] == [
        f"event: tick\ndata: {i}\n\n".encode() for i in range(n)
    ]
    arrivals = [chunk.at for chunk in handle.chunks]
    assert sum(b - a >= delay / 2 for a, b in itertools.pairwise(arrivals)) >= 2
    assert arrivals[-1] - arrivals[0] >= (n - 1) * delay / 2


def test_error_after_first_byte_is_reported_in_trailers(streaming: RuntimeProcess) -> None:
    handle = invoke(streaming, url_event("/fail-mid"))
    assert handle.status == "error"
    _, body = handle.http_response()
    assert body == b"first\nsecond\n"
    assert handle.trailers["lambda-runtime-function-error-type"] == "Function.RuntimeError"
    decoded = json.loads(base64.b64decode(handle.trailers["lambda-runtime-function-error-body"]))
    assert decoded["errorType"] == "RuntimeError"
    assert decoded["errorMessage"] == "boom mid-stream"
    assert any("fail_mid" in line or "chunks" in line for line in decoded["trace"])
    assert handle.error is not None and handle.error.body == decoded
    assert invoke(streaming, url_event("/")).status == "success"


def test_50_mb_stream_keeps_the_runtime_memory_bounded(streaming: RuntimeProcess) -> None:
    invoke(streaming, url_event("/big", "mb=2"))  # warm the path: imports, buffers
    before = streaming.peak_rss_kb()
    handle = invoke(streaming, url_event("/big", "mb=50"), timeout_s=60)
    assert handle.status == "success"
    _, body = handle.http_response()
    assert len(body) == 50 * 1024 * 1024
    assert body[:3] == b"AAA" and body[-3:] == bytes([65 + 49 % 26]) * 3
    growth_mb = (streaming.peak_rss_kb() - before) / 1024
    assert growth_mb < 16, f"peak RSS grew by {growth_mb:.1f} MB for a 50 MB stream"


def test_streaming_background_task_runs_after_the_response(streaming: RuntimeProcess) -> None:
    handle = invoke(streaming, url_event("/background", "name=bg-stream"))
    _, body = handle.http_response()
    assert json.loads(body) == {"queued": True}
    assert_background_ran_after_response(streaming, handle, "bg-stream")


def test_deadline_mid_stream_ends_with_timeout_trailers(streaming: RuntimeProcess) -> None:
    handle = invoke(streaming, url_event("/stream", "n=100&delay=0.1"), timeout_s=1.2)
    assert handle.status == "error"
    assert handle.trailers["lambda-runtime-function-error-type"] == "Function.Timeout"
    _, body = handle.http_response()
    assert body.startswith(b"chunk 0\nchunk 1\n") and b"chunk 99" not in body
    assert invoke(streaming, url_event("/")).status == "success"


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "streaming"])
def test_headers_over_the_16_kib_prelude_are_an_error_before_the_first_byte(
    streaming: RuntimeProcess, streamed: bool
) -> None:
    # 14 cookies of 1 KiB fit in the prelude; the emulator checks the delimiter's position.
    query = "streamed=true" if streamed else ""
    fits = invoke(streaming, url_event("/big-cookies", f"n=14&{query}"))
    assert fits.status == "success"
    prelude, _body = fits.http_response()
    assert len(prelude["cookies"]) == 14
    assert fits.body.index(b"\x00" * 8) + 8 <= 16 * 1024

    handle = invoke(streaming, url_event("/big-cookies", f"n=20&{query}"))
    # Nothing reached /response (no invalid prelude); the error went to /error instead.
    assert handle.response_started_at is None and handle.chunks == []
    assert handle.status == "error" and handle.error is not None
    assert handle.error.error_type == "Function.ResponseHeadersTooLarge"
    assert handle.error.body["errorType"] == "ResponseHeadersTooLargeError"
    message = handle.error.body["errorMessage"]
    assert "within the first 16384 bytes of a streamed response" in message
    assert handle.error.body["requestId"] == handle.request_id
    assert f"Invocation {handle.request_id} failed: ResponseHeadersTooLargeError" in (
        streaming.logs()
    )
    assert invoke(streaming, url_event("/")).status == "success"


# -- plain handlers ---------------------------------------------------------------------------


def test_plain_handler_gets_the_managed_runtimes_context(plain: RuntimeProcess) -> None:
    handle = plain.api.submit(
        {"hello": "world"},
        timeout_s=20,
        trace_id="Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        client_context={"client": {"app_title": "Mobile"}, "custom": {"k": "v"}, "env": {}},
        cognito_identity={"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
    ).wait(25)
    result = handle.json()
    assert 0 < result.pop("remaining_ms") <= 20_000
    assert result == {
        "event": {"hello": "world"},
        "aws_request_id": handle.request_id,
        "invoked_function_arn": plain.api.function_arn,
        "function_name": "runtime-test",
        "function_version": "$LATEST",
        "memory_limit_in_mb": "512",
        "log_group_name": "",
        "log_stream_name": "",
        "trace_id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        "cognito_identity_id": "id-1",
        "app_title": "Mobile",
        "custom": {"k": "v"},
    }


def test_plain_handler_exception_goes_to_error_endpoint(plain: RuntimeProcess) -> None:
    handle = invoke(plain, {"action": "raise", "value": 7})
    assert handle.status == "error" and handle.error is not None
    assert handle.error.error_type == "Function.ValueError"
    body = handle.error.body
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "plain handler failed on 7"
    assert body["requestId"] == handle.request_id
    assert any("runtime_apps.py" in frame for frame in body["stackTrace"])


def test_unserializable_result_is_a_marshal_error(plain: RuntimeProcess) -> None:
    handle = invoke(plain, {"action": "unserializable"})
    assert handle.error is not None and handle.error.error_type == "Runtime.MarshalError"
    assert handle.error.body["errorType"] == "Runtime.MarshalError"
    assert handle.error.body["errorMessage"] == (
        "Unable to marshal the handler's response: Object of type object is not JSON serializable"
    )


def test_buffered_response_over_6_mb_gets_413_and_the_loop_goes_on(plain: RuntimeProcess) -> None:
    handle = invoke(plain, {"action": "huge"})
    assert handle.status == "error" and handle.error is not None
    assert handle.error.error_type == "Function.ResponseSizeTooLarge"
    assert invoke(plain, {"n": 1}).json()["event"] == {"n": 1}
    assert "over Lambda's 6 MB limit" in plain.logs()


def test_context_log_reaches_the_log_at_once(plain: RuntimeProcess) -> None:
    message = f"context.log line {time.monotonic()!r} without a newline"
    handle = invoke(plain, {"action": "log", "message": message})
    assert handle.json() == {"logged": True}
    # Flushed when written (AWS's stdout is unbuffered): in the log before the response.
    assert message in plain.logs()


def test_async_plain_handler_runs_on_the_loop(tmp_path: Path) -> None:
    env = {"_HANDLER": "tests.runtime_apps.async_plain"}
    with runtime_process(tmp_path, env) as runtime:
        handle = invoke(runtime, {"x": 1})
        assert handle.json() == {"async": True, "request_id": handle.request_id, "event": {"x": 1}}


# -- init, shutdown, SnapStart ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "error_type", "message"),
    [
        (
            {"LAMBDA_ASGI_APP": "tests.no_such_module:app"},
            "Runtime.ImportModuleError",
            "cannot import module 'tests.no_such_module'",
        ),
        (
            {"_HANDLER": "tests.runtime_apps.missing"},
            "Runtime.HandlerNotFound",
            "Handler 'missing' missing on module 'tests.runtime_apps'",
        ),
        (
            {"_HANDLER": "tests.runtime_apps.plain", "LAMBDA_ASGI_INVOKE_MODE": "stream"},
            "Runtime.ConfigurationError",
            "LAMBDA_ASGI_INVOKE_MODE must be one of buffered, response_stream",
        ),
    ],
)
def test_init_failure_goes_to_init_error_and_exits(
    tmp_path: Path, env: dict[str, str], error_type: str, message: str
) -> None:
    with runtime_process(tmp_path, env) as runtime:
        report = runtime.api.wait_init_error(15)
        assert runtime.proc.wait(10) == 1
    assert report.error_type == error_type
    assert report.body["errorType"] == error_type
    assert message in report.body["errorMessage"]
    assert runtime.api.next_calls == []


def test_sigterm_runs_lifespan_shutdown_and_exits_0(tmp_path: Path) -> None:
    # Python's own entry point this time: python -m lambda_asgi.runtime HANDLER
    with runtime_process(tmp_path, {}, ("tests.runtime_apps:app",), module=True) as runtime:
        assert invoke(runtime, url_event("/")).json()["statusCode"] == 200
        runtime.api.wait_idle(2)
        runtime.proc.send_signal(signal.SIGTERM)
        assert runtime.proc.wait(10) == 0
    assert [text for _, text in runtime.markers_of("lifespan")] == ["startup", "shutdown"]
    assert "Received SIGTERM: shutting down" in runtime.logs()


def test_sigterm_mid_invocation_answers_it_then_shuts_down(tmp_path: Path) -> None:
    env = {"LAMBDA_ASGI_APP": "tests.runtime_apps:app"}
    with runtime_process(tmp_path, env) as runtime:
        handle = runtime.api.submit(url_event("/in-flight", "seconds=0.5"), timeout_s=30)
        wait_for(lambda: runtime.markers_of("in-flight"), timeout=20)  # the app is running
        signalled_at = time.monotonic()
        runtime.proc.send_signal(signal.SIGTERM)
        assert runtime.proc.wait(15) == 0
        handle.wait(1)
    # The invocation in flight was answered in full...
    assert handle.json()["statusCode"] == 200
    assert json.loads(handle.json()["body"]) == {"slept": 0.5}
    assert handle.completed_at is not None and handle.completed_at > signalled_at
    # ...its post-response work ran, then the lifespan shutdown; no event was asked for after.
    in_flight = runtime.markers_of("in-flight")
    assert [text for _, text in in_flight] == ["started", "responding", "background done"]
    lifespan = runtime.markers_of("lifespan")
    assert [text for _, text in lifespan] == ["startup", "shutdown"]
    assert in_flight[0][0] < signalled_at < in_flight[1][0]
    assert handle.completed_at < in_flight[2][0] < lifespan[1][0]
    assert len(runtime.api.next_calls) == 1
    assert "Received SIGTERM: shutting down" in runtime.logs()


@contextmanager
def snap_start_runtime(tmp_path: Path, hooks: str) -> Iterator[RuntimeProcess]:
    pytest.importorskip("snapshot_restore_py")
    env = {
        "LAMBDA_ASGI_APP": "tests.runtime_apps:app",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "SNAP_HOOKS": hooks,
    }
    with runtime_process(tmp_path, env, snap_start=True) as runtime:
        yield runtime


def test_snap_start_runs_hooks_around_restore_next(tmp_path: Path) -> None:
    with snap_start_runtime(tmp_path, "1") as runtime:
        assert invoke(runtime, url_event("/")).json()["statusCode"] == 200
        restored_at = runtime.api.restored_at
        snap = runtime.markers_of("snap")
    assert restored_at is not None
    # Before-snapshot hooks run last-registered first, after-restore hooks in order.
    assert [text for _, text in snap] == [
        "before second",
        "before first",
        "after first",
        "after second",
    ]
    assert snap[1][0] <= restored_at <= snap[2][0]
    assert runtime.api.next_calls[0] >= snap[3][0]


def test_snap_start_after_restore_failure_goes_to_restore_error(tmp_path: Path) -> None:
    with snap_start_runtime(tmp_path, "fail-after") as runtime:
        assert runtime.proc.wait(15) == 65
    assert runtime.api.restore_error is not None
    assert runtime.api.restore_error.error_type == "Runtime.AfterRestoreError"
    assert runtime.api.restore_error.body["errorMessage"] == "after-restore hook failed"
    assert runtime.api.next_calls == []


# -- deploy glue ----------------------------------------------------------------------------------

DEPLOY = ROOT / "src" / "lambda_asgi" / "runtime" / "deploy"


def test_deploy_scripts_ship_as_executable_package_data() -> None:
    from importlib.resources import files

    shipped = files("lambda_asgi") / "runtime" / "deploy"
    for name in ("exec-wrapper", "bootstrap", "Dockerfile"):
        assert (shipped / name).is_file(), name
    for name in ("exec-wrapper", "bootstrap"):
        assert os.access(DEPLOY / name, os.X_OK), f"{name} is not executable"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "lambda_asgi.runtime"]' in dockerfile


def test_exec_wrapper_replaces_the_managed_runtime_with_ours(tmp_path: Path) -> None:
    # Lambda runs: $AWS_LAMBDA_EXEC_WRAPPER <interpreter> <managed runtime's arguments>
    command = [str(DEPLOY / "exec-wrapper"), sys.executable, "/var/runtime/bootstrap.py"]
    env = {
        "LAMBDA_ASGI_APP": "tests.runtime_apps:app",
        "LAMBDA_ASGI_INVOKE_MODE": "response_stream",
        "LAMBDA_TASK_ROOT": str(ROOT),
    }
    with runtime_process(tmp_path, env, command=command) as runtime:
        handle = invoke(runtime, url_event("/stream", "n=3&delay=0.01"))
        assert handle.streaming
        assert handle.http_response()[1] == b"chunk 0\nchunk 1\nchunk 2\n"


def test_provided_al2023_bootstrap_runs_our_runtime(tmp_path: Path) -> None:
    env = {
        "_HANDLER": "tests.runtime_apps.plain",
        "LAMBDA_ASGI_PYTHON": sys.executable,
        "LAMBDA_TASK_ROOT": str(ROOT),
    }
    with runtime_process(tmp_path, env, command=[str(DEPLOY / "bootstrap")]) as runtime:
        assert invoke(runtime, {"via": "bootstrap"}).json()["event"] == {"via": "bootstrap"}
