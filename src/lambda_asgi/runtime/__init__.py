"""Our own Lambda Runtime API loop: real response streaming, post-response work, SIGTERM.

Run it with ``lambda-asgi runtime`` or ``python -m lambda_asgi.runtime`` (a container image
ENTRYPOINT, a ``provided.al2023`` ``bootstrap``, or the ``AWS_LAMBDA_EXEC_WRAPPER`` script in
``deploy/`` on the managed Python runtime). See the README section "Response streaming and
the lambda-asgi runtime".
"""

from __future__ import annotations

from .client import RuntimeAPIError, RuntimeClient
from .loop import Runtime, main

__all__ = ["Runtime", "RuntimeAPIError", "RuntimeClient", "main"]
