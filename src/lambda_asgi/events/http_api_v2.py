"""API Gateway HTTP API events, payload format 2.0."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import AdapterConfig
from ..errors import InvalidEventError
from .base import (
    PATH_NEEDS_QUOTING,
    REQUEST_NAMES,
    EventSource,
    ResponseHeaders,
    decode_body,
    encode_body,
    encode_header_value,
    get_map,
    header_pairs,
    make_scope,
    quote_path,
    require_str,
    split_root_path,
)

__all__ = ["SOURCE", "HttpApiV2Source"]

_path_needs_quoting = PATH_NEEDS_QUOTING.search


def is_function_url(request_context: Mapping[str, Any]) -> bool:
    """Function URLs send payload 2.0 too; their domain is ``<id>.lambda-url.<region>.on.aws``."""
    domain = request_context.get("domainName")
    return type(domain) is str and ".lambda-url." in domain


class HttpApiV2Source(EventSource):
    """HTTP API (payload 2.0): ``rawPath`` arrives percent-DECODED, cookies in ``cookies[]``."""

    name = "http-api-v2"
    title = "API Gateway HTTP API (payload format 2.0)"
    marker = "rawPath"

    def matches(self, event: Mapping[str, Any]) -> bool:
        if event.get("version") != "2.0" or "rawPath" not in event:
            return False
        context = event.get("requestContext")
        if not (type(context) is dict or isinstance(context, Mapping)) or "http" not in context:
            return False
        domain = context.get("domainName")  # is_function_url(), inline: once per request
        return type(domain) is not str or ".lambda-url." not in domain

    def split_path(self, raw_path: str) -> tuple[str, bytes]:
        """``(path, raw_path)``: HTTP API has already decoded the path, so re-encode it."""
        return raw_path, quote_path(raw_path)

    def to_scope(
        self, event: Mapping[str, Any], context: Any, config: AdapterConfig
    ) -> tuple[dict[str, Any], bytes]:
        # The `type(...) is` checks are fast paths for what AWS sends; the helpers validate
        # everything else and name the field that is wrong.
        request_context = event.get("requestContext")
        if type(request_context) is not dict:
            request_context = get_map(event, "requestContext")
        http = request_context.get("http")
        if type(http) is not dict:
            http = get_map(request_context, "http")
        method = http.get("method")
        if type(method) is not str or not method:
            method = require_str(method, "requestContext.http.method")
        raw = event.get("rawPath") or "/"
        if type(raw) is not str:
            raise InvalidEventError("event field 'rawPath' must be a string")
        if _path_needs_quoting(raw) is None:
            # Nothing to encode, and no "%" to decode: the same for both payload 2.0 sources.
            path, raw_path = raw, raw.encode("ascii")
        else:
            path, raw_path = self.split_path(raw)

        raw_headers = event.get("headers")
        if type(raw_headers) is not dict:
            raw_headers = get_map(event, "headers")
        try:
            # header_pairs()'s fast path, inline (a call less per request).
            names = REQUEST_NAMES
            headers = [
                (names[name], value.encode("latin-1")) for name, value in raw_headers.items()
            ]
        except (KeyError, AttributeError, UnicodeEncodeError):
            headers = header_pairs(raw_headers, "headers")
        cookies = event.get("cookies")
        if cookies:
            if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
                raise InvalidEventError("event field 'cookies' must be a list of strings")
            headers = [h for h in headers if h[0] != b"cookie"]
            headers.append((b"cookie", encode_header_value("; ".join(cookies), "cookies")))

        stage = request_context.get("stage")
        root_path = ""
        if (isinstance(stage, str) and stage not in ("", "$default")) or config.base_path:
            stage_prefix = f"/{stage}" if stage not in (None, "", "$default") else ""
            root_path = split_root_path(path, (stage_prefix, config.base_path))
        query = event.get("rawQueryString") or ""
        if type(query) is not str:
            raise InvalidEventError("event field 'rawQueryString' must be a string")
        source_ip = http.get("sourceIp")
        protocol = http.get("protocol")
        host = raw_headers.get("host")
        # What HTTP API and Function URLs send (HTTPS only, lower-case header names): the
        # scope's origin without building a header map.
        origin = (
            ("https", (host, 443))
            if raw_headers.get("x-forwarded-proto") == "https"
            and raw_headers.get("x-forwarded-port") == "443"
            and type(host) is str
            and host
            and ":" not in host
            else None
        )
        scope = make_scope(
            event,
            context,
            method=method,
            path=path,
            raw_path=raw_path,
            root_path=root_path,
            query_string=query.encode("utf-8"),
            headers=headers,
            # sourceIp is what API Gateway itself saw; X-Forwarded-For can be forged.
            client=(source_ip, 0) if type(source_ip) is str and source_ip else None,
            default_host=request_context.get("domainName") if origin is None else None,
            http_version=(type(protocol) is str and HTTP_VERSIONS.get(protocol))
            or http_version(protocol),
            origin=origin,
        )
        return scope, decode_body(event) if event.get("body") else b""

    def to_response(
        self,
        status: int,
        headers: ResponseHeaders,
        body: bytes,
        event: Mapping[str, Any],
        config: AdapterConfig,
    ) -> dict[str, Any]:
        text, is_base64 = encode_body(body, headers, config)
        unique = headers.unique
        if unique is not None and "set-cookie" not in unique:
            # The common case: no repeated name, no cookie.
            return {
                "statusCode": status,
                # Not copied: the ResponseHeaders of one response serve that response only.
                "headers": unique,
                "body": text,
                "isBase64Encoded": is_base64,
            }
        response: dict[str, Any] = {
            "statusCode": status,
            "headers": headers.joined(exclude="set-cookie"),
            "body": text,
            "isBase64Encoded": is_base64,
        }
        cookies = headers.get_all("set-cookie")
        if cookies:
            response["cookies"] = cookies
        return response


#: An event's ``protocol`` -> ASGI's http_version (one of "1.0", "1.1" and "2").
HTTP_VERSIONS = {"HTTP/1.1": "1.1", "HTTP/2.0": "2", "HTTP/2": "2", "HTTP/1.0": "1.0"}


def http_version(protocol: object) -> str:
    """ASGI ``http_version`` from an event's ``protocol`` ("HTTP/1.1"); "1.1" when unknown."""
    if type(protocol) is str:
        return HTTP_VERSIONS.get(protocol.strip().upper(), "1.1")
    return "1.1"


SOURCE = HttpApiV2Source()
