"""A Lambda context object with the attributes and methods of the managed runtime's."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LambdaContext"]


@dataclass
class LambdaContext:
    """What the managed Python runtime passes as ``context``, for our runtime loop and for
    local invocations. Defaults come from the standard Lambda environment variables."""

    aws_request_id: str = field(default_factory=lambda: _new_request_id())
    invoked_function_arn: str = ""
    deadline_ms: int = 0
    function_name: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local-function")
    )
    function_version: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    )
    memory_limit_in_mb: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    )
    log_group_name: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
    )
    log_stream_name: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
    )
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            region = os.environ.get("AWS_REGION", "us-east-1")
            self.invoked_function_arn = (
                f"arn:aws:lambda:{region}:000000000000:function:{self.function_name}"
            )

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the deadline (a large value when there is none)."""
        if not self.deadline_ms:
            return 900_000
        return max(0, self.deadline_ms - int(time.time() * 1000))

    def log(self, msg: object) -> None:
        """Write ``str(msg)`` to the function's log, as the managed runtime's ``context.log``.

        Like AWS's runtime, no newline is added; the write is flushed at once (its stdout is
        unbuffered), so the text is in the log even if the process is then frozen or killed.
        """
        stream = sys.stdout
        stream.write(str(msg))
        stream.flush()

    @classmethod
    def local(cls, timeout_s: float = 30.0) -> LambdaContext:
        """A context for a local invocation with a ``timeout_s`` deadline from now."""
        return cls(deadline_ms=int(time.time() * 1000 + timeout_s * 1000))


def _new_request_id() -> str:
    import uuid  # local invocations only: kept off the import path of deployed functions

    return str(uuid.uuid4())
