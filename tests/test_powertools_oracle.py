"""Powertools' event data classes as an independent oracle, on every HTTP event of the corpus.

For each event, the scope's method, path, decoded query parameters, headers and body agree
with what ``aws_lambda_powertools.utilities.data_classes`` reads from the same event. The
deliberate differences are commented where they are allowed for. Lambda@Edge events are not
here: Powertools has no data class for them (tests/test_corpus.py checks them).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    ALBEvent,
    APIGatewayProxyEvent,
    APIGatewayProxyEventV2,
    LambdaFunctionUrlEvent,
    VPCLatticeEvent,
    VPCLatticeEventV2,
)

from lambda_asgi import InvalidEventError
from lambda_asgi.config import AdapterConfig
from lambda_asgi.events import detect_source

from .conftest import corpus_entries
from .events import grouped

DATA_CLASSES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "apigw-rest-v1": APIGatewayProxyEvent,
    "alb": ALBEvent,
    "http-api-v2": APIGatewayProxyEventV2,
    "function-url": LambdaFunctionUrlEvent,
    "vpc-lattice-v1": VPCLatticeEvent,
    "vpc-lattice-v2": VPCLatticeEventV2,
}
KINDS = (*DATA_CLASSES, "alb-multivalue")


def as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def powertools_query(kind: str, pt: Any) -> dict[str, list[str]]:
    """Decoded query parameters as Powertools reads them.

    Deliberate difference: Powertools' ``resolved_query_string_parameters`` splits
    single-value parameters on commas; a comma inside a value is data, so we read the raw
    single- and multi-value properties instead and merge them the way Powertools does
    (multi-value first, single-value fills missing keys).
    """
    if kind in ("http-api-v2", "function-url"):
        # Deliberate difference: payload 2.0's queryStringParameters joins repeats with commas
        # (ambiguous with a comma in a value) and several hand-made fixtures disagree with
        # rawQueryString; the scope carries rawQueryString, the client's exact bytes.
        return grouped(parse_qsl(pt.raw_query_string, keep_blank_values=True))
    if kind == "vpc-lattice-v2":
        # Powertools joins v2's list values with commas; the lists are in the event.
        raw = pt.get("queryStringParameters") or pt.get("query_string_parameters") or {}
        return {k: as_list(v) for k, v in raw.items()}
    if kind == "vpc-lattice-v1":
        return {k: [v] for k, v in (pt.query_string_parameters or {}).items()}
    single = {k: [v] for k, v in pt.query_string_parameters.items()}
    # as_list: a few hand-made fixtures put a bare string in the multi-value map.
    multi = {k: as_list(v) for k, v in pt.multi_value_query_string_parameters.items()}
    merged = {**single, **multi}
    if kind.startswith("alb"):
        # ALB leaves query values percent-encoded (Powertools' decode_query_parameters is off
        # by default); the scope's query string is parsed decoded, so decode these too.
        return {
            unquote(k.replace("+", " ")): [unquote(v.replace("+", " ")) for v in vs]
            for k, vs in merged.items()
        }
    return merged


def powertools_headers(kind: str, pt: Any) -> dict[str, list[str]]:
    """Header values by lower-cased name as Powertools reads them."""
    if kind in ("apigw-rest-v1", "alb", "alb-multivalue"):
        # Deliberate difference: Powertools reads multiValueHeaders OR headers; we read both
        # (a name only in the single-value map is kept), so compare the names Powertools has.
        source = pt.multi_value_headers or pt.headers
    else:
        source = pt.headers
    result: dict[str, list[str]] = {}
    for name, values in (source or {}).items():
        result.setdefault(name.lower(), []).extend(as_list(values))
    return result


def powertools_body(pt: Any, kind: str) -> bytes:
    """The body bytes. Powertools' ``decoded_body`` is text; ours are bytes (binary bodies)."""
    flagged = pt.get("is_base64_encoded") if kind == "vpc-lattice-v1" else pt.is_base64_encoded
    if flagged and pt.body:
        return base64.b64decode(pt.body)
    return (pt.body or "").encode()


@pytest.mark.parametrize(("entry", "event"), corpus_entries(*KINDS))
def test_scope_agrees_with_powertools(entry: dict[str, Any], event: dict[str, Any]) -> None:
    kind = entry["kind"]
    pt = DATA_CLASSES["alb" if kind == "alb-multivalue" else kind](event)
    try:
        source = detect_source(event)
        scope, body = source.to_scope(event, None, AdapterConfig.build())
    except InvalidEventError as exc:
        # Bodies flagged base64 that are not: Powertools cannot decode them either.
        assert "base64" in str(exc)
        with pytest.raises((binascii.Error, ValueError)):
            base64.b64decode(pt.body)
        return
    except ValueError:
        # The one invalid/ fixture without rawPath: Powertools cannot read a path either.
        assert "invalid/" in entry["file"]
        with pytest.raises(KeyError):
            _ = pt.raw_path
        return

    assert scope["method"] == pt.http_method.upper()

    # Path. Deliberate differences: the scope path is decoded (Powertools keeps REST/ALB/
    # Lattice/Function URL paths encoded) and includes root_path (ASGI), where Powertools'
    # REST path omits the stage or custom-domain mapping and its v2 path omits the stage.
    # HTTP API 2.0 sends rawPath already decoded (a "%" in it is a literal percent sign).
    pt_path = pt.raw_path if kind in ("http-api-v2", "function-url") else pt.path
    pt_path = pt_path if pt_path.startswith("/") else "/" + (pt_path or "")
    pt_path = pt_path if kind == "http-api-v2" else unquote(pt_path)
    assert scope["path"].endswith(pt_path)
    assert scope["path"][: len(scope["path"]) - len(pt_path)] in ("", scope["root_path"])

    query = grouped(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    assert query == {k: v for k, v in powertools_query(kind, pt).items() if v}

    headers = grouped([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
    for name, values in powertools_headers(kind, pt).items():
        if name == "cookie":
            # Deliberate difference: several Cookie headers become ONE, joined with "; ".
            assert headers["cookie"] == ["; ".join(values)]
        else:
            assert headers[name] == values, name
    if kind in ("http-api-v2", "function-url") and pt.cookies:
        # Payload 2.0 carries cookies in cookies[]; they become the Cookie header.
        assert headers["cookie"] == ["; ".join(pt.cookies)]

    assert body == powertools_body(pt, kind)
