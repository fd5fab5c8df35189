"""The invocation loop: init, then ``/next`` -> handler -> ``/response`` for ever.

Lifecycle, as AWS's runtimes do it:

* init: load the handler once (an ASGI app's lifespan startup runs here); a failure goes to
  ``/init/error`` and the process exits. An internal extension is registered so that Lambda
  sends SIGTERM before it shuts the environment down.
* SnapStart (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``): before-snapshot hooks,
  ``/restore/next``, after-restore hooks.
* each invocation: the response is posted as soon as the app has sent its final body
  message; post-response work (background tasks) runs after that and before the next
  ``/next``, so the caller never waits for it.
* SIGTERM: the lifespan shutdown runs and the process exits 0.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, Literal, get_args

from ..adapter import LambdaAdapter
from ..errors import ConfigurationError, UnsupportedEventError
from ..events import detect_source
from .client import NextInvocation, RuntimeAPIError, RuntimeClient
from .context import invocation_context
from .faults import RuntimeFault, error_body, error_type, xray_error_cause
from .handler import FunctionHandler, load_handler
from .logs import LOCAL_EXECUTION_ENV, set_request_id, setup_logging
from .respond import ResponseHeadersTooLargeError, post_proxy_as_stream, post_streamed
from .snapstart import run_after_restore, run_before_snapshot

__all__ = ["LOCAL_EXECUTION_ENV", "InvokeMode", "Runtime", "main"]

logger = logging.getLogger("lambda_asgi")

InvokeMode = Literal["buffered", "response_stream"]

#: Event sources whose front door can take a streamed response (Function URL in
#: RESPONSE_STREAM mode, REST API with responseTransferMode=STREAM).
STREAMING_SOURCES = frozenset({"function-url", "apigw-rest-v1"})

#: Name of the internal extension registered to receive SIGTERM.
EXTENSION_NAME = "lambda-asgi"

# Lambda gives the runtime about 500 ms after SIGTERM when an internal extension is
# registered; a lifespan shutdown that takes longer is logged (it may be cut short).
_SHUTDOWN_BUDGET_S = 0.5


class _Shutdown(BaseException):
    """Raised by the SIGTERM handler to leave a ``/next`` that is waiting for an event."""


class Runtime:
    """Serves invocations from the Runtime API with ``handler`` until SIGTERM."""

    def __init__(
        self,
        client: RuntimeClient,
        handler: LambdaAdapter | FunctionHandler,
        *,
        invoke_mode: InvokeMode = "buffered",
    ) -> None:
        self.client = client
        self.handler = handler
        self.streaming = invoke_mode == "response_stream"
        self._waiting = False
        self._stopping = False

    # -- signals -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """Turn SIGTERM (and SIGINT, for local runs) into a graceful shutdown."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, even mid-invocation
        logger.info("Received %s: shutting down", signal.Signals(signum).name)
        self._stopping = True
        if self._waiting:
            # Idle in /next (the only time Lambda sends SIGTERM): leave the blocking read.
            # During an invocation the flag alone ends the loop once it is answered.
            raise _Shutdown

    # -- the loop ------------------------------------------------------------------------

    def serve(self) -> None:
        """Serve invocations until a signal asks to stop; then shut the app down."""
        try:
            while not self._stopping:
                self._waiting = True
                try:
                    if self._stopping:
                        break
                    invocation = self.client.next_invocation()
                finally:
                    self._waiting = False
                self.handle(invocation)
        except _Shutdown:
            pass
        self.shutdown()

    def shutdown(self) -> None:
        """Run the ASGI lifespan shutdown, logging when it overruns Lambda's budget."""
        if not isinstance(self.handler, LambdaAdapter):
            return
        started = time.monotonic()
        self.handler.shutdown()
        elapsed = time.monotonic() - started
        if elapsed > _SHUTDOWN_BUDGET_S:
            logger.warning(
                "ASGI lifespan shutdown took %.0f ms; Lambda allows about %.0f ms after SIGTERM "
                "and may have cut it short",
                elapsed * 1000,
                _SHUTDOWN_BUDGET_S * 1000,
            )

    def handle(self, invocation: NextInvocation) -> None:
        """Serve one invocation and post its response, or its error to ``/error``; never
        raises for the handler's failures. A failed Runtime API request is logged; one
        answered with status 500 ends the process (as AWS asks)."""
        request_id = invocation.request_id
        set_request_id(request_id)
        if invocation.trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = invocation.trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            context = invocation_context(invocation)
            event = _unmarshal(invocation.body)
            if isinstance(self.handler, LambdaAdapter):
                self._serve_asgi(self.handler, request_id, event, context)
            else:
                self._serve_function(self.handler, request_id, event, context)
        except (RuntimeAPIError, ConnectionError) as exc:
            # Raised by the client's own requests only: what the handler raises, a
            # ConnectionError of its own too, is reported as the invocation's error.
            _api_failure(request_id, exc)
        except Exception as exc:
            # A fault found before the response's first byte: an event or context that is
            # not valid JSON, a result that cannot be marshalled.
            self._report(request_id, exc)

    def _report(self, request_id: str, exc: Exception) -> None:
        body = error_body(exc, request_id)
        logger.error(
            "Invocation %s failed: %s: %s", request_id, body["errorType"], exc, exc_info=exc
        )
        try:
            self.client.post_invocation_error(
                request_id, body, error_type(exc), xray_error_cause(exc)
            )
        except (RuntimeAPIError, ConnectionError) as api_exc:
            _api_failure(request_id, api_exc)

    def _serve_asgi(
        self, adapter: LambdaAdapter, request_id: str, event: Any, context: Any
    ) -> None:
        stream = self.streaming and _takes_a_stream(event)
        try:
            invocation = adapter.invoke(event, context, stream=stream)
        except Exception as exc:
            # The app's exception (propagate_exceptions), whatever its class, or an event the
            # adapter cannot serve: the invocation's error.
            self._report(request_id, exc)
            return
        completed = True
        try:
            if invocation.streamed is not None:
                completed = post_streamed(self.client, request_id, adapter, invocation)
            elif stream:  # the adapter's own error response (500, 504)
                assert invocation.result is not None
                post_proxy_as_stream(self.client, request_id, invocation.result)
            else:
                self._post_buffered(request_id, invocation.result)
        except ResponseHeadersTooLargeError as exc:
            # Nothing was sent: the error goes to /error before any byte. A streaming app
            # was stopped; a finished one still gets its post-response work, as after a 413.
            self._report(request_id, exc)
            streamed = invocation.streamed
            completed = streamed is None or streamed.stream is None
        if completed:
            # After the response left: the caller does not wait for background tasks.
            invocation.finish()

    def _serve_function(
        self, handler: FunctionHandler, request_id: str, event: Any, context: Any
    ) -> None:
        try:
            result = handler(event, context)
        except Exception as exc:
            self._report(request_id, exc)  # whatever its class, as AWS's runtime does
            return
        if (
            self.streaming
            and isinstance(result, dict)
            and "statusCode" in result
            and _takes_a_stream(event)
        ):
            post_proxy_as_stream(self.client, request_id, result)
        else:
            self._post_buffered(request_id, result)

    def _post_buffered(self, request_id: str, result: Any) -> None:
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            raise RuntimeFault(
                "Runtime.MarshalError", f"Unable to marshal the handler's response: {exc}"
            ) from exc
        try:
            self.client.post_response(request_id, payload)
        except RuntimeAPIError as exc:
            if exc.status != 413:
                raise
            logger.error(
                "Invocation %s: the %d-byte response is over Lambda's 6 MB limit; stream "
                "large bodies (LAMBDA_ASGI_INVOKE_MODE=response_stream)",
                request_id,
                len(payload),
            )


def _takes_a_stream(event: Any) -> bool:
    """Whether ``event`` came through a front door that can take a streamed response.

    Only a Function URL or a REST API can; an event from any other front door of the same
    function (HTTP API, ALB, ...) or a direct invocation gets the buffered response it expects.
    """
    try:
        return detect_source(event).name in STREAMING_SOURCES
    except UnsupportedEventError:
        return False


def _api_failure(request_id: str, exc: RuntimeAPIError | ConnectionError) -> None:
    """Log a failed Runtime API request, so that the loop goes on with the next event; a 500
    is raised again: the environment is broken and AWS asks the runtime to exit."""
    logger.error("Runtime API failure during invocation %s: %s", request_id, exc)
    if isinstance(exc, RuntimeAPIError) and exc.status >= 500:
        raise exc


def _unmarshal(body: bytes) -> Any:
    try:
        return json.loads(body) if body else {}
    except ValueError as exc:
        raise RuntimeFault(
            "Runtime.UnmarshalError", f"Unable to unmarshal the event JSON: {exc}"
        ) from exc


# -- process setup -------------------------------------------------------------------------


def _extend_sys_path(environ: Mapping[str, str]) -> None:
    # What the managed runtime puts on the path: the function's code, then layers.
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        environ.get("LAMBDA_TASK_ROOT", ""),
        "/opt/python",
        f"/opt/python/lib/{version}/site-packages",
    ]
    for index, path in enumerate(p for p in candidates if p and os.path.isdir(p)):
        if path not in sys.path:
            sys.path.insert(index, path)


def invoke_mode(value: str | None) -> InvokeMode:
    """Validate ``LAMBDA_ASGI_INVOKE_MODE`` (``buffered`` by default)."""
    mode = (value or "buffered").strip().lower()
    choices = get_args(InvokeMode)
    if mode not in choices:
        raise ConfigurationError(
            f"LAMBDA_ASGI_INVOKE_MODE must be one of {', '.join(choices)}; got {value!r}. Use "
            "response_stream with a Function URL in RESPONSE_STREAM invoke mode (or a REST "
            "API with responseTransferMode=STREAM), buffered otherwise."
        )
    return mode  # type: ignore[return-value]


def main(
    handler_spec: str | None = None,
    *,
    mode: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the runtime: init, optional SnapStart restore, then serve until SIGTERM.

    Returns the process exit code (0 after a graceful shutdown).
    """
    env = os.environ if environ is None else environ
    setup_logging(env)
    address = env.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        logger.error(
            "AWS_LAMBDA_RUNTIME_API is not set: lambda-asgi runtime runs inside Lambda (or "
            "against a local Runtime API such as lambda-asgi serve)"
        )
        return 2
    client = RuntimeClient(address)
    _extend_sys_path(env)
    try:
        selected_mode = invoke_mode(mode or env.get("LAMBDA_ASGI_INVOKE_MODE"))
        handler = load_handler(handler_spec, env)
    except Exception as exc:
        kind = error_type(exc)
        logger.error("Init failed: %s: %s", kind, exc, exc_info=exc)
        client.post_init_error(error_body(exc), kind)
        return 1
    runtime = Runtime(client, handler, invoke_mode=selected_mode)
    runtime.install_signal_handlers()
    try:
        client.register_extension(EXTENSION_NAME)
    except (RuntimeAPIError, OSError) as exc:
        logger.warning("Could not register the extension (no SIGTERM at shutdown): %s", exc)
    if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        code = _snap_start(client)
        if code:
            return code
    logger.info(
        "lambda-asgi runtime ready (%s, invoke mode %s)",
        type(handler).__name__ if isinstance(handler, LambdaAdapter) else handler.name,
        selected_mode,
    )
    runtime.serve()
    return 0


def _snap_start(client: RuntimeClient) -> int:
    if not _run_hooks(run_before_snapshot, client.post_init_error, "Runtime.BeforeSnapshotError"):
        return 64
    client.restore_next()
    if not _run_hooks(run_after_restore, client.post_restore_error, "Runtime.AfterRestoreError"):
        return 65
    return 0


def _run_hooks(
    run: Callable[[], None], report: Callable[[dict[str, Any], str], None], kind: str
) -> bool:
    try:
        run()
    except Exception as exc:
        logger.error("SnapStart hook failed (%s): %s", kind, exc, exc_info=exc)
        report(error_body(exc), kind)
        return False
    return True
