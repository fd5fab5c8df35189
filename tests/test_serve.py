"""``lambda-asgi serve``, ``lambda-asgi invoke --source/--runtime`` and ``make run``, as real
processes with a real HTTP client.

The same app (``tests/serve_app.py``) runs behind ``serve`` (each front door, buffered, and a
streaming Function URL) and directly under uvicorn; every request of the matrix goes to both
and the answers must be equal, apart from what legitimately differs:

* ``date`` and ``server``: each server stamps its own;
* the port in absolute URLs (in bodies and ``Location``): the two servers listen on different
  ports, so each server's base URL is replaced by ``BASE``;
* ``content-length`` is checked against the body received, then set aside (the body of the
  echo routes contains the URL, whose length differs with the port); ``transfer-encoding`` is
  how a streamed response is framed;
* headers repeated in one response are compared joined with ``", "`` (HTTP API, Function URL,
  ALB and Lattice responses carry one value per name; RFC 9110 makes the two equivalent), and
  ``set-cookie`` headers as a sorted list;
* what the AWS front door itself changes in a request: an ALB in single-value mode passes the
  LAST value of a repeated query key, and takes bodies up to 1 MB (413 beyond); REST and
  Lattice pass decoded query values (the app sees them re-encoded: ``a+b`` as ``a%20b``);
  HTTP API decodes the path, so ``%2F`` arrives as ``/``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import pytest

from lambda_asgi.events import detect_source
from lambda_asgi.local.front_door import (
    DELIMITER,
    SOURCE_NAMES,
    HttpRequest,
    MalformedResponseError,
    build_event,
    http_head,
    proxy_to_http,
    split_prelude,
)
from lambda_asgi.local.sandbox import Sandbox
from tests.serve_app import BINARY

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("lambda-asgi")
LAMBDA_ASGI = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "lambda_asgi.cli"]
APP = "tests.serve_app:app"

pytestmark = pytest.mark.timeout(120)


# -- processes -----------------------------------------------------------------------------


@dataclass
class Server:
    """A server process, its log (stdout and stderr) and the URL it printed."""

    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the output:\n{self.output()}")
            time.sleep(0.05)


@contextmanager
def server_process(
    command: list[str], log: Path, url_pattern: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start ``command``, wait until its output shows a URL, stop it with SIGINT (Ctrl-C)."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(proc, log)
    try:
        deadline = time.monotonic() + 30
        while not (match := re.search(url_pattern, server.output())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{command} did not start:\n{server.output()}")
            time.sleep(0.05)
        server.url = match.group(1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


SERVE_URL = r"listening on (http://[\d.]+:\d+)"


@contextmanager
def serve(tmp: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``lambda-asgi serve ARGS --port 0``."""
    command = [*LAMBDA_ASGI, "serve", *args, "--port", "0"]
    with server_process(command, tmp / "serve.log", SERVE_URL, env) as server:
        yield server


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app served by uvicorn itself."""
    log = tmp_path_factory.mktemp("direct") / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", APP, "--port", "0"]
    with server_process(command, log, r"Uvicorn running on (http://[\d.]+:\d+)") as server:
        yield server


FRONT_DOORS = [
    pytest.param(("http-api", False), id="http-api"),
    pytest.param(("rest", False), id="rest"),
    pytest.param(("alb", False), id="alb"),
    pytest.param(("function-url", False), id="function-url"),
    pytest.param(("lattice", False), id="lattice"),
    pytest.param(("function-url", True), id="function-url-stream"),
]


@dataclass
class FrontDoor:
    source: str
    stream: bool
    server: Server


@pytest.fixture(scope="module", params=FRONT_DOORS)
def front_door(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FrontDoor]:
    source, stream = request.param
    args = [APP, "--source", source, *(["--stream"] if stream else [])]
    with serve(tmp_path_factory.mktemp(f"serve-{source}"), *args) as server:
        yield FrontDoor(source, stream, server)


# -- the matrix ----------------------------------------------------------------------------

FIVE_MB = (b"0123456789abcdef" * 65536) * 5  # 5 MiB of text


@dataclass
class Case:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


CASES = {
    "get-plain": Case("GET", "/echo/plain"),
    "query-repeated-and-encoded": Case(
        "GET", "/echo/q?x=1&x=2&plus=a+b&enc=a%2Bb&check=%E2%9C%93&empty=&sp=a%20b"
    ),
    "path-encoded": Case("GET", "/echo/caf%C3%A9/a%20b"),
    "path-encoded-slash": Case("GET", "/echo/a%2Fb"),
    "post-json": Case(
        "POST", "/echo/json", {"content-type": "application/json"}, b'{"title": "hi", "n": 1}'
    ),
    "put-form": Case(
        "PUT", "/echo/form", {"content-type": "application/x-www-form-urlencoded"}, b"a=1&b=%20"
    ),
    "patch-text": Case("PATCH", "/echo/t", {"content-type": "text/plain"}, "héllo".encode()),
    "delete": Case("DELETE", "/echo/d?id=7"),
    "custom-header": Case("GET", "/echo/h", {"x-custom": "one"}),
    "cookies-in": Case("GET", "/echo/c", {"cookie": "session=abc; theme=dark; empty="}),
    "cookies-out": Case("GET", "/cookies"),
    "binary-upload": Case("POST", "/binary", {"content-type": "application/octet-stream"}, BINARY),
    "binary-download": Case("GET", "/binary"),
    "head": Case("HEAD", "/binary"),
    "gzip": Case("GET", "/gzip", {"accept-encoding": "gzip"}),
    "redirect-absolute": Case("GET", "/redirect"),
    "redirect-relative": Case("GET", "/redirect-relative"),
    "not-found-route": Case("GET", "/nowhere"),
    "not-found-app": Case("GET", "/status/404"),
    "no-content": Case("GET", "/status/204"),
    "teapot": Case("GET", "/status/418"),
    "method-not-allowed": Case("POST", "/cookies"),
    "validation-error": Case("GET", "/status/abc"),
    "app-exception": Case("GET", "/error"),
    "five-mb-upload": Case("POST", "/echo/big", {"content-type": "text/plain"}, FIVE_MB),
}


def expected_request(source: str, case: Case) -> Case:
    """What the app receives through ``source``, as a request to send it directly."""
    target = case.target
    path, _, query = target.partition("?")
    if source == "alb" and query:
        last: dict[str, str] = {}
        for item in query.split("&"):
            key, _, value = item.partition("=")
            last[key] = value
        target = path + "?" + "&".join(f"{key}={value}" for key, value in last.items())
    if source in ("rest", "lattice") and query:
        # They pass DECODED query values: the client's own encoding is not kept.
        target = path + "?" + urlencode(parse_qsl(query, keep_blank_values=True), quote_via=quote)
    if source == "http-api":
        target = target.replace("%2F", "/")
    return Case(case.method, target, case.headers, case.body)


CLIENT = httpx.Client(timeout=30, follow_redirects=False)


def send(base: str, case: Case) -> httpx.Response:
    try:
        return CLIENT.request(
            case.method, base + case.target, headers=case.headers, content=case.body or None
        )
    finally:
        CLIENT.cookies.clear()  # no cookie of one answer goes with the next request


def normalized(response: httpx.Response, base: str) -> dict[str, Any]:
    raw_body = response.content
    groups: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        groups.setdefault(name.lower(), []).append(value.replace(base, "BASE"))
    length = groups.pop("content-length", None)
    if length is not None and response.request.method != "HEAD":
        encoded = response.headers.get("content-encoding")
        size = len(response.read()) if not encoded else int(length[0])
        assert int(length[0]) == size, "Content-Length does not match the body"
    for name in ("date", "server", "transfer-encoding"):
        groups.pop(name, None)
    headers: dict[str, Any] = {
        name: ", ".join(values) for name, values in groups.items() if name != "set-cookie"
    }
    if "set-cookie" in groups:
        headers["set-cookie"] = sorted(groups["set-cookie"])
    body: Any = raw_body.replace(base.encode(), b"BASE")
    if headers.get("content-type") == "application/json" and body:
        body = json.loads(body)  # readable differences
    return {"status": response.status_code, "headers": headers, "body": body}


@pytest.mark.parametrize("case_name", list(CASES))
def test_serve_matches_uvicorn(front_door: FrontDoor, direct: Server, case_name: str) -> None:
    case = CASES[case_name]
    through_lambda = send(front_door.server.url, case)
    if front_door.source == "alb" and len(case.body) > 1024 * 1024:
        # An ALB passes at most 1 MB of request body to a Lambda target.
        assert through_lambda.status_code == 413
        assert through_lambda.json() == {"message": "Request Entity Too Large"}
        return
    reference = send(direct.url, expected_request(front_door.source, case))
    assert normalized(through_lambda, front_door.server.url) == normalized(reference, direct.url)
    if case_name == "five-mb-upload":
        assert through_lambda.json()["body_sha256"] == hashlib.sha256(FIVE_MB).hexdigest()
    if front_door.stream and case.method != "HEAD" and case_name != "no-content":
        # A Function URL in RESPONSE_STREAM mode frames every response as a stream.
        assert through_lambda.headers.get("transfer-encoding") == "chunked"


# -- streaming -----------------------------------------------------------------------------


def sse_arrivals(url: str) -> list[tuple[float, float]]:
    """``(produced, received)`` monotonic times of each event of ``/sse``."""
    events = []
    with httpx.stream("GET", url + "/sse?n=5&delay=0.3", timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append((float(line[6:]), time.monotonic()))
    return events


def test_stream_events_arrive_one_by_one(tmp_path: Path) -> None:
    with serve(tmp_path, APP, "--source", "function-url", "--stream") as server:
        events = sse_arrivals(server.url)
    assert len(events) == 5
    # Each event reached the client before the app produced the next one: nothing was
    # held back until the end.
    for (_, received), (next_produced, _) in itertools.pairwise(events):
        assert received < next_produced


def test_stream_flag_with_a_front_door_that_cannot_stream(tmp_path: Path) -> None:
    """HTTP API cannot take a stream: as in AWS, the runtime answers it buffered, and SSE
    gets the adapter's explanation."""
    with serve(tmp_path, APP, "--source", "http-api", "--stream") as server:
        response = httpx.get(server.url + "/sse?n=2&delay=0", timeout=30)
        ok = httpx.get(server.url + "/echo/x", timeout=30)
        output = server.output()
    assert "cannot take a response stream in AWS" in output
    assert response.status_code == 500
    assert "RESPONSE_STREAM" in response.text
    assert ok.status_code == 200
    assert "transfer-encoding" not in ok.headers


# -- failures ------------------------------------------------------------------------------


def test_function_errors_crashes_and_timeouts(tmp_path: Path) -> None:
    env = {"LAMBDA_ASGI_PROPAGATE_EXCEPTIONS": "true"}
    # One runtime process at a time: each answer names the process that gave it.
    with serve(tmp_path, APP, "--timeout", "2", "--concurrency", "1", env=env) as server:
        first_pid = httpx.get(server.url + "/pid", timeout=30).json()["pid"]

        error = httpx.get(server.url + "/function-error", timeout=30)
        assert error.status_code == 502
        assert error.json() == {"message": "Internal Server Error"}
        server.wait_for_output("the function failed on purpose")
        server.wait_for_output("GET /function-error: function error Function.RuntimeError")
        assert httpx.get(server.url + "/pid", timeout=30).json()["pid"] == first_pid

        crash = httpx.get(server.url + "/crash", timeout=30)
        assert crash.status_code == 502
        server.wait_for_output("Runtime exited with error: exit status 3")
        after_crash = httpx.get(server.url + "/pid", timeout=30)
        assert after_crash.status_code == 200
        assert after_crash.json()["pid"] != first_pid  # a new runtime process

        timed_out = httpx.get(server.url + "/block?seconds=30", timeout=30)
        assert timed_out.status_code == 504
        server.wait_for_output("Task timed out after 2.00 seconds")
        after_timeout = httpx.get(server.url + "/pid", timeout=30)
        assert after_timeout.status_code == 200
        assert after_timeout.json()["pid"] not in (first_pid, after_crash.json()["pid"])


def test_a_port_in_use_gets_the_bind_error_alone_and_exit_status_3() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", APP, "--port", str(port))
    assert done.returncode == 3  # uvicorn's status for a server that could not start
    assert done.stdout == ""
    started, error = done.stderr.splitlines()  # no traceback, no runtime process started
    assert re.fullmatch(r"INFO: +Started server process \[\d+\]", started)
    assert re.fullmatch(
        rf"ERROR: +\[Errno \d+\] error while attempting to bind on address "
        # Python 3.13 words the OS error "[errno 98] address already in use".
        rf"\('127\.0\.0\.1', {port}\): (\[errno \d+\] )?address already in use",
        error,
    )


# An init (module import) of SLOW_INIT_S seconds; each request answers the time it had left.
SLOW_INIT_APP = """
import os
import time

time.sleep(float(os.environ["SLOW_INIT_S"]))


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    remaining = scope["aws.context"].get_remaining_time_in_millis()
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": str(remaining).encode()})
"""


def slow_init_sandbox(tmp_path: Path, init_s: float, timeout_s: float) -> Sandbox:
    """A started sandbox whose init takes ``init_s``, with a 0.5 s init phase (Lambda's is
    10 s: the same rules, faster)."""
    (tmp_path / "slow_init_app.py").write_text(SLOW_INIT_APP)
    sandbox = Sandbox(
        "slow_init_app:app",
        app_dir=str(tmp_path),
        timeout_s=timeout_s,
        init_timeout_s=0.5,
        environ={**os.environ, "PYTHONPATH": str(ROOT), "SLOW_INIT_S": str(init_s)},
    )
    sandbox.start()
    return sandbox


def remaining_ms(sandbox: Sandbox) -> int:
    """Invoke the slow-init app: the milliseconds its invocation had left."""
    event = build_event("http-api", HttpRequest("GET", "/"))
    return int(json.loads(sandbox.invoke(event).wait())["body"])


def test_an_init_over_the_init_phase_shares_the_timeout_with_the_first_invocation(
    tmp_path: Path,
) -> None:
    """As Lambda retries an init over 10 s with the first invocation, bounded by the
    function's timeout: the init succeeds, and that invocation has the rest of the timeout."""
    sandbox = slow_init_sandbox(tmp_path, init_s=1.5, timeout_s=5)
    try:
        assert sandbox.wait_init() is None
        duration = sandbox.init_duration()
        assert duration is not None and 1.5 <= duration < 3
        first, second = remaining_ms(sandbox), remaining_ms(sandbox)
    finally:
        sandbox.stop()
    assert (5 - duration) * 1000 - 1000 < first <= (5 - duration) * 1000
    assert 4000 < second <= 5000  # later invocations: the whole timeout


def test_an_init_over_the_init_phase_and_the_timeout_times_out(tmp_path: Path) -> None:
    sandbox = slow_init_sandbox(tmp_path, init_s=60, timeout_s=1.5)
    try:
        started = time.monotonic()
        failure = sandbox.wait_init()
        waited = time.monotonic() - started
        assert sandbox.exit_code() is not None  # stopped, as Lambda stops it
    finally:
        sandbox.stop()
    assert failure is not None
    assert failure.error_type == "Sandbox.Timedout"
    assert failure.body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "Task timed out after 1.50 seconds: the runtime's init did not finish "
        "within Lambda's 0.5 s init phase, nor within the function timeout that bounds its "
        "retry with the first invocation",
    }
    assert 1.0 < waited < 3  # the function timeout, counted from the process start


# ``serve`` with a shorter init phase than Lambda's 10 s (not a command-line option).
SERVE_WITH_INIT_PHASE = """
import logging, sys
from lambda_asgi.local.serve import serve

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
app, app_dir, timeout_s, init_timeout_s = sys.argv[1:]
sys.exit(serve(app, port=0, app_dir=app_dir, timeout_s=float(timeout_s),
               init_timeout_s=float(init_timeout_s)))
"""


@contextmanager
def serve_slow_init(tmp_path: Path, init_s: float, timeout_s: float) -> Iterator[Server]:
    (tmp_path / "slow_init_app.py").write_text(SLOW_INIT_APP)
    command = [sys.executable, "-c", SERVE_WITH_INIT_PHASE, "slow_init_app:app", str(tmp_path)]
    command += [str(timeout_s), "0.5"]
    env = {"SLOW_INIT_S": str(init_s)}
    with server_process(command, tmp_path / "serve.log", SERVE_URL, env) as server:
        yield server


def test_serve_answers_after_an_init_over_the_init_phase_within_the_timeout(
    tmp_path: Path,
) -> None:
    with serve_slow_init(tmp_path, init_s=1.5, timeout_s=5) as server:
        first = httpx.get(server.url, timeout=30)
        second = httpx.get(server.url, timeout=30)
        output = server.output()
    assert first.status_code == 200
    assert int(first.text) <= 3500  # what the init left of the 5 s
    assert int(second.text) > 4000
    assert re.search(
        r"WARNING lambda_asgi.local: The init took 1\.\d s, over Lambda's 0\.5 s init phase: "
        r"in AWS it is stopped then and run again with the first invocation, which has 3\.\d s "
        r"of its 5 s timeout left after it \(and answers about 0\.5 s later than here\)\.",
        output,
    )


def test_serve_gives_504_for_an_init_longer_than_the_timeout(tmp_path: Path) -> None:
    with serve_slow_init(tmp_path, init_s=60, timeout_s=1) as server:
        response = httpx.get(server.url, timeout=30)
        server.wait_for_output("GET /: function error Sandbox.Timedout: Task timed out after")
    assert response.status_code == 504
    assert response.json() == {"message": "Endpoint request timed out"}


RELOAD_APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"%s"})
"""


def test_reload_restarts_the_runtime_on_code_changes(tmp_path: Path) -> None:
    app_dir = tmp_path / "code"
    app_dir.mkdir()
    module = app_dir / "reload_app.py"
    module.write_text(RELOAD_APP % "version 1")
    args = ["reload_app:app", "--app-dir", str(app_dir), "--reload"]
    with serve(tmp_path, *args) as server:
        assert httpx.get(server.url, timeout=30).text == "version 1"
        module.write_text(RELOAD_APP % "version 2")
        stamp = time.time() + 2  # a new mtime even on coarse-grained file systems
        os.utime(module, (stamp, stamp))
        deadline = time.monotonic() + 20
        while (text := httpx.get(server.url, timeout=30).text) != "version 2":
            assert text == "version 1"
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        assert "reload_app.py changed: restarting the runtime" in server.output()


# -- make run ------------------------------------------------------------------------------


def make_run_command() -> list[str]:
    """The command of the Makefile's ``run`` target, checked to be the one run here."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run: .*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe is not None, "no run target in the Makefile"
    assert recipe.group(1) == "$(BIN)/python examples/run_notes.py"
    return [sys.executable, "examples/run_notes.py", "--port", "0"]


def test_make_run_serves_the_notes_app(tmp_path: Path) -> None:
    command = make_run_command()
    pattern = r"running at (http://[\d.]+:\d+)"
    with server_process(command, tmp_path / "run.log", pattern) as server:
        output = server.output()
        curls = [line.strip() for line in output.splitlines() if line.strip().startswith("curl")]
        assert len(curls) == 3
        assert httpx.get(server.url + "/notes", timeout=30).json() == {"notes": []}

        # The SSE stream (Function URL, streaming) sees a note another request creates,
        # served meanwhile by a second runtime process.
        seen: list[str] = []

        def listen() -> None:
            url = server.url + "/notes/events?timeout=8&interval=0.2&limit=1"
            with httpx.stream("GET", url, timeout=30) as response:
                seen.extend(response.iter_lines())

        listener = threading.Thread(target=listen)
        listener.start()
        deadline = time.monotonic() + 20
        while "event: snapshot" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "event: snapshot" in seen
        if shutil.which("curl"):
            created = json.loads(
                subprocess.run(
                    ["sh", "-c", curls[0]], capture_output=True, check=True, timeout=30
                ).stdout
            )
        else:
            created = httpx.post(server.url + "/notes", json={"title": "hello"}, timeout=30).json()
        listener.join(30)
        assert "event: created" in seen
        assert any(created["id"] in line for line in seen if line.startswith("data: "))
        assert httpx.get(server.url + f"/notes/{created['id']}", timeout=30).json() == created
        proc = server.proc
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    assert "lambda-asgi runtime ready" in server.output()


# -- invoke --------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDA_ASGI_")}
    environ.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run(
        [*LAMBDA_ASGI, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


def test_invoke_source_builds_the_event_and_runtime_gives_the_same_answer() -> None:
    args = ("invoke", APP, "--source", "rest", "GET", "/echo/x?a=1&a=2", "-H", "x-custom: 7")
    direct = run_cli(*args)
    assert direct.returncode == 0, direct.stderr
    result = json.loads(direct.stdout)
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert body["query"] == [["a", "1"], ["a", "2"]]
    assert body["custom"] == ["7"]
    assert body["path"] == "/echo/x"

    through_runtime = run_cli(*args, "--runtime")
    assert through_runtime.returncode == 0, through_runtime.stderr
    assert json.loads(through_runtime.stdout) == result
    assert "lambda-asgi runtime ready" in through_runtime.stderr  # the child's logs


def test_invoke_runtime_reports_function_errors() -> None:
    crashed = run_cli("invoke", APP, "--source", "function-url", "GET", "/crash", "--runtime")
    assert crashed.returncode == 1
    error = json.loads(crashed.stdout)
    assert error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in error["errorMessage"]
    init_failed = run_cli(
        "invoke", "no_such_module:app", "--source", "rest", "GET", "/", "--runtime"
    )
    assert init_failed.returncode == 1
    assert "cannot import module 'no_such_module'" in json.loads(init_failed.stdout)["errorMessage"]


# Answers with what the adapter's options change: root_path (base_path), a header to exclude,
# and whether the lifespan ran.
OPTIONS_APP = """
import json


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        scope["state"]["started"] = True
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = {"root_path": scope["root_path"], "lifespan": "started" in scope["state"]}
    headers = [(b"content-type", b"application/json"), (b"x-drop", b"1")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
"""


@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [
        ({}, [], {"root_path": "", "lifespan": True, "x-drop": True}),
        (
            {"LAMBDA_ASGI_BASE_PATH": "/api", "LAMBDA_ASGI_EXCLUDE_HEADERS": "x-drop"},
            [],
            {"root_path": "/api", "lifespan": True, "x-drop": False},
        ),
        ({"LAMBDA_ASGI_LIFESPAN": "off"}, [], {"root_path": "", "lifespan": False, "x-drop": True}),
        (
            {"LAMBDA_ASGI_LIFESPAN": "off"},
            ["--lifespan", "auto"],
            {"root_path": "", "lifespan": True, "x-drop": True},
        ),
        ({}, ["--lifespan", "off"], {"root_path": "", "lifespan": False, "x-drop": True}),
    ],
    ids=["defaults", "options-from-env", "env-lifespan-off", "flag-over-env", "flag"],
)
def test_invoke_takes_the_options_from_the_env_with_and_without_runtime(
    tmp_path: Path, env: dict[str, str], flags: list[str], expected: dict[str, Any]
) -> None:
    """Same environment, same answer; an explicit --lifespan wins over LAMBDA_ASGI_LIFESPAN."""
    (tmp_path / "options_app.py").write_text(OPTIONS_APP)
    args = ["invoke", "options_app:app", "--app-dir", str(tmp_path), *flags]
    args += ["--source", "http-api", "GET", "/api/x"]
    results = []
    for runtime in ([], ["--runtime"]):
        done = run_cli(*args, *runtime, env=env)
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout))
    assert results[0] == results[1]
    body = json.loads(results[0]["body"])
    assert {**body, "x-drop": "x-drop" in results[0]["headers"]} == expected


def test_invoke_prints_lambdas_error_payload_for_a_function_error() -> None:
    """LAMBDA_ASGI_PROPAGATE_EXCEPTIONS=true: a function error, with and without --runtime."""
    env = {"LAMBDA_ASGI_PROPAGATE_EXCEPTIONS": "true"}
    args = ("invoke", APP, "--source", "http-api", "GET", "/function-error")
    errors = []
    for runtime in ((), ("--runtime",)):
        done = run_cli(*args, *runtime, env=env)
        assert done.returncode == 1, done.stderr
        error = json.loads(done.stdout)
        assert set(error) == {"errorMessage", "errorType", "stackTrace", "requestId"}
        assert 'raise RuntimeError("the function failed on purpose")' in error["stackTrace"][-1]
        errors.append((error["errorType"], error["errorMessage"]))
        assert "RuntimeError: the function failed on purpose" in done.stderr  # the traceback
    assert errors == [("RuntimeError", "the function failed on purpose")] * 2


def test_invoke_reports_a_failed_init_as_the_runtime_does(tmp_path: Path) -> None:
    """An app whose import raises: Lambda's init error payload and the traceback in the log,
    with and without --runtime."""
    (tmp_path / "typo_app.py").write_text('import os\n\nURL = os.enviro["URL"]\n')
    args = ("invoke", "typo_app:app", "--app-dir", str(tmp_path), "--source", "rest", "GET", "/")
    errors = []
    for runtime in ((), ("--runtime",)):
        done = run_cli(*args, *runtime)
        assert done.returncode == 1, done.stderr
        error = json.loads(done.stdout)
        assert set(error) == {"errorMessage", "errorType", "stackTrace"}  # no request yet
        assert 'URL = os.enviro["URL"]' in error["stackTrace"][-1]
        errors.append((error["errorType"], error["errorMessage"]))
        assert "Init failed: " in done.stderr
        assert "AttributeError: module 'os' has no attribute 'enviro'" in done.stderr
    message = (
        "LAMBDA_ASGI_APP='typo_app:app': importing module 'typo_app' raised AttributeError: "
        "module 'os' has no attribute 'enviro'. The error is in the app's own code (see its "
        "traceback), not in LAMBDA_ASGI_APP: fix it there."
    )
    assert errors == [("AppLoadError", message)] * 2


# An app that writes to standard output at each stage, through print() (as Powertools'
# EMF metrics do) and straight to file descriptor 1 (as C code and child processes do).
PRINTING_APP = """
import os

print("printed at import")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        print("printed at startup")
        await send({"type": "lifespan.startup.complete"})
        await receive()
        print("printed at shutdown")
        await send({"type": "lifespan.shutdown.complete"})
        return
    print('{"_aws": {"CloudWatchMetrics": []}, "requests": 1}')
    os.write(1, b"written to file descriptor 1\\n")
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def test_invoke_prints_the_response_alone_on_stdout(tmp_path: Path) -> None:
    """What the app writes to stdout goes to stderr, with and without --runtime, so that
    stdout can be piped into a JSON tool."""
    (tmp_path / "printing_app.py").write_text(PRINTING_APP)
    args = ("invoke", "printing_app:app", "--app-dir", str(tmp_path), "--source", "rest")
    results = []
    for runtime in ((), ("--runtime",)):
        done = run_cli(*args, "GET", "/", *runtime)
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout))  # the proxy response and nothing else
        for line in (
            "printed at import",
            "printed at startup",
            '{"_aws": {"CloudWatchMetrics": []}, "requests": 1}',
            "written to file descriptor 1",
            "printed at shutdown",
        ):
            assert line in done.stderr.splitlines()
    assert results[0] == results[1]
    assert (results[0]["statusCode"], results[0]["body"]) == (200, "ok")


def test_invoke_an_adapter_named_as_app() -> None:
    """APP may name the README quick start's ``handler = LambdaAdapter(app)``: it serves as
    the app it wraps, with and without --runtime."""
    args = ("events/http-api-v2-get.json", "--app-dir", "examples")
    expected = run_cli("invoke", "hello.app:app", *args)
    assert expected.returncode == 0, expected.stderr
    assert json.loads(expected.stdout)["statusCode"] == 200
    for runtime in ((), ("--runtime",)):
        done = run_cli("invoke", "hello.app:handler", *args, *runtime)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == json.loads(expected.stdout)


def test_invoke_event_file_and_argument_errors() -> None:
    from_file = run_cli(
        "invoke", "hello.app:app", "events/http-api-v2-get.json", "--app-dir", "examples"
    )
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(json.loads(from_file.stdout)["body"])["query"] == {"a": "2", "b": "x y"}
    without_source = run_cli("invoke", APP, "GET", "/echo/x")
    assert without_source.returncode == 2
    assert "give --source" in without_source.stderr


# -- front door units ----------------------------------------------------------------------

DETECTED = {
    "http-api": "http-api-v2",
    "rest": "apigw-rest-v1",
    "alb": "alb",
    "function-url": "function-url",
    "lattice": "vpc-lattice-v2",
}


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_each_event_is_detected_as_its_source(source: str) -> None:
    request = HttpRequest.from_target("GET", "/x?a=1", headers=[("Cookie", "a=1")])
    assert detect_source(build_event(source, request)).name == DETECTED[source]


def test_request_shapes_follow_aws() -> None:
    request = HttpRequest.from_target(
        "POST",
        "/a%20b?x=1&x=2&y=a+b",
        headers=[("Cookie", "a=1; b=2"), ("X-Forwarded-For", "10.0.0.1")],
        body=b"\x00\xff",
        client_ip="192.0.2.1",
    )
    v2 = build_event("http-api", request)
    assert v2["rawPath"] == "/a b"
    assert v2["rawQueryString"] == "x=1&x=2&y=a+b"
    assert v2["queryStringParameters"] == {"x": "1,2", "y": "a b"}
    assert v2["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in v2["headers"]
    assert v2["headers"]["x-forwarded-for"] == "10.0.0.1, 192.0.2.1"
    assert v2["isBase64Encoded"] is True and v2["body"] == "AP8="
    url = build_event("function-url", request)
    assert url["rawPath"] == "/a%20b"
    assert url["headers"]["cookie"] == "a=1; b=2"
    rest = build_event("rest", request)
    assert rest["path"] == "/a%20b"
    assert rest["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["a b"]}
    assert rest["queryStringParameters"] == {"x": "2", "y": "a b"}
    alb = build_event("alb", request)
    assert alb["queryStringParameters"] == {"x": "2", "y": "a+b"}
    lattice = build_event("lattice", request)
    assert lattice["queryStringParameters"] == {"x": ["1", "2"], "y": ["a b"]}
    assert lattice["headers"]["cookie"] == ["a=1; b=2"]


def test_proxy_responses_to_http() -> None:
    rest = proxy_to_http(
        "rest",
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "Set-Cookie": "ignored=1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "AP8=",
            "isBase64Encoded": True,
        },
    )
    assert rest.status == 201
    assert rest.headers == [("set-cookie", "a=1"), ("set-cookie", "b=2"), ("x-one", "1")]
    assert rest.body == b"\x00\xff"
    v2 = proxy_to_http("http-api", {"statusCode": 200, "cookies": ["a=1"], "body": "hi"})
    assert v2.headers == [("set-cookie", "a=1")]
    assert v2.body == b"hi"
    # Payload 2.0 infers a response from any JSON; the other sources need statusCode.
    inferred = proxy_to_http("function-url", {"hello": "world"})
    assert (inferred.status, inferred.body) == (200, b'{"hello": "world"}')
    with pytest.raises(MalformedResponseError, match="statusCode"):
        proxy_to_http("alb", {"hello": "world"})
    with pytest.raises(MalformedResponseError, match="statusCode"):
        proxy_to_http("rest", {"statusCode": 999})
    # ALB and Lattice: one value per name, Set-Cookie spelled in different letter cases.
    alb = proxy_to_http(
        "alb", {"statusCode": 200, "headers": {"set-cookie": "a=1", "Set-cookie": "b=2"}}
    )
    assert alb.headers == [("set-cookie", "a=1"), ("set-cookie", "b=2")]


def test_stream_prelude() -> None:
    prelude = {"statusCode": 200, "headers": {"content-type": "text/plain"}, "cookies": ["a=1"]}
    data = json.dumps(prelude).encode() + DELIMITER + b"body"
    assert split_prelude(data[:10]) is None
    parsed = split_prelude(data)
    assert parsed is not None
    assert parsed == (prelude, b"body")
    assert http_head("function-url", parsed[0]) == (
        200,
        [("content-type", "text/plain"), ("set-cookie", "a=1")],
    )
