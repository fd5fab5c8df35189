"""The runtime's log as AWS's Python runtime writes it: the JSON format
(``AWS_LAMBDA_LOG_FORMAT``), the telemetry file descriptor's frames
(``_LAMBDA_TELEMETRY_LOG_FD``) and ``AWS_LAMBDA_LOG_LEVEL``, each in a real process."""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from calendar import timegm
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_asgi.local.runtime_api import RuntimeAPIServer
from lambda_asgi.local.sandbox import child_environment
from lambda_asgi.runtime import loop

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("lambda-asgi")
LAMBDA_ASGI = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "lambda_asgi.cli"]

pytestmark = pytest.mark.timeout(60)

# Logs a record of every kind through the runtime's logging: two before the request id is set
# (the init), then one per level, a custom level and an exception with a two-line message.
LOGGING_CHILD = """\
import logging, os
from lambda_asgi.runtime.logs import set_request_id, setup_logging

setup_logging(os.environ)
print("variable:", os.environ.get("_LAMBDA_TELEMETRY_LOG_FD"), flush=True)
log = logging.getLogger("app.orders")


class Opaque:
    def __str__(self):
        return "<opaque 7>"


def fail(order):
    raise ValueError(f"order {order} failed\\nsecond line")


log.log(5, "below debug")
log.debug("debug %d", 1)
log.info("init done", extra={"order": 7, "tags": ["a", "é"], "opaque": Opaque(), "none": None})
set_request_id("req-1")
log.warning("careful")
log.log(25, "custom level")
try:
    fail(7)
except ValueError:
    log.error("order failed", exc_info=True)
log.critical("stop")
"""


def line_of(text: str, source: str = LOGGING_CHILD) -> int:
    """The number of the one line of ``source`` that holds ``text``."""
    [number] = [i for i, line in enumerate(source.splitlines(), 1) if text in line]
    return number


@dataclass
class Child:
    """A finished run of LOGGING_CHILD: its stdout, and the time window it ran in."""

    path: Path
    stdout: str
    started: float
    ended: float

    def stack_trace(self) -> list[str]:
        """``traceback.format_tb`` of the exception the child logs."""
        return [
            f'  File "{self.path}", line {line_of("    fail(7)")}, in <module>\n    fail(7)\n',
            f'  File "{self.path}", line {line_of("raise ValueError")}, in fail\n'
            '    raise ValueError(f"order {order} failed\\nsecond line")\n',
        ]

    def traceback_text(self) -> str:
        """The exception as the text format writes it."""
        return (
            "Traceback (most recent call last):\n"
            + "".join(self.stack_trace())
            + "ValueError: order 7 failed\nsecond line"
        )


def child_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without Lambda's settings nor ours, plus ``env``."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_LAMBDA_", "_LAMBDA_", "LAMBDA_ASGI_"))
        and key != "AWS_EXECUTION_ENV"
    }
    return {**base, **env}


def start_child(
    tmp_path: Path, env: dict[str, str], pass_fds: tuple[int, ...] = ()
) -> tuple[subprocess.Popen[bytes], Path]:
    path = tmp_path / "logging_child.py"
    path.write_text(LOGGING_CHILD, encoding="utf-8")
    proc = subprocess.Popen(
        # No caret lines under the traceback's source lines: where Python draws them
        # changes between versions.
        [sys.executable, "-X", "no_debug_ranges", str(path)],
        env=child_env(env),
        stdout=subprocess.PIPE,
        pass_fds=pass_fds,
    )
    return proc, path


def run_child(tmp_path: Path, env: dict[str, str]) -> Child:
    started = time.time()
    proc, path = start_child(tmp_path, env)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return Child(path, out.decode(), started, time.time())


def check_timestamp(stamp: str, child: Child) -> None:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``, in UTC, within the child's run."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z", stamp)
    assert match is not None, stamp
    seconds = timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S")) + int(match[2]) / 1000
    assert int(child.started * 1000) / 1000 <= seconds <= child.ended


def json_lines(child: Child) -> list[dict[str, Any]]:
    """Every log line of the child's stdout as JSON, its timestamp checked and set aside."""
    lines = child.stdout.splitlines()
    assert lines[0] == "variable: None"
    records = [json.loads(line) for line in lines[1:]]
    for record in records:
        check_timestamp(record.pop("timestamp"), child)
    return records


def expected_records(child: Child, names: dict[str, str]) -> list[dict[str, Any]]:
    """The records of LOGGING_CHILD at INFO and above, in the JSON format, with the level
    names ``names`` gives for WARNING and CRITICAL, without their timestamps."""
    logger = {"logger": "app.orders"}
    request = {"requestId": "req-1"}
    return [
        {
            "level": "INFO",
            "message": "init done",
            **logger,
            "order": 7,
            "tags": ["a", "é"],
            "opaque": "<opaque 7>",
            "none": None,
        },
        {"level": names["WARNING"], "message": "careful", **logger, **request},
        {"level": "INFO", "message": "custom level", **logger, **request},
        {
            "level": "ERROR",
            "message": "order failed",
            **logger,
            "stackTrace": child.stack_trace(),
            "errorType": "ValueError",
            "errorMessage": "order 7 failed\nsecond line",
            **request,
            "location": f"{child.path}:<module>:{line_of('log.error(')}",
        },
        {"level": names["CRITICAL"], "message": "stop", **logger, **request},
    ]


# The text format's time stamp.
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def expected_text(child: Child, line_break: str) -> list[str]:
    """Patterns of LOGGING_CHILD's records at INFO and above in the text format, the line
    breaks inside a record (the traceback's) written as ``line_break``."""
    return [
        rf"\[INFO\]\t{STAMP}\t\tinit done",
        rf"\[WARNING\]\t{STAMP}\treq-1\tcareful",
        rf"\[Level 25\]\t{STAMP}\treq-1\tcustom level",
        rf"\[ERROR\]\t{STAMP}\treq-1\torder failed"
        + re.escape(line_break + child.traceback_text().replace("\n", line_break)),
        rf"\[CRITICAL\]\t{STAMP}\treq-1\tstop",
    ]


LAMBDA_NAMES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
PYTHON_NAMES = {"WARNING": "WARNING", "CRITICAL": "CRITICAL"}


# -- JSON on stdout ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "verbose"),
    [
        ({}, []),
        # Lambda's TRACE is Python's DEBUG: the debug record shows, the level-5 one does not.
        ({"AWS_LAMBDA_LOG_LEVEL": "TRACE"}, [{"level": "DEBUG", "message": "debug 1"}]),
        (
            # Below DEBUG a record is Lambda's TRACE, the most verbose level Lambda knows.
            {"AWS_LAMBDA_LOG_LEVEL": "notset"},
            [
                {"level": "TRACE", "message": "below debug"},
                {"level": "DEBUG", "message": "debug 1"},
            ],
        ),
    ],
    ids=["info", "trace", "notset"],
)
def test_json_on_stdout_is_one_object_per_line_with_lambdas_level_names(
    tmp_path: Path, level: dict[str, str], verbose: list[dict[str, str]]
) -> None:
    child = run_child(tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "json", **level})
    records = json_lines(child)
    expected = [{**record, "logger": "app.orders"} for record in verbose]
    expected += expected_records(child, LAMBDA_NAMES)
    assert records == expected
    # The same keys in the same order (that of AWS's runtime); no requestId before it is set.
    assert [list(record) for record in records] == [list(record) for record in expected]
    # Not ASCII-escaped; the exception's line break escaped, so one line per record.
    assert '"tags": ["a", "é"]' in child.stdout
    assert '"errorMessage": "order 7 failed\\nsecond line"' in child.stdout


def test_text_on_stdout_is_unchanged_by_default(tmp_path: Path) -> None:
    child = run_child(tmp_path, {})
    lines = child.stdout.split("\n")
    assert lines[0] == "variable: None" and lines[-1] == ""
    # One line per record: a traceback's line breaks written as \r.
    expected = expected_text(child, "\r")
    assert len(lines[1:-1]) == len(expected)
    for line, pattern in zip(lines[1:-1], expected, strict=True):
        assert re.fullmatch(pattern, line), line


# -- the telemetry file descriptor -------------------------------------------------------------


@dataclass
class Frame:
    kind: int
    timestamp_us: int
    message: str


def run_with_telemetry_fd(tmp_path: Path, env: dict[str, str]) -> tuple[Child, list[Frame]]:
    """LOGGING_CHILD with a pipe as its telemetry descriptor; what it wrote there."""
    read_end, write_end = os.pipe()
    started = time.time()
    try:
        env = {**env, "_LAMBDA_TELEMETRY_LOG_FD": str(write_end)}
        proc, path = start_child(tmp_path, env, pass_fds=(write_end,))
    finally:
        os.close(write_end)  # the child's copy is the only one: EOF when it exits
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    child = Child(path, out.decode(), started, time.time())
    frames = []
    while data:
        kind, length, stamp = struct.unpack(">IIQ", data[:16])
        assert len(data) >= 16 + length
        frames.append(Frame(kind, stamp, data[16 : 16 + length].decode("utf-8")))
        data = data[16 + length :]
    return child, frames


# The frame types of LOGGING_CHILD's records, text and JSON, by level.
FRAME_TYPES = {
    "text": [
        0xA55A0003,  # 5 (NOTSET)
        0xA55A000B,  # DEBUG
        0xA55A000F,  # INFO
        0xA55A0013,  # WARNING
        0xA55A000F,  # 25 (INFO)
        0xA55A0017,  # ERROR
        0xA55A001B,  # CRITICAL
    ],
    "JSON": [
        0xA55A0002,  # 5 (NOTSET)
        0xA55A000A,  # DEBUG
        0xA55A000E,  # INFO
        0xA55A0012,  # WARNING
        0xA55A000E,  # 25 (INFO)
        0xA55A0016,  # ERROR
        0xA55A001A,  # CRITICAL
    ],
}


@pytest.mark.parametrize("log_format", ["text", "JSON"])
def test_telemetry_fd_takes_each_record_as_one_frame_typed_by_format_and_level(
    tmp_path: Path, log_format: str
) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": log_format, "AWS_LAMBDA_LOG_LEVEL": "NOTSET"}
    child, frames = run_with_telemetry_fd(tmp_path, env)
    # The variable is gone from the child's environment; none of the records is on stdout.
    assert child.stdout == "variable: None\n"
    started_us, ended_us = int(child.started * 1_000_000), int(child.ended * 1_000_000)
    assert all(started_us <= frame.timestamp_us <= ended_us for frame in frames)
    assert all(frame.message.endswith("\n") for frame in frames)
    text = log_format == "text"
    assert [hex(frame.kind) for frame in frames] == [hex(k) for k in FRAME_TYPES[log_format]]
    if text:
        # One frame per record, a traceback's line breaks kept as they are (no \r), and
        # every message ending with a line break.
        verbose = [rf"\[Level 5\]\t{STAMP}\t\tbelow debug", rf"\[DEBUG\]\t{STAMP}\t\tdebug 1"]
        expected = [pattern + r"\n" for pattern in verbose + expected_text(child, "\n")]
        for frame, pattern in zip(frames, expected, strict=True):
            assert re.fullmatch(pattern, frame.message), frame.message
        assert "\r" not in "".join(frame.message for frame in frames)
        return
    records = [json.loads(frame.message) for frame in frames]
    assert all(frame.message.count("\n") == 1 for frame in frames)
    for record in records:
        check_timestamp(record.pop("timestamp"), child)
    logger = {"logger": "app.orders"}
    # In a frame the level is in the frame type: the field keeps Python's names.
    assert records == [
        {"level": "NOTSET", "message": "below debug", **logger},
        {"level": "DEBUG", "message": "debug 1", **logger},
        *expected_records(child, PYTHON_NAMES),
    ]


@pytest.mark.parametrize("kind", ["closed", "read-only", "not-a-number"])
def test_a_telemetry_fd_that_cannot_be_written_falls_back_to_stdout_with_a_warning(
    tmp_path: Path, kind: str
) -> None:
    read_end, write_end = os.pipe()
    value = {"closed": "999", "read-only": str(read_end), "not-a-number": "fd3"}[kind]
    reason = {
        "closed": "[Errno 9] Bad file descriptor",
        "read-only": f"file descriptor {read_end} is open for reading only",
        "not-a-number": "invalid literal for int() with base 10: 'fd3'",
    }[kind]
    try:
        proc, _ = start_child(tmp_path, {"_LAMBDA_TELEMETRY_LOG_FD": value}, pass_fds=(read_end,))
        out, _ = proc.communicate(timeout=30)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 0
    lines = out.decode().split("\n")
    assert re.fullmatch(
        r"\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t\tCannot write the log to the "
        rf"telemetry file descriptor \(_LAMBDA_TELEMETRY_LOG_FD='{value}'\): "
        + re.escape(reason)
        + "; logging to stdout instead",
        lines[0],
    ), lines[0]
    assert lines[1] == "variable: None"
    assert [line.split("\t")[-1] for line in lines[2:4]] == ["init done", "careful"]


# -- through the runtime loop ------------------------------------------------------------------


def test_the_runtime_loop_logs_json_with_the_invocations_request_id() -> None:
    with RuntimeAPIServer() as api:
        env = child_env(
            {
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "AWS_LAMBDA_LOG_FORMAT": "JSON",
                "_HANDLER": "tests.runtime_apps.plain",
                "PYTHONPATH": str(ROOT),
            }
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "lambda_asgi.runtime"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            handle = api.invoke({"action": "raise", "value": 7}, timeout_s=20)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert handle.error is not None and handle.error.error_type == "Function.ValueError"
    records = [json.loads(line) for line in out.decode().splitlines()]
    for record in records:
        del record["timestamp"]
    runtime_apps = ROOT / "tests" / "runtime_apps.py"
    raise_line = line_of("plain handler failed on", runtime_apps.read_text())
    failure = records[1]
    assert failure["stackTrace"][-1] == (
        f'  File "{runtime_apps}", line {raise_line}, in plain\n'
        "    raise ValueError(f\"plain handler failed on {event.get('value')!r}\")\n"
    )
    source, first = inspect.getsourcelines(loop.Runtime._report)
    report_line = first + next(i for i, line in enumerate(source) if "logger.error(" in line)
    logs = {"logger": "lambda_asgi"}
    ready = "lambda-asgi runtime ready (tests.runtime_apps.plain, invoke mode buffered)"
    expected = [
        {"level": "INFO", "message": ready, **logs},  # the init: no request id
        {
            "level": "ERROR",
            "message": f"Invocation {handle.request_id} failed: ValueError: plain handler "
            "failed on 7",
            **logs,
            "stackTrace": failure["stackTrace"],
            "errorType": "ValueError",
            "errorMessage": "plain handler failed on 7",
            "requestId": handle.request_id,
            "location": f"{loop.__file__}:_report:{report_line}",
        },
        # The last request id stays on until the next invocation, as in AWS's runtime.
        {
            "level": "INFO",
            "message": "Received SIGTERM: shutting down",
            **logs,
            "requestId": handle.request_id,
        },
    ]
    assert records == expected
    assert [list(record) for record in records] == [list(record) for record in expected]


# -- local runs ---------------------------------------------------------------------------------


def test_local_runtimes_get_the_log_settings_but_not_a_telemetry_fd() -> None:
    environ = {
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "TRACE",
        "_LAMBDA_TELEMETRY_LOG_FD": "3",
    }
    env = child_environment("app:app", "127.0.0.1:9001", streaming=False, environ=environ)
    assert (env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "TRACE")
    assert "_LAMBDA_TELEMETRY_LOG_FD" not in env


LOGGING_APP = """\
import logging

log = logging.getLogger("app")


async def app(scope, receive, send):
    request_id = scope["aws.context"].aws_request_id
    log.debug("handling %s", scope["path"])
    log.warning("slow path", extra={"path": scope["path"]})
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": request_id.encode()})
"""


def test_invoke_runtime_logs_in_the_format_set_in_the_shell(tmp_path: Path) -> None:
    (tmp_path / "logging_app.py").write_text(LOGGING_APP)
    env = child_env(
        {"AWS_LAMBDA_LOG_FORMAT": "Json", "AWS_LAMBDA_LOG_LEVEL": "debug", "PYTHONPATH": str(ROOT)}
    )
    args = ["logging_app:app", "--app-dir", str(tmp_path), "--runtime", "--lifespan", "off"]
    done = subprocess.run(
        [*LAMBDA_ASGI, "invoke", *args, "--source", "http-api", "GET", "/orders"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    request_id = json.loads(done.stdout)["body"]
    # The runtime's log (on standard error): every line a JSON record.
    records = [json.loads(line) for line in done.stderr.splitlines()]
    for record in records:
        del record["timestamp"]
    request = {"requestId": request_id}
    ready = "lambda-asgi runtime ready (LambdaAdapter, invoke mode buffered)"
    assert {"level": "INFO", "message": ready, "logger": "lambda_asgi"} in records
    assert [r for r in records if r["logger"] == "app"] == [
        {"level": "DEBUG", "message": "handling /orders", "logger": "app", **request},
        {"level": "WARN", "message": "slow path", "logger": "app", **request, "path": "/orders"},
    ]
