"""The notes example (examples/notes) served through LambdaAdapter, on a real DynamoDB API.

DynamoDB is moto's threaded server started by the example's own ``local_dynamodb`` module: a
real HTTP endpoint that the app's boto3 client calls with ``endpoint_url``. A second boto3
client checks what actually landed in the table, independently of the app.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import struct
import sys
import threading
import uuid
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from lambda_asgi import LambdaAdapter, LambdaContext, LifespanError
from lambda_asgi.events import detect_source
from tests.conftest import ROOT
from tests.events import http_api_v2_event

pytest.importorskip("moto.server")
pytest.importorskip("aws_lambda_powertools")

if str(ROOT / "examples") not in sys.path:
    sys.path.insert(0, str(ROOT / "examples"))

from notes import app as notes_app
from notes.local_dynamodb import app_environment, start_local_dynamodb

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def table() -> Iterator[str]:
    """A fresh table in an embedded DynamoDB, with the app's environment pointing at it."""
    name = f"notes-{uuid.uuid4().hex[:8]}"
    local = start_local_dynamodb(name)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", local.endpoint_url)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in app_environment(local.endpoint_url, name).items():
            patch.setenv(key, value)
        notes_app.get_store.cache_clear()
        try:
            yield name
        finally:
            notes_app.get_store.cache_clear()
            local.stop()


@pytest.fixture(scope="module")
def dynamodb(table: str) -> Any:
    """An independent boto3 client on the same endpoint (to check and to make changes)."""
    return boto3.client("dynamodb", endpoint_url=notes_app.get_store().client.meta.endpoint_url)


@pytest.fixture(scope="module")
def adapter(table: str) -> Iterator[LambdaAdapter]:
    handler = LambdaAdapter(notes_app.app)
    yield handler
    handler.shutdown()


@pytest.fixture(autouse=True)
def empty_table(table: str, dynamodb: Any) -> None:
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"id": item["id"]})


def call(adapter: LambdaAdapter, method: str, path: str, query: str = "", **kw: Any) -> Any:
    return adapter(http_api_v2_event(method, path, query, **kw), LambdaContext.local())


def create(adapter: LambdaAdapter, title: str, body: str = "") -> dict[str, Any]:
    payload = json.dumps({"title": title, "body": body})
    response = call(adapter, "POST", "/notes", body=payload, headers=JSON)
    assert response["statusCode"] == 201, response
    note: dict[str, Any] = json.loads(response["body"])
    return note


def test_create_stores_the_note_in_dynamodb(
    adapter: LambdaAdapter, dynamodb: Any, table: str
) -> None:
    payload = json.dumps({"title": "Groceries", "body": "milk, eggs, café"})
    response = call(adapter, "POST", "/notes", body=payload, headers=JSON)

    assert response["statusCode"] == 201
    assert response["isBase64Encoded"] is False
    note = json.loads(response["body"])
    assert re.fullmatch(r"[0-9a-f]{32}", note["id"])
    location = f"https://abc123.execute-api.us-east-1.amazonaws.com/notes/{note['id']}"
    assert response["headers"]["location"] == location
    assert response["headers"]["content-type"] == "application/json"
    assert note["title"] == "Groceries"
    assert note["body"] == "milk, eggs, café"
    assert datetime.fromisoformat(note["created_at"]).utcoffset() is not None
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": note["id"]}})["Item"]
    assert item == {name: {"S": value} for name, value in note.items()}


def test_get_returns_the_stored_note(adapter: LambdaAdapter) -> None:
    note = create(adapter, "Call Bob", "about the roof")
    response = call(adapter, "GET", f"/notes/{note['id']}")
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == note


def test_list_returns_every_note_oldest_first(adapter: LambdaAdapter) -> None:
    empty = call(adapter, "GET", "/notes")
    assert (empty["statusCode"], json.loads(empty["body"])) == (200, {"notes": []})
    created = [create(adapter, f"note {number}") for number in range(4)]

    response = call(adapter, "GET", "/notes")

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"notes": created}


def test_delete_removes_the_note(adapter: LambdaAdapter, dynamodb: Any, table: str) -> None:
    keep = create(adapter, "keep")
    note = create(adapter, "drop")

    response = call(adapter, "DELETE", f"/notes/{note['id']}")

    assert response["statusCode"] == 204
    assert response["body"] == ""
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"id": {"S": note["id"]}})
    assert json.loads(call(adapter, "GET", "/notes")["body"]) == {"notes": [keep]}
    gone = call(adapter, "GET", f"/notes/{note['id']}")
    assert gone["statusCode"] == 404


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_note_is_404(adapter: LambdaAdapter, method: str) -> None:
    response = call(adapter, method, "/notes/no-such-note")
    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {"detail": "note 'no-such-note' not found"}


def test_invalid_note_is_422(adapter: LambdaAdapter, dynamodb: Any, table: str) -> None:
    response = call(adapter, "POST", "/notes", body='{"title": ""}', headers=JSON)
    assert response["statusCode"] == 422
    [error] = json.loads(response["body"])["detail"]
    assert error["loc"] == ["body", "title"]
    assert dynamodb.scan(TableName=table)["Count"] == 0


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """``(width, height, rows)`` of an 8-bit RGB PNG, every chunk CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: list[tuple[bytes, bytes]] = []
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload), f"bad CRC in {kind!r}"
        chunks.append((kind, payload))
        offset += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color_type, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color_type) == (8, 2)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    return width, height, [raw[i : i + stride] for i in range(0, len(raw), stride)]


def test_icon_is_a_valid_png_sent_as_base64(adapter: LambdaAdapter) -> None:
    response = call(adapter, "GET", "/icon.png", "size=5&color=1E90ff")

    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "image/png"
    assert response["headers"]["cache-control"] == "max-age=86400"
    assert response["isBase64Encoded"] is True
    png = base64.b64decode(response["body"])
    assert int(response["headers"]["content-length"]) == len(png)
    width, height, rows = decode_png(png)
    assert (width, height) == (5, 5)
    # Filter type 0, then five dodger-blue pixels, on every row.
    assert rows == [b"\x00" + bytes([0x1E, 0x90, 0xFF]) * 5] * 5
    assert png == notes_app.solid_png(5, 5, bytes.fromhex("1e90ff"))


def test_icon_defaults_and_validation(adapter: LambdaAdapter) -> None:
    response = call(adapter, "GET", "/icon.png")
    width, height, rows = decode_png(base64.b64decode(response["body"]))
    assert (width, height) == (32, 32)
    assert set(rows) == {b"\x00" + bytes.fromhex("ffd54f") * 32}
    for query in ("color=red", "size=0", "size=257"):
        assert call(adapter, "GET", "/icon.png", query)["statusCode"] == 422, query


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Server-Sent Events as dicts (field -> value, ``data`` JSON-decoded); comments dropped."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = json.loads(value) if name == "data" else value
        if fields:
            events.append(fields)
    assert text.endswith("\n\n")
    return events


def test_events_in_a_buffered_invocation_are_a_clear_error(adapter: LambdaAdapter) -> None:
    response = call(adapter, "GET", "/notes/events", "timeout=5")
    assert response["statusCode"] == 500
    assert response["headers"]["content-type"] == "application/json"
    message = json.loads(response["body"])["message"]
    assert "text/event-stream" in message
    assert "RESPONSE_STREAM" in message


def test_events_stream_through_the_adapter(
    adapter: LambdaAdapter, dynamodb: Any, table: str
) -> None:
    first = create(adapter, "already there")
    event = http_api_v2_event("GET", "/notes/events", "limit=2&interval=0.05&timeout=30")
    invocation = adapter.invoke(event, LambdaContext.local(), stream=True)
    response = invocation.streamed
    assert response is not None and response.stream is not None
    assert response.status == 200
    assert dict(response.headers)[b"content-type"] == b"text/event-stream; charset=utf-8"
    chunks = iter(response.stream)
    # The snapshot came with the response start, so the changes below happen after it,
    # written by another client as another Lambda sandbox would.
    [snapshot] = parse_sse(response.body.decode())
    assert snapshot == {"event": "snapshot", "data": {"notes": [first]}}

    new = {"id": "n2", "title": "written elsewhere", "body": "", "created_at": "2030-01-01"}
    dynamodb.put_item(TableName=table, Item={k: {"S": v} for k, v in new.items()})
    assert parse_sse(next(chunks).decode()) == [{"event": "created", "id": "1", "data": new}]
    dynamodb.delete_item(TableName=table, Key={"id": {"S": first["id"]}})
    assert parse_sse(next(chunks).decode()) == [
        {"event": "deleted", "id": "2", "data": {"id": first["id"]}}
    ]
    rest = parse_sse(b"".join(chunks).decode())
    assert rest == [{"event": "end", "data": {"reason": "limit", "changes": 2}}]
    invocation.finish()


def test_events_served_by_httpx_asgi_transport(
    adapter: LambdaAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = create(adapter, "already there")
    store = notes_app.get_store()
    snapshot_taken = threading.Event()
    list_all = store.list_all

    def spy() -> list[Any]:
        notes = list_all()
        snapshot_taken.set()
        return notes

    monkeypatch.setattr(store, "list_all", spy)

    async def scenario() -> tuple[httpx.Response, dict[str, Any]]:
        transport = httpx.ASGITransport(app=notes_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notes") as client:

            async def change() -> dict[str, Any]:
                await asyncio.to_thread(snapshot_taken.wait, 10)
                created = await client.post("/notes", json={"title": "while streaming"})
                assert (await client.delete(f"/notes/{first['id']}")).status_code == 204
                note: dict[str, Any] = created.json()
                return note

            query = {"limit": "2", "interval": "0.05", "timeout": "30"}
            return await asyncio.gather(client.get("/notes/events", params=query), change())

    response, second = asyncio.run(scenario())

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    events = parse_sse(response.text)
    assert events[0] == {"event": "snapshot", "data": {"notes": [first]}}
    # Both changes may land within one poll; each is reported once, with ids in order.
    changes = sorted(events[1:3], key=lambda e: e["event"])
    assert changes[0]["event"] == "created" and changes[0]["data"] == second
    assert changes[1]["event"] == "deleted" and changes[1]["data"] == {"id": first["id"]}
    assert sorted(e["id"] for e in changes) == ["1", "2"]
    assert events[3:] == [{"event": "end", "data": {"reason": "limit", "changes": 2}}]


def test_events_end_after_the_timeout(adapter: LambdaAdapter) -> None:
    transport = httpx.ASGITransport(app=notes_app.app)

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://notes") as client:
            return await client.get("/notes/events", params={"timeout": "0.2", "interval": "0.05"})

    events = parse_sse(asyncio.run(fetch()).text)
    assert events == [
        {"event": "snapshot", "data": {"notes": []}},
        {"event": "end", "data": {"reason": "timeout", "changes": 0}},
    ]


def test_powertools_logs_and_metrics_per_request(
    adapter: LambdaAdapter, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Powertools' handler keeps the stdout it found at import: give it one to read back.
    log_stream = io.StringIO()
    monkeypatch.setattr(notes_app.logger.registered_handler, "stream", log_stream)
    capsys.readouterr()
    event = http_api_v2_event("POST", "/notes", body='{"title": "logged"}', headers=JSON)
    event["requestContext"]["requestId"] = "req-from-api-gateway"
    context = LambdaContext.local()
    note = json.loads(adapter(event, context)["body"])
    call(adapter, "DELETE", f"/notes/{note['id']}")

    created, deleted = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert created["message"] == "note created"
    assert created["note_id"] == note["id"]
    assert created["service"] == "notes"
    assert created["correlation_id"] == "req-from-api-gateway"
    assert created["function_request_id"] == context.aws_request_id
    # Per-request keys are replaced, not carried into the next request's lines.
    assert deleted["message"] == "note deleted"
    assert deleted["correlation_id"] == "JKJaXmPLvHcESHA="
    assert deleted["function_request_id"] != context.aws_request_id

    # Metrics are flushed as CloudWatch EMF on stdout after each request.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    emf = [line for line in emf if "ColdStart" not in line]  # when this test runs first
    assert [line.get("NoteCreated") or line.get("NoteDeleted") for line in emf] == [[1.0]] * 2
    for line, name in zip(emf, ["NoteCreated", "NoteDeleted"], strict=True):
        [metric_info] = line["_aws"]["CloudWatchMetrics"]
        assert metric_info["Namespace"] == "LambdaAsgiNotes"
        assert metric_info["Metrics"] == [{"Name": name, "Unit": "Count"}]


def test_missing_table_fails_the_init_with_its_message(
    monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    monkeypatch.delenv("NOTES_TABLE")
    notes_app.get_store.cache_clear()
    try:
        with pytest.raises(LifespanError, match="NOTES_TABLE is not set"):
            LambdaAdapter(notes_app.app)
    finally:
        notes_app.get_store.cache_clear()


SAMPLES = ROOT / "events"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return event


def proxy_response(response: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a response in any source's format."""
    if "status" in response:  # Lambda@Edge
        status = int(response["status"])
        headers = {name: entries[0]["value"] for name, entries in response["headers"].items()}
        is_base64 = response.get("bodyEncoding") == "base64"
    else:
        status = response["statusCode"]
        headers = response.get("headers") or {
            name: ",".join(values) for name, values in response["multiValueHeaders"].items()
        }
        is_base64 = response["isBase64Encoded"]
    body = response.get("body", "")
    return status, headers, base64.b64decode(body) if is_base64 else body.encode()


# The file name's prefix says which event source the sample is of.
SOURCE_OF_PREFIX = {
    "http-api-v2": "http-api-v2",
    "function-url": "function-url",
    "rest-v1": "apigw-rest-v1",
    "alb": "alb",
    "lattice-v1": "vpc-lattice-v1",
    "lattice-v2": "vpc-lattice-v2",
    "lambda-edge": "lambda-at-edge",
}


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_sample_event_is_of_the_source_its_name_says(path: Path) -> None:
    [prefix] = [p for p in SOURCE_OF_PREFIX if path.name.startswith(p + "-")]
    assert detect_source(json.loads(path.read_text())).name == SOURCE_OF_PREFIX[prefix]


def test_samples_cover_every_source() -> None:
    prefixes = {p for p in SOURCE_OF_PREFIX if any(SAMPLES.glob(f"{p}-*.json"))}
    assert prefixes == set(SOURCE_OF_PREFIX)
    assert list(SAMPLES.glob("alb-multivalue-*.json"))


@pytest.mark.parametrize(
    ("name", "url_prefix"),
    [
        # REST API: the stage is part of the URL the client must use.
        ("rest-v1-create-note", "https://k3x9q2w1z0.execute-api.us-east-1.amazonaws.com/prod"),
        (
            "lattice-v2-create-note",
            "https://notes-svc-0a40eebed65f8d69c.7d67968.vpc-lattice-svcs.us-east-1.on.aws",
        ),
    ],
)
def test_sample_create_events(
    adapter: LambdaAdapter, dynamodb: Any, table: str, name: str, url_prefix: str
) -> None:
    event = sample(name)
    raw = event["body"]
    sent = json.loads(base64.b64decode(raw) if event.get("isBase64Encoded") else raw)

    status, headers, body = proxy_response(adapter(event, LambdaContext.local()))

    assert status == 201
    note = json.loads(body)
    assert (note["title"], note["body"]) == (sent["title"], sent["body"])
    assert headers["location"] == f"{url_prefix}/notes/{note['id']}"
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": note["id"]}})["Item"]


@pytest.mark.parametrize("name", ["alb-multivalue-list-notes", "lattice-v1-list-notes"])
def test_sample_list_events(adapter: LambdaAdapter, name: str) -> None:
    notes = [create(adapter, "first"), create(adapter, "second")]
    status, headers, body = proxy_response(adapter(sample(name), LambdaContext.local()))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"notes": notes}


@pytest.mark.parametrize("name", ["alb-icon", "lambda-edge-origin-request-icon"])
def test_sample_icon_events(adapter: LambdaAdapter, name: str) -> None:
    event = sample(name)
    request = event["Records"][0]["cf"]["request"] if "Records" in event else event
    query = request.get("queryStringParameters") or dict(
        pair.split("=") for pair in request["querystring"].split("&")
    )
    size, color = int(query["size"]), bytes.fromhex(query["color"])

    status, headers, body = proxy_response(adapter(event, LambdaContext.local()))

    assert status == 200
    assert headers["content-type"] == "image/png"
    assert decode_png(body) == (size, size, [b"\x00" + color * size] * size)
