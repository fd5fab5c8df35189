"""``LambdaAdapter``: the Lambda handler that serves an ASGI app.

One event loop per thread (in Lambda: one per process) is created on first use and reused by
every warm invocation, so clients, pools and tasks made in one invocation keep working in the
next. The app's lifespan runs once, when the adapter is built (Lambda's init phase).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast, get_args

from .config import AdapterConfig
from .deadline import DEFAULT_TIMEOUT_MARGIN_MS, deadline_for, log_timeout, parse_margin
from .errors import AppLoadError, ConfigurationError, InvalidEventError
from .events import EventSource, detect_source
from .events.base import ResponseHeaders
from .lifespan import Lifespan, LifespanMode
from .streaming import BufferedStreamError, StreamingMode, buffer_stream, payload_too_large
from .sync_bridge import AppTimeoutError, ASGIApp, SyncResponse, call_asgi_sync, new_runner

__all__ = ["Invocation", "LambdaAdapter", "get_runner", "load_app", "zero_code_handler"]

logger = logging.getLogger("lambda_asgi")

_thread_state = threading.local()

LambdaHandler = Callable[[Any, Any], Any]


def get_runner() -> asyncio.Runner:
    """The calling thread's :class:`asyncio.Runner`, created once and reused for ever."""
    runner: asyncio.Runner | None = getattr(_thread_state, "runner", None)
    if runner is None:
        runner = new_runner()
        runner.get_loop()
        _thread_state.runner = runner
    return runner


class Invocation:
    """One served event: a proxy response, or the app's response to stream (complete, or
    still streaming when :attr:`SyncResponse.stream` is set).

    Exactly one of :attr:`result` and :attr:`streamed` is set. Call :meth:`finish` once the
    response has been delivered, to run the app's post-response work (background tasks).
    """

    __slots__ = ("_response", "_timed_out", "event", "result", "source", "streamed")

    def __init__(
        self,
        source: EventSource,
        event: Mapping[str, Any],
        result: dict[str, Any] | None = None,
        streamed: SyncResponse | None = None,
        _response: SyncResponse | None = None,
        _timed_out: bool = False,
    ) -> None:
        self.source = source
        self.event = event
        self.result = result
        self.streamed = streamed
        self._response = _response
        self._timed_out = _timed_out

    def __repr__(self) -> str:
        return (
            f"Invocation(source={self.source.name!r}, result={self.result!r}, "
            f"streamed={self.streamed!r})"
        )

    @property
    def timed_out(self) -> bool:
        """Whether the deadline guard cancelled the app (see ``timeout_margin_ms``)."""
        response = self._response or self.streamed
        return self._timed_out or (response is not None and response.timed_out)

    def finish(self) -> None:
        """Run what the app does after its final body message; log what it raises."""
        response = self._response or self.streamed
        if response is not None:
            response.finish()
        served = getattr(_thread_state, "served", 0) + 1
        _thread_state.served = served
        if not served & (served - 1) or not served % 1024:
            _note_leftover_tasks()


_JSON_HEADERS = ResponseHeaders.json()


class LambdaAdapter:
    """A Lambda handler serving ``app``: ``handler = LambdaAdapter(app)``.

    Options:
        lifespan: ``"auto"`` (run it if the app supports it), ``"on"`` (a failed startup
            raises at init), ``"off"``.
        base_path: a path prefix the app is mounted under (custom-domain mapping); it goes
            into ``root_path``.
        text_mime_types: extra content types returned as text rather than base64 (they
            extend the defaults).
        exclude_headers: response header names to drop.
        streaming: ``"auto"`` buffers a streamed response within the payload limit;
            ``"reject"`` refuses streamed responses with a clear error.
        propagate_exceptions: re-raise app exceptions (Lambda records a function error)
            instead of answering 500.
        timeout_margin_ms: cancel an app still running this long before the Lambda
            deadline and answer 504 (keeps the warm environment); 0 disables the guard.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        lifespan: LifespanMode = "auto",
        base_path: str | None = None,
        text_mime_types: Iterable[str] = (),
        exclude_headers: Iterable[str] = (),
        streaming: StreamingMode = "auto",
        propagate_exceptions: bool = False,
        timeout_margin_ms: int = DEFAULT_TIMEOUT_MARGIN_MS,
    ) -> None:
        if not callable(app):
            raise ConfigurationError(f"LambdaAdapter needs an ASGI app (a callable), got {app!r}")
        _check_choice("lifespan", lifespan, get_args(LifespanMode))
        _check_choice("streaming", streaming, get_args(StreamingMode))
        self.app = app
        self.config = AdapterConfig.build(
            base_path=base_path, text_mime_types=text_mime_types, exclude_headers=exclude_headers
        )
        self.streaming = streaming
        self.propagate_exceptions = propagate_exceptions
        self.timeout_margin_ms = parse_margin(timeout_margin_ms)
        # One bound method serves every request (the bridge calls it only if the loop runs).
        self._deadline = self._deadline_of
        self._served = 0
        self._lifespan = Lifespan(app, lifespan, get_runner().get_loop())
        self._state = self._lifespan.state
        self._lifespan.startup()
        # Tasks alive now (the lifespan task) are the adapter's own, not leftovers of a request.
        _known_tasks().update(asyncio.all_tasks(get_runner().get_loop()))
        if self._lifespan.supported:
            atexit.register(self.shutdown)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LambdaAdapter:
        """Build the adapter from ``LAMBDA_ASGI_*`` environment variables (see README).

        When ``LAMBDA_ASGI_APP`` names a :class:`LambdaAdapter` (``handler =
        LambdaAdapter(app)``), that adapter is returned as it is, with the options it was
        built with; option variables set beside it are ignored, with a warning.
        """
        env = os.environ if environ is None else environ
        spec = env.get("LAMBDA_ASGI_APP", "")
        app = _load_target(spec)
        if isinstance(app, LambdaAdapter):
            # It has started the app's lifespan already: a second adapter would start it again.
            ignored = [name for name in _OPTION_VARIABLES if env.get(name)]
            if ignored:
                logger.warning(
                    "LAMBDA_ASGI_APP=%r names a LambdaAdapter, which serves with the options "
                    "it was built with: %s ignored. Pass them to LambdaAdapter(...), or name "
                    "the ASGI app it wraps.",
                    spec,
                    ", ".join(ignored),
                )
            return app
        return cls(
            app,
            lifespan=cast(LifespanMode, env.get("LAMBDA_ASGI_LIFESPAN", "auto").lower()),
            base_path=env.get("LAMBDA_ASGI_BASE_PATH") or None,
            text_mime_types=_split_list(env.get("LAMBDA_ASGI_TEXT_MIME_TYPES", "")),
            exclude_headers=_split_list(env.get("LAMBDA_ASGI_EXCLUDE_HEADERS", "")),
            streaming=cast(StreamingMode, env.get("LAMBDA_ASGI_STREAMING", "auto").lower()),
            propagate_exceptions=_parse_bool(
                "LAMBDA_ASGI_PROPAGATE_EXCEPTIONS", env.get("LAMBDA_ASGI_PROPAGATE_EXCEPTIONS", "")
            ),
            timeout_margin_ms=parse_margin(
                env.get("LAMBDA_ASGI_TIMEOUT_MARGIN_MS", ""), "LAMBDA_ASGI_TIMEOUT_MARGIN_MS"
            ),
        )

    def _deadline_of(self, scope: Mapping[str, Any]) -> float | None:
        # The deadline guard's loop-clock time for the request of ``scope``.
        return deadline_for(scope.get("aws.context"), self.timeout_margin_ms)

    @property
    def state(self) -> dict[str, Any]:
        """The lifespan ``state``; copied shallowly into every request scope."""
        return self._lifespan.state

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        """Serve one Lambda event and return the proxy response of its source."""
        _, result, response, _ = self._serve(event, context, False)
        if response is not None and not response.finished:
            response.finish()
        # Sampled check for tasks the app left running (see _note_leftover_tasks).
        served = self._served = self._served + 1
        if not served & (served - 1) or not served % 1024:
            _note_leftover_tasks()
        assert result is not None
        return result

    def invoke(self, event: Any, context: Any, *, stream: bool = False) -> Invocation:
        """Serve one event; with ``stream=True`` the app's response is handed back unread, to
        be streamed as the raw body bytes the app sends, whether in one message or many.

        Raises :class:`~lambda_asgi.UnsupportedEventError` for events of no supported source
        and :class:`~lambda_asgi.InvalidEventError` for malformed ones.
        """
        source, result, response, timed_out = self._serve(event, context, stream)
        if result is None:
            return Invocation(source, event, None, response, response, timed_out)
        return Invocation(source, event, result, None, response, timed_out)

    def _serve(
        self, event: Any, context: Any, stream: bool
    ) -> tuple[EventSource, dict[str, Any] | None, SyncResponse | None, bool]:
        """``(source, result, response, timed_out)``: ``result`` is None only for a response
        handed back unread to stream (then ``response`` is it)."""
        source = detect_source(event)
        config = self.config
        try:
            scope, body = source.to_scope(event, context, config)
        except UnicodeEncodeError as exc:
            raise _lone_surrogate_error(exc) from None
        state = self._state
        scope["state"] = state.copy() if state else {}
        margin_ms = self.timeout_margin_ms
        try:
            runner = _thread_state.runner
        except AttributeError:  # this thread's first invocation
            runner = get_runner()
        try:
            response = call_asgi_sync(
                self.app,
                scope,
                body,
                runner=runner,
                # Read only if the app suspends: most requests never need the deadline.
                deadline=self._deadline if margin_ms > 0 else None,
            )
        except AppTimeoutError:
            log_timeout(scope, margin_ms)
            return source, self.error_response(source, event, 504, _TIMEOUT_MESSAGE), None, True
        except Exception as exc:
            logger.exception("ASGI app failed on %s %s: %s", scope["method"], scope["path"], exc)
            if self.propagate_exceptions:
                raise
            return source, self.error_response(source, event, 500), None, False
        if stream:
            # Streamed as it is: no base64, and the buffered payload limit (6 MB) does not
            # apply to a stream, even one whose whole body came in one message.
            return source, None, response, False
        if response.needs_async:
            try:
                body = buffer_stream(response, mode=self.streaming, limit=source.response_limit)
            except BufferedStreamError as exc:
                return (
                    source,
                    self._refuse(source, event, exc.status, str(exc), scope),
                    response,
                    False,
                )
            except AppTimeoutError:
                log_timeout(scope, margin_ms)
                result = self._refuse(source, event, 504, _TIMEOUT_MESSAGE, scope, log=False)
                return source, result, response, False
            except Exception as exc:
                logger.exception("ASGI app failed while streaming %s: %s", scope["path"], exc)
                if self.propagate_exceptions:
                    raise
                result = self._refuse(source, event, 500, "Internal Server Error", scope, log=False)
                return source, result, response, False
        else:
            body = response.body
        headers = ResponseHeaders(response.headers, config.exclude_headers)
        result = source.to_response(response.status, headers, body, event, config)
        limit = source.response_limit
        # The exact check serialises the response: only responses that may be near the limit
        # need it (text is at most 4/3 of the bytes, JSON escaping at most 12x the text).
        if len(body) * 16 + 65536 >= limit and payload_too_large(result, limit):
            message = (
                f"The response is over {limit / (1024 * 1024):g} MB once encoded, the limit of a "
                f"{source.title} response. Stream large bodies (LAMBDA_ASGI_INVOKE_MODE="
                "response_stream with a Function URL in RESPONSE_STREAM invoke mode)."
            )
            return source, self._refuse(source, event, 502, message, scope), response, False
        return source, result, response, False

    def _refuse(
        self,
        source: EventSource,
        event: Mapping[str, Any],
        status: int,
        message: str,
        scope: Mapping[str, Any],
        *,
        log: bool = True,
    ) -> dict[str, Any]:
        if log:
            logger.error("%s %s: %s", scope["method"], scope["path"], message)
        return self.error_response(source, event, status, message)

    def error_response(
        self,
        source: EventSource,
        event: Mapping[str, Any],
        status: int,
        message: str | None = None,
    ) -> dict[str, Any]:
        """A short JSON error response in ``source``'s format (never a traceback)."""
        text = message or _STATUS_MESSAGES.get(status, "Error")
        import json  # only error responses need it: kept off the import path (cold start)

        body = json.dumps({"message": text}).encode()
        return source.to_response(status, _JSON_HEADERS, body, event, self.config)

    def shutdown(self) -> None:
        """Run the app's lifespan shutdown (at process exit; safe to call twice)."""
        self._lifespan.shutdown()


def _lone_surrogate_error(exc: UnicodeEncodeError) -> InvalidEventError:
    # JSON may escape a lone UTF-16 surrogate ("\ud800"), which is no text and has no UTF-8
    # bytes: a direct invocation can send one, and every source encodes event text to bytes.
    text = exc.object
    snippet = text[max(0, exc.start - 20) : exc.end + 20]
    return InvalidEventError(
        f"the event holds a lone UTF-16 surrogate {text[exc.start]!r} (near {snippet!r}); "
        "event text must be valid Unicode: send binary data base64-encoded with "
        "isBase64Encoded=true"
    )


def _known_tasks() -> weakref.WeakSet[asyncio.Task[Any]]:
    try:
        return cast("weakref.WeakSet[asyncio.Task[Any]]", _thread_state.known_tasks)
    except AttributeError:
        known: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        _thread_state.known_tasks = known
        return known


def _note_leftover_tasks() -> None:
    """Warn about tasks an app left running on the loop after its response (once per task).

    Such a task only runs while a later invocation runs the loop (Lambda freezes the process
    between invocations), so its work is late or never done. Listing the loop's tasks costs a
    few microseconds, so callers sample: after invocations 1, 2, 4, ... 1024, then every
    1024th. A leak on every request is reported at once; tasks are never cancelled (a
    connection pool may keep one on purpose).
    """
    known = _known_tasks()
    new = [task for task in asyncio.all_tasks(get_runner().get_loop()) if task not in known]
    if not new:
        return
    known.update(new)
    names = ", ".join(
        f"{task.get_name()} ({getattr(task.get_coro(), '__qualname__', '?')})" for task in new[:5]
    )
    logger.warning(
        "The app left %d task(s) running after its response: %s. They only run while a later "
        "invocation runs the event loop (Lambda freezes the process in between): await them "
        "before the response ends, or run the work as a background task of the response.",
        len(new),
        names,
    )


_TIMEOUT_MESSAGE = "Gateway Timeout: the app did not answer before the function's timeout"

_STATUS_MESSAGES = {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}


def _check_choice(option: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigurationError(
            f"{option} must be one of {', '.join(map(repr, choices))}; got {value!r}"
        )


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("", "0", "false", "no", "off"):
        return False
    if lowered in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"{name} must be true or false, got {value!r}")


# The variables of LambdaAdapter's options (read by from_env).
_OPTION_VARIABLES = (
    "LAMBDA_ASGI_LIFESPAN",
    "LAMBDA_ASGI_BASE_PATH",
    "LAMBDA_ASGI_TEXT_MIME_TYPES",
    "LAMBDA_ASGI_EXCLUDE_HEADERS",
    "LAMBDA_ASGI_STREAMING",
    "LAMBDA_ASGI_PROPAGATE_EXCEPTIONS",
    "LAMBDA_ASGI_TIMEOUT_MARGIN_MS",
)


def load_app(spec: str) -> ASGIApp:
    """Import ``package.module:attribute`` (attribute may be dotted) and return the ASGI app
    it names; for a :class:`LambdaAdapter` (``handler = LambdaAdapter(app)``), the app it
    serves.

    Raises :class:`ConfigurationError` when ``spec`` is empty or malformed, when the module
    cannot be found or imported, or when it has no such attribute; :class:`AppLoadError`
    when the app's own code raises while it is imported (its exception is the cause); a
    :class:`SyntaxError` in the app's code as it is.
    """
    target = _load_target(spec)
    return target.app if isinstance(target, LambdaAdapter) else target


def _load_target(spec: str) -> ASGIApp | LambdaAdapter:
    """What ``spec`` names: an ASGI app or a :class:`LambdaAdapter` (see :func:`load_app`)."""
    hint = (
        "Set LAMBDA_ASGI_APP to the app as package.module:attribute, for example "
        "LAMBDA_ASGI_APP=app.main:app"
    )
    if not spec:
        raise ConfigurationError(f"LAMBDA_ASGI_APP is not set. {hint}.")
    module_name, sep, attribute = spec.strip().partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"LAMBDA_ASGI_APP={spec!r} is not package.module:attribute. {hint}."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"LAMBDA_ASGI_APP={spec!r}: cannot import module {module_name!r} ({exc}). Check "
            "the module path and that it is in the deployment package."
        ) from exc
    except SyntaxError:
        raise  # it names the file and line itself; runtimes report it as a syntax error
    except Exception as exc:
        raise _app_error(spec, module_name, f"importing module {module_name!r}", exc) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
                # Raised by code the lookup ran (a property, a module __getattr__), not a
                # missing name: that code's error must not pass for a wrong setting.
                doing = f"reading {attribute!r} of module {module_name!r}"
                raise _app_error(spec, module_name, doing, exc) from exc
            raise ConfigurationError(
                f"LAMBDA_ASGI_APP={spec!r}: module {module_name!r} has no attribute "
                f"{attribute!r}. {hint}."
            ) from None
    if isinstance(target, LambdaAdapter):
        return target
    if not callable(target):
        raise ConfigurationError(
            f"LAMBDA_ASGI_APP={spec!r} names a {type(target).__name__}, not an ASGI app"
        )
    return cast(ASGIApp, target)


def _app_error(spec: str, module_name: str, doing: str, exc: Exception) -> AppLoadError:
    """An :class:`AppLoadError` for ``exc``, raised by the app's code while ``doing``.

    It carries ``exc``'s traceback: AWS's runtime logs only the traceback of the error it
    is given, which then ends at the app's failing line.
    """
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return AppLoadError(
        f"LAMBDA_ASGI_APP={spec!r}: {doing} raised {what}. The error is in the app's own code "
        "(see its traceback), not in LAMBDA_ASGI_APP: fix it there.",
        name=module_name,
    ).with_traceback(exc.__traceback__)


_zero_code: LambdaAdapter | None = None
_zero_code_lock = threading.Lock()


def zero_code_handler() -> LambdaAdapter:
    """The adapter behind ``lambda_asgi.handler``, built once from the environment."""
    global _zero_code
    with _zero_code_lock:
        if _zero_code is None:
            _zero_code = LambdaAdapter.from_env()
        return _zero_code
