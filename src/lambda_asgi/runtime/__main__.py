"""``python -m lambda_asgi.runtime [HANDLER]``: run the Lambda runtime loop."""

from __future__ import annotations

import sys

from .loop import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
