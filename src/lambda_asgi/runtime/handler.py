"""Finding the function to run: ``LAMBDA_ASGI_APP``, a command-line spec or ``_HANDLER``.

The handler named by ``_HANDLER`` (``module.attribute``, as the managed runtime reads it) may
be a :class:`~lambda_asgi.LambdaAdapter`, an ASGI app (wrapped in an adapter configured from
the ``LAMBDA_ASGI_*`` variables), a plain ``handler(event, context)`` function, or an
``async def handler(event, context)`` (run on the adapter's event loop).
"""

from __future__ import annotations

import importlib
import inspect
import operator
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..adapter import LambdaAdapter, get_runner
from .faults import RuntimeFault

__all__ = ["FunctionHandler", "load_handler"]


class FunctionHandler:
    """A plain (non-ASGI) Lambda handler: ``handler(event, context) -> result``."""

    __slots__ = ("func", "is_async", "name")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self.func = func
        self.name = name
        self.is_async = inspect.iscoroutinefunction(func)

    def __call__(self, event: Any, context: Any) -> Any:
        """Run the handler (an async one to completion on the thread's event loop)."""
        if self.is_async:
            return get_runner().get_loop().run_until_complete(self.func(event, context))
        return self.func(event, context)


def load_handler(spec: str | None, environ: Mapping[str, str]) -> LambdaAdapter | FunctionHandler:
    """The function to serve: ``spec`` (command line), else ``LAMBDA_ASGI_APP``, else
    ``_HANDLER``. Raises :class:`RuntimeFault` (with the managed runtime's error types) or the
    adapter's own errors (:class:`~lambda_asgi.ConfigurationError`, lifespan failures)."""
    if spec is None and environ.get("LAMBDA_ASGI_APP"):
        return LambdaAdapter.from_env(environ)
    spec = spec or environ.get("_HANDLER", "")
    if not spec:
        raise RuntimeFault(
            "Runtime.MalformedHandlerName",
            "No handler: set LAMBDA_ASGI_APP=package.module:app for an ASGI app, or the "
            "function's handler (_HANDLER) to module.function",
        )
    module_name, attribute = _split_spec(spec)
    target = _import_attribute(module_name, attribute, spec)
    if isinstance(target, LambdaAdapter):
        return target
    if _is_asgi_app(target):
        # An ASGI app named directly: serve it with the LAMBDA_ASGI_* options.
        return LambdaAdapter.from_env({**environ, "LAMBDA_ASGI_APP": f"{module_name}:{attribute}"})
    if not callable(target):
        raise RuntimeFault(
            "Runtime.HandlerNotFound",
            f"Handler {spec!r} names a {type(target).__name__}, not a function or ASGI app",
        )
    return FunctionHandler(target, spec)


def _split_spec(spec: str) -> tuple[str, str]:
    spec = spec.strip()
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
    else:
        module_name, _, attribute = spec.rpartition(".")
    if not module_name or not attribute:
        raise RuntimeFault(
            "Runtime.MalformedHandlerName",
            f"Bad handler {spec!r}: expected module.function (or package.module:app)",
        )
    return module_name.replace("/", "."), attribute


def _import_attribute(module_name: str, attribute: str, spec: str) -> Any:
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise RuntimeFault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name!r} as a handler module",
        )
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise RuntimeFault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module {module_name!r}: {exc}"
        ) from exc
    except ImportError as exc:
        raise RuntimeFault(
            "Runtime.ImportModuleError", f"Unable to import module {module_name!r}: {exc}"
        ) from exc
    try:
        return operator.attrgetter(attribute)(module)
    except AttributeError:
        raise RuntimeFault(
            "Runtime.HandlerNotFound",
            f"Handler {attribute!r} missing on module {module_name!r} (handler {spec!r})",
        ) from None


def _is_asgi_app(target: Any) -> bool:
    """An ``async`` callable taking (scope, receive, send), as every ASGI framework's app is."""
    call = target if inspect.isfunction(target) else getattr(target, "__call__", None)  # noqa: B004
    if call is None or not inspect.iscoroutinefunction(call):
        return False
    try:
        parameters = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 3 or any(p.kind is p.VAR_POSITIONAL for p in parameters)
