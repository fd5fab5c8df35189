"""The ``lambda-asgi`` command line: ``invoke`` and ``runtime``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _cmd_invoke(args: argparse.Namespace) -> int:
    from .adapter import LambdaAdapter, load_app
    from .context import LambdaContext
    from .errors import ConfigurationError, InvalidEventError, UnsupportedEventError

    try:
        if args.event == "-":
            event: Any = json.load(sys.stdin)
        else:
            with open(args.event, encoding="utf-8") as handle:
                event = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"lambda-asgi invoke: cannot read event {args.event!r}: {exc}", file=sys.stderr)
        return 2
    try:
        adapter = LambdaAdapter(load_app(args.app), lifespan=args.lifespan)
        result = adapter(event, LambdaContext.local())
    except (ConfigurationError, UnsupportedEventError, InvalidEventError) as exc:
        print(f"lambda-asgi invoke: {exc}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    adapter.shutdown()
    return 0


def _cmd_runtime(args: argparse.Namespace) -> int:
    from .runtime import main as runtime_main

    return runtime_main(args.handler, mode=args.invoke_mode)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lambda-asgi`` command."""
    parser = argparse.ArgumentParser(
        prog="lambda-asgi", description="Run ASGI apps on AWS Lambda, and locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser(
        "invoke", help="invoke APP with a Lambda event and print the proxy response"
    )
    invoke.add_argument("app", help="the ASGI app as package.module:attribute")
    invoke.add_argument("event", help="a JSON event file, or - for standard input")
    invoke.add_argument("--lifespan", choices=("auto", "on", "off"), default="auto")
    invoke.set_defaults(func=_cmd_invoke)
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
