"""Lambda Function URL events (payload format 2.0, served by Lambda itself)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import unquote
from .http_api_v2 import HttpApiV2Source, is_function_url

__all__ = ["SOURCE", "FunctionUrlSource"]


class FunctionUrlSource(HttpApiV2Source):
    """Function URLs: the HTTP API 2.0 shape, but ``rawPath`` keeps its percent-encoding."""

    name = "function-url"
    title = "Lambda Function URL"
    marker = "rawPath"

    def matches(self, event: Mapping[str, Any]) -> bool:
        if event.get("version") != "2.0" or "rawPath" not in event:
            return False
        context = event.get("requestContext")
        return isinstance(context, Mapping) and "http" in context and is_function_url(context)

    def split_path(self, raw_path: str) -> tuple[str, bytes]:
        """``(path, raw_path)``: decode the path, keep the bytes as received."""
        return unquote(raw_path), raw_path.encode("utf-8")


SOURCE = FunctionUrlSource()
