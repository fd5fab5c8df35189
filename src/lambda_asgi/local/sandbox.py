"""Local Lambda execution environments: a ``lambda-asgi runtime`` child process per sandbox.

Each :class:`Sandbox` is what Lambda gives a function: one process running the same runtime
loop as in AWS, fed by its own Runtime API (the strict emulator of ``runtime_api.py``), serving
one invocation at a time, warm between invocations. As in Lambda, a sandbox whose process
died (a crash, a timeout, a failed init) is replaced by a fresh one (a new cold start) for the
next invocation, and its in-flight invocation fails with the error Lambda reports. A
:class:`SandboxPool` adds sandboxes while all are busy (concurrent requests, a long stream),
up to a limit, as Lambda scales out.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from ..runtime.logs import LOCAL_EXECUTION_ENV, TELEMETRY_FD_VARIABLE
from .runtime_api import ErrorReport, InvocationHandle, RuntimeAPIServer

__all__ = ["INIT_TIMEOUT_S", "LocalInvocation", "Sandbox", "SandboxPool", "child_environment"]

logger = logging.getLogger("lambda_asgi.local")

#: Lambda's limit on the init phase. An init that takes longer is stopped and run again with
#: the first invocation, and the two then share the function's timeout.
INIT_TIMEOUT_S = 10.0
#: How long a stopping runtime gets for its lifespan shutdown after SIGTERM (Lambda gives
#: about 500 ms; locally a little more, so a slow shutdown is logged rather than cut).
STOP_GRACE_S = 3.0
# How often blocked waits look at the child process (crash) and the deadline.
_POLL_S = 0.1


def child_environment(
    app: str,
    runtime_api: str,
    *,
    streaming: bool,
    app_dir: str | None = None,
    function_name: str = "local-function",
    timeout_s: float = 30.0,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a runtime child: the parent's, plus what Lambda sets.

    The log settings (``AWS_LAMBDA_LOG_FORMAT``, ``AWS_LAMBDA_LOG_LEVEL``) pass through, so
    the local log has the function's format; a telemetry file descriptor does not (the
    child's log goes to the console).
    """
    env = dict(os.environ if environ is None else environ)
    # The child does not inherit the descriptor (Popen closes it): the runtime would warn
    # at every cold start, or write frames to whatever the number then names.
    env.pop(TELEMETRY_FD_VARIABLE, None)
    if app_dir:
        # The app's directory plays LAMBDA_TASK_ROOT: first on the module search path.
        parts = [os.path.abspath(app_dir), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(part for part in parts if part)
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_ASGI_APP": app,
            "LAMBDA_ASGI_INVOKE_MODE": "response_stream" if streaming else "buffered",
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout_s)),
            "AWS_EXECUTION_ENV": LOCAL_EXECUTION_ENV,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class LocalInvocation:
    """One event submitted to a sandbox: its chunks as they arrive, then its outcome."""

    def __init__(self, sandbox: Sandbox, handle: InvocationHandle, deadline: float) -> None:
        self.sandbox = sandbox
        self.handle = handle
        self.deadline = deadline
        """``time.monotonic()`` after which the sandbox is stopped (Lambda's timeout)."""
        self.failure: ErrorReport | None = None
        """What ended the invocation when the runtime could not answer: its process exited
        (``Runtime.ExitError``, or the init error) or the deadline passed
        (``Sandbox.Timedout``)."""

    @property
    def streaming(self) -> bool:
        """Whether the runtime answers with a response stream."""
        return self.handle.streaming

    def chunks(self) -> Iterator[bytes]:
        """The response bytes as the runtime sends them; ends when the response is complete
        or the invocation failed (see :meth:`error`). Never blocks longer than the deadline."""
        seen = 0
        while True:
            try:
                # iter_chunks restarts at the first chunk: skip those already yielded.
                for index, data in enumerate(self.handle.iter_chunks(timeout=_POLL_S)):
                    if index >= seen:
                        seen += 1
                        yield data
                return
            except TimeoutError:
                if self._check_failure():
                    return

    def wait(self) -> bytes:
        """Block until the invocation ends; the whole body."""
        return b"".join(self.chunks())

    def error(self) -> ErrorReport | None:
        """Why the invocation failed (a function error, a crash, a timeout), or None."""
        if self.failure is not None:
            return self.failure
        if self.handle.done() and self.handle.status == "error":
            return self.handle.error
        return None

    def _check_failure(self) -> bool:
        if self.handle.done():
            return False  # the next pass over iter_chunks ends the iteration
        sandbox = self.sandbox
        code = sandbox.exit_code()
        if code is not None:
            self.failure = sandbox.exit_report(code, self.handle.request_id)
        elif time.monotonic() > self.deadline:
            timeout = sandbox.timeout_s
            self.failure = ErrorReport(
                "Sandbox.Timedout",
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {self.handle.request_id} Error: Task timed "
                    f"out after {timeout:.2f} seconds",
                },
                time.monotonic(),
            )
            sandbox.kill()  # Lambda stops the environment of a function that timed out
        return self.failure is not None


class Sandbox:
    """One runtime child process and the Runtime API it polls (a new one per process)."""

    def __init__(
        self,
        app: str,
        *,
        streaming: bool = False,
        app_dir: str | None = None,
        timeout_s: float = 30.0,
        init_timeout_s: float = INIT_TIMEOUT_S,
        function_name: str = "local-function",
        environ: Mapping[str, str] | None = None,
        output: IO[Any] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.app = app
        self.streaming = streaming
        self.app_dir = app_dir
        self.timeout_s = timeout_s
        """The function's timeout, in seconds."""
        self.init_timeout_s = init_timeout_s
        """Lambda's init phase limit (see :meth:`wait_init`)."""
        self.function_name = function_name
        self.environ = environ
        self.output = output
        """Where the child's stdout and stderr go (the console when None)."""
        self.command = command or [sys.executable, "-m", "lambda_asgi.runtime"]
        self.api: RuntimeAPIServer | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.generation = 0
        """Which code version the process runs (compared with the pool's on reload)."""
        self.started_at = 0.0
        """``time.monotonic()`` when the process was started: its init began."""
        self._submitted = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, generation: int = 0) -> None:
        """Start a fresh runtime process with a fresh Runtime API (a cold start)."""
        self.stop()
        api = RuntimeAPIServer(function_name=self.function_name).start()
        env = child_environment(
            self.app,
            api.address,
            streaming=self.streaming,
            app_dir=self.app_dir,
            function_name=self.function_name,
            timeout_s=self.timeout_s,
            environ=self.environ,
        )
        self.started_at = time.monotonic()
        try:
            self.process = subprocess.Popen(
                self.command, env=env, stdout=self.output, stderr=self.output
            )
        except BaseException:
            api.close()
            raise
        self.api = api
        self.generation = generation
        self._submitted = 0

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM (the runtime runs the app's lifespan shutdown), then kill after ``grace_s``."""
        process, api = self.process, self.api
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if api is not None:
            api.close()

    def kill(self) -> None:
        """Kill the process at once (timeouts; Lambda gives no grace there)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def exit_code(self) -> int | None:
        """The process's exit status once it has exited (None while it runs)."""
        return None if self.process is None else self.process.poll()

    def started(self) -> bool:
        """Whether a process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        """Whether the runtime is waiting in ``/next`` for an event (initialised and idle)."""
        return (
            self.started() and self.api is not None and len(self.api.next_calls) > self._submitted
        )

    def exit_report(self, code: int, request_id: str = "") -> ErrorReport:
        """Lambda's error for an invocation whose runtime exited: the init error the runtime
        reported, else ``Runtime.ExitError`` with the exit status."""
        if self.api is not None and self.api.init_error is not None:
            return self.api.init_error
        status = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        prefix = f"RequestId: {request_id} " if request_id else ""
        message = f"{prefix}Error: Runtime exited with error: {status}"
        return ErrorReport(
            "Runtime.ExitError",
            {"errorType": "Runtime.ExitError", "errorMessage": message},
            time.monotonic(),
        )

    def init_duration(self) -> float | None:
        """How long the runtime's init took, in seconds (None until it has ended well)."""
        if self.api is None or not self.api.next_calls:
            return None
        return self.api.next_calls[0] - self.started_at

    def wait_init(self) -> ErrorReport | None:
        """Wait for the runtime's init to end, bounded as Lambda bounds it: None once the
        runtime is ready, else why it failed.

        Lambda gives the init phase :attr:`init_timeout_s` (10 s). An init still running
        then is stopped and run again with the first invocation, bounded by the function's
        timeout, which that invocation then shares with it. Here the init is not restarted
        (the retry would take as long again): it may run to the longer of the two limits,
        and an init longer than the init phase leaves the first invocation the function's
        timeout less the init's duration (see :meth:`invoke`), as in AWS.
        """
        limit = max(self.init_timeout_s, self.timeout_s)
        deadline = self.started_at + limit
        while not self.ready():
            code = self.exit_code()
            if code is not None:
                return self.exit_report(code)
            if time.monotonic() > deadline:
                return self._init_timed_out()
            time.sleep(0.02)
        duration = self.init_duration()
        if duration is not None and duration > limit:
            return self._init_timed_out()  # ended, but after Lambda would have given up
        return None

    def _init_timed_out(self) -> ErrorReport:
        self.kill()
        message = (
            f"Task timed out after {self.timeout_s:.2f} seconds: the runtime's init did not "
            f"finish within Lambda's {self.init_timeout_s:g} s init phase, nor within the "
            "function timeout that bounds its retry with the first invocation"
        )
        return ErrorReport(
            "Sandbox.Timedout",
            {"errorType": "Sandbox.Timedout", "errorMessage": message},
            time.monotonic(),
        )

    # -- invoking --------------------------------------------------------------------------

    def invoke(self, event: Any) -> LocalInvocation:
        """Submit ``event`` (bytes sent as they are) with the function's timeout; after an
        init longer than Lambda's init phase, the first invocation gets what is left of it
        once the init's duration is taken (see :meth:`wait_init`)."""
        if self.api is None:
            raise RuntimeError("the sandbox is not started")
        timeout_s = self.timeout_s
        duration = self.init_duration()
        if self._submitted == 0 and duration is not None and duration > self.init_timeout_s:
            timeout_s = max(self.timeout_s - duration, 0.0)
            logger.warning(
                "The init took %.1f s, over Lambda's %g s init phase: in AWS it is stopped "
                "then and run again with the first invocation, which has %.1f s of its %g s "
                "timeout left after it (and answers about %g s later than here).",
                duration,
                self.init_timeout_s,
                timeout_s,
                self.timeout_s,
                self.init_timeout_s,
            )
        self._submitted += 1
        handle = self.api.submit(event, timeout_s=timeout_s)
        # A little past the runtime's own deadline, so its guard answers first when it can.
        return LocalInvocation(self, handle, time.monotonic() + timeout_s + 1.0)


class SandboxPool:
    """Sandboxes for concurrent requests: an idle warm one if any, else a new one (up to
    ``size``), else wait. ``reload()`` moves every sandbox to fresh processes: idle ones at
    once, busy ones when their invocation ends."""

    def __init__(self, factory: Callable[[], Sandbox], size: int = 4) -> None:
        if size < 1:
            raise ValueError(f"the pool needs at least one sandbox, got size={size}")
        self.factory = factory
        self.size = size
        self.generation = 0
        self._sandboxes: list[Sandbox] = []
        self._busy: set[int] = set()
        self._restarting: set[int] = set()
        self._lock = threading.Condition()
        self._closed = False

    def start(self) -> None:
        """Start the first sandbox now, so init errors show before the first request."""
        with self._lock:
            sandbox = self.factory()
            self._sandboxes.append(sandbox)
        sandbox.start(self.generation)

    def acquire(self, timeout_s: float = 60.0) -> Sandbox:
        """A sandbox reserved for one invocation (started; maybe still in its init)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError("the sandbox pool is closed")
                sandbox, fresh = self._pick()
                if sandbox is not None:
                    self._busy.add(id(sandbox))
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no sandbox free within {timeout_s:.0f} s")
                # Readiness changes without a notification (the runtime's /next): poll.
                self._lock.wait(min(_POLL_S, remaining))
        if fresh:
            try:
                sandbox.start(self.generation)
            except BaseException:
                self.release(sandbox)
                raise
        return sandbox

    def _pick(self) -> tuple[Sandbox | None, bool]:
        free = [s for s in self._sandboxes if id(s) not in self._busy]
        current = [s for s in free if s.generation == self.generation]
        for sandbox in current:
            if sandbox.ready():
                return sandbox, False
        for sandbox in current:
            # Still in its init, never invoked: the request waits for that cold start.
            if sandbox.started() and sandbox.api is not None and not sandbox.api.next_calls:
                return sandbox, False
        # A dead sandbox (crash, timeout, init error) or one with old code: a new process.
        for sandbox in free:
            if not sandbox.started() or sandbox.generation != self.generation:
                return sandbox, True
        if self._restarting:
            return None, False  # a sandbox is on its way back: wait for it, not a new one
        if len(self._sandboxes) < self.size:
            sandbox = self.factory()
            self._sandboxes.append(sandbox)
            return sandbox, True
        return None, False

    def release(self, sandbox: Sandbox) -> None:
        """Give a sandbox back after its invocation (its runtime may still be finishing
        post-response work: it is picked again once it asks for the next event)."""
        api = sandbox.api
        # Its process died after a good init (a crash, a timeout): start the next one now.
        # After an init error, the next request starts it (and shows that error again).
        crashed = (
            not sandbox.started()
            and api is not None
            and api.init_error is None
            and bool(api.next_calls)
        )
        with self._lock:
            self._busy.discard(id(sandbox))
            restart = (crashed or sandbox.generation != self.generation) and not self._closed
            self._lock.notify_all()
        if restart:
            self._restart_later(sandbox)

    def reload(self) -> None:
        """New code: restart every idle sandbox now, busy ones when released."""
        with self._lock:
            self.generation += 1
            idle = [s for s in self._sandboxes if id(s) not in self._busy]
        for sandbox in idle:
            self._restart_later(sandbox)

    def _restart_later(self, sandbox: Sandbox) -> None:
        def restart() -> None:
            with self._lock:
                if id(sandbox) in self._busy or self._closed:
                    return
                self._busy.add(id(sandbox))
                self._restarting.add(id(sandbox))
            try:
                sandbox.start(self.generation)
            except OSError as exc:
                logger.error("could not start the runtime: %s", exc)
            finally:
                with self._lock:
                    self._restarting.discard(id(sandbox))
                self.release(sandbox)

        threading.Thread(target=restart, name="lambda-asgi-restart", daemon=True).start()

    def close(self) -> None:
        """Stop every sandbox (each runs its app's lifespan shutdown)."""
        with self._lock:
            self._closed = True
            sandboxes = list(self._sandboxes)
            self._lock.notify_all()
        threads = [threading.Thread(target=sandbox.stop) for sandbox in sandboxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
