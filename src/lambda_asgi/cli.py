"""The ``lambda-asgi`` command line: ``invoke``, ``serve`` and ``runtime``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

__all__ = ["main"]


def _read_event(args: argparse.Namespace) -> Any:
    """The event of ``invoke``: built from METHOD PATH with --source, else read from a file."""
    if args.source:
        from .local.front_door import HttpRequest, build_event

        if args.path is None:
            raise ValueError("--source needs a METHOD and a PATH, e.g. GET '/items?a=1'")
        headers = []
        for header in args.header:
            name, sep, value = header.partition(":")
            if not sep or not name.strip():
                raise ValueError(f"--header {header!r} is not 'Name: value'")
            headers.append((name.strip(), value.strip()))
        body = (args.data or "").encode()
        request = HttpRequest.from_target(args.event, args.path, headers=headers, body=body)
        return build_event(args.source, request)
    if args.path is not None:
        raise ValueError(
            f"unexpected argument {args.path!r}: give --source to build an event from a "
            "METHOD and a PATH, or one EVENT file"
        )
    if args.event == "-":
        return json.load(sys.stdin)
    with open(args.event, encoding="utf-8") as handle:
        return json.load(handle)


def _invoke_environ(args: argparse.Namespace) -> dict[str, str]:
    """The function's environment for ``invoke``, with or without ``--runtime``: this
    process's (the ``LAMBDA_ASGI_*`` options), APP as ``LAMBDA_ASGI_APP``, and ``--lifespan``
    when given over ``LAMBDA_ASGI_LIFESPAN``."""
    environ = {**os.environ, "LAMBDA_ASGI_APP": args.app}
    if args.lifespan is not None:
        environ["LAMBDA_ASGI_LIFESPAN"] = args.lifespan
    return environ


def _cmd_invoke(args: argparse.Namespace) -> int:
    try:
        event = _read_event(args)
    except (OSError, ValueError) as exc:
        print(f"lambda-asgi invoke: cannot read event {args.event!r}: {exc}", file=sys.stderr)
        return 2
    if args.runtime:
        return _invoke_in_runtime(args, event)
    if args.app_dir:
        sys.path.insert(0, os.path.abspath(args.app_dir))
    with _app_output_to_stderr() as stdout:
        return _invoke_in_process(args, event, stdout)


@contextlib.contextmanager
def _app_output_to_stderr() -> Iterator[IO[str]]:
    """Send what the app writes to standard output (``print()``, Powertools' EMF metrics) to
    standard error, as ``--runtime`` sends its child's, and yield a stream to the real
    standard output, which then holds the proxy response alone (``| jq`` works).

    File descriptor 1 is redirected too, for C extensions and child processes of the app.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with (
            open(os.dup(saved), "w", encoding="utf-8") as stdout,
            contextlib.redirect_stdout(sys.stderr),
        ):
            yield stdout
    finally:
        sys.stdout.flush()  # written through the original sys.stdout: to standard error
        os.dup2(saved, 1)
        os.close(saved)


def _invoke_in_process(args: argparse.Namespace, event: Any, stdout: IO[str]) -> int:
    """``invoke`` without ``--runtime``: the adapter in this process; the answer to
    ``stdout``."""
    from .adapter import LambdaAdapter
    from .context import LambdaContext
    from .errors import ConfigurationError, InvalidEventError, UnsupportedEventError
    from .runtime.faults import error_body

    try:
        adapter = LambdaAdapter.from_env(_invoke_environ(args))
    except ConfigurationError as exc:
        print(f"lambda-asgi invoke: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # The app's import or lifespan startup failed: logged and reported as the runtime
        # does (its /init/error payload), so the answer is the one --runtime gives.
        logging.getLogger("lambda_asgi").error("Init failed: %s", exc, exc_info=exc)
        _print_json(error_body(exc), stdout)
        return 1
    context = LambdaContext.local()
    try:
        result = adapter(event, context)
    except (UnsupportedEventError, InvalidEventError) as exc:
        print(f"lambda-asgi invoke: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # The app's exception, re-raised with LAMBDA_ASGI_PROPAGATE_EXCEPTIONS (the adapter
        # logged its traceback): Lambda's error payload, as --runtime prints it.
        _print_json(error_body(exc, context.aws_request_id), stdout)
        return 1
    finally:
        adapter.shutdown()  # while the app's output still goes to standard error
    _print_json(result, stdout)
    return 0


def _print_json(value: Any, stream: IO[str]) -> None:
    json.dump(value, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def _invoke_in_runtime(args: argparse.Namespace, event: Any) -> int:
    """``invoke --runtime``: one invocation through a runtime child process and a local
    Runtime API, like ``sam local invoke``; the runtime's logs go to standard error."""
    from .local.sandbox import Sandbox

    sandbox = Sandbox(
        args.app,
        app_dir=args.app_dir,
        timeout_s=args.timeout,
        environ=_invoke_environ(args),
        output=sys.stderr,
    )
    sandbox.start()
    try:
        error = sandbox.wait_init()
        data = b""
        if error is None:
            invocation = sandbox.invoke(event)
            data = invocation.wait()
            error = invocation.error()
    finally:
        sandbox.stop()
    if error is not None:
        _print_json(error.body, sys.stdout)
        return 1
    _print_json(json.loads(data), sys.stdout)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from .local.serve import serve

    return serve(
        args.app,
        host=args.host,
        port=args.port,
        source=args.source,
        stream=args.stream,
        reload=args.reload,
        app_dir=args.app_dir,
        timeout_s=args.timeout,
        concurrency=args.concurrency,
    )


def _cmd_runtime(args: argparse.Namespace) -> int:
    from .runtime import main as runtime_main

    return runtime_main(args.handler, mode=args.invoke_mode)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lambda-asgi`` command."""
    from .local.front_door import SOURCE_NAMES

    parser = argparse.ArgumentParser(
        prog="lambda-asgi", description="Run ASGI apps on AWS Lambda, and locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser(
        "invoke", help="invoke APP with a Lambda event and print the proxy response"
    )
    invoke.add_argument("app", help="the ASGI app as package.module:attribute")
    invoke.add_argument(
        "event", help="a JSON event file, or - for standard input; with --source, the METHOD"
    )
    invoke.add_argument("path", nargs="?", help="with --source: the PATH, e.g. '/items?a=1'")
    invoke.add_argument(
        "--lifespan",
        choices=("auto", "on", "off"),
        help="run the app's ASGI lifespan (default: LAMBDA_ASGI_LIFESPAN, else auto)",
    )
    invoke.add_argument(
        "--source", choices=SOURCE_NAMES, help="build the event this source sends for METHOD PATH"
    )
    invoke.add_argument(
        "-H", "--header", action="append", default=[], help="with --source: 'Name: value'"
    )
    invoke.add_argument("-d", "--data", help="with --source: the request body")
    invoke.add_argument(
        "--runtime",
        action="store_true",
        help="invoke through a lambda-asgi runtime child process and a local Runtime API",
    )
    invoke.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="with --runtime: the function timeout, in seconds",
    )
    invoke.add_argument("--app-dir", default=".", help="put this directory on the module path")
    invoke.set_defaults(func=_cmd_invoke)
    serve = commands.add_parser(
        "serve",
        help="serve APP locally behind an emulated AWS front door (needs the [local] extra)",
        description="Each HTTP request becomes the chosen source's Lambda event, served by a "
        "lambda-asgi runtime child process through a local Runtime API, as in Lambda.",
    )
    serve.add_argument("app", help="the ASGI app as package.module:attribute")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000, help="0 picks a free port")
    serve.add_argument("--source", choices=SOURCE_NAMES, default="http-api")
    serve.add_argument(
        "--stream",
        action="store_true",
        help="response streaming (LAMBDA_ASGI_INVOKE_MODE=response_stream), as a Function URL "
        "in RESPONSE_STREAM mode",
    )
    serve.add_argument(
        "--reload", action="store_true", help="restart the runtime when .py files change"
    )
    serve.add_argument("--app-dir", default=".", help="put this directory on the module path")
    serve.add_argument(
        "--timeout", type=float, default=30.0, help="the function timeout, in seconds"
    )
    serve.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="most runtime processes at once (each serves one request at a time)",
    )
    serve.set_defaults(func=_cmd_serve)
    runtime = commands.add_parser(
        "runtime",
        help="run the Lambda Runtime API loop (response streaming, graceful shutdown)",
        description="Serve invocations from AWS_LAMBDA_RUNTIME_API: a container image "
        "ENTRYPOINT, a provided.al2023 bootstrap, or the AWS_LAMBDA_EXEC_WRAPPER script.",
    )
    runtime.add_argument(
        "handler",
        nargs="?",
        help="module.function or package.module:app (default: LAMBDA_ASGI_APP, else _HANDLER)",
    )
    runtime.add_argument(
        "--invoke-mode",
        choices=("buffered", "response_stream"),
        help="how responses are posted (default: LAMBDA_ASGI_INVOKE_MODE, else buffered)",
    )
    runtime.set_defaults(func=_cmd_runtime)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lambda-asgi`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
