"""The notes example: a FastAPI API on DynamoDB, served on Lambda by lambda-asgi.

Routes:
    POST   /notes               create a note from ``{"title": ..., "body": ...}`` (201)
    GET    /notes               list the notes, oldest first
    GET    /notes/events        Server-Sent Events: a snapshot, then note changes as they
                                happen (``?limit=`` changes, ``?timeout=`` seconds, then it ends)
    GET    /notes/{note_id}     one note (404 when there is none)
    DELETE /notes/{note_id}     delete a note (204; 404 when there is none)
    GET    /icon.png            a binary response: a solid square PNG (``?size=&color=``)

Configuration (environment): ``NOTES_TABLE`` (required), ``DYNAMODB_ENDPOINT_URL`` (a local
DynamoDB such as the embedded moto server of ``local_dynamodb.py``; unset in AWS),
``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE``.

This module is self-contained (no relative imports) because it is imported under two names:
``app`` in the deployment package, whose root is this folder (``LAMBDA_ASGI_APP=app:app``),
and ``notes.app`` from a checkout with ``examples/`` on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "notes")

# Powertools' documented setup: one Logger, Metrics and Tracer per module, created at import
# (the init phase). The Tracer patches boto3 so DynamoDB calls become X-Ray subsegments; it
# turns itself off outside Lambda (or with POWERTOOLS_TRACE_DISABLED=true).
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LambdaAsgiNotes"), service=SERVICE
)
tracer = Tracer(service=SERVICE)


class NoteIn(BaseModel):
    """The body of ``POST /notes``."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)


class Note(NoteIn):
    """A stored note."""

    id: str
    created_at: str


class NoteList(BaseModel):
    """The body of ``GET /notes``."""

    notes: list[Note]


class NoteStore:
    """Notes in one DynamoDB table (partition key ``id``, a string), through boto3."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    @classmethod
    def from_env(cls) -> NoteStore:
        """The store configured by ``NOTES_TABLE`` and ``DYNAMODB_ENDPOINT_URL``."""
        table = os.environ.get("NOTES_TABLE", "")
        if not table:
            raise RuntimeError(
                "NOTES_TABLE is not set: set it to the name of the DynamoDB table of notes "
                "(template.yaml does; locally, local_dynamodb.app_environment() gives it)."
            )
        endpoint = os.environ.get("DYNAMODB_ENDPOINT_URL") or None
        return cls(table, boto3.client("dynamodb", endpoint_url=endpoint))

    @tracer.capture_method
    def create(self, note: NoteIn) -> Note:
        """Store a new note and return it."""
        stored = Note(
            id=uuid.uuid4().hex,
            created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            title=note.title,
            body=note.body,
        )
        self.client.put_item(
            TableName=self.table,
            Item=_to_item(stored),
            # Ids are random; the condition makes a collision an error, not an overwrite.
            ConditionExpression="attribute_not_exists(id)",
        )
        return stored

    @tracer.capture_method
    def list_all(self) -> list[Note]:
        """Every note, oldest first (a paginated Scan: fine for an example's table)."""
        notes: list[Note] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            notes.extend(_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        notes.sort(key=lambda note: (note.created_at, note.id))
        return notes

    @tracer.capture_method
    def get(self, note_id: str) -> Note | None:
        """The note ``note_id``, or None."""
        item = self.client.get_item(
            TableName=self.table, Key={"id": {"S": note_id}}, ConsistentRead=True
        ).get("Item")
        return _from_item(item) if item else None

    @tracer.capture_method
    def delete(self, note_id: str) -> bool:
        """Delete the note ``note_id``; whether it existed."""
        old = self.client.delete_item(
            TableName=self.table, Key={"id": {"S": note_id}}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in old


def _to_item(note: Note) -> dict[str, Any]:
    return {name: {"S": value} for name, value in note.model_dump().items()}


def _from_item(item: dict[str, Any]) -> Note:
    return Note(**{name: value["S"] for name, value in item.items()})


@lru_cache(maxsize=1)
def get_store() -> NoteStore:
    """The process-wide store, built on first use (the boto3 client is reused while warm)."""
    return NoteStore.from_env()


Store = Annotated[NoteStore, Depends(get_store)]


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # lambda-asgi runs the lifespan in Lambda's init phase: build the client there, so a
    # missing NOTES_TABLE fails the init with its message instead of the first request.
    get_store()
    yield


class PowertoolsContext:
    """ASGI middleware doing per request what Powertools' handler decorators do per event.

    With ``Handler: lambda_asgi.handler`` there is no handler function of ours to decorate,
    so this adds the Lambda request id and cold start to every log line, uses the API's
    request id as correlation id, records the ColdStart metric and flushes metrics once the
    response is complete (Powertools documents ``flush_metrics()`` for this case).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cold_start = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        event = scope.get("aws.event") or {}
        context = scope.get("aws.context")
        logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
        if context is not None:
            logger.append_keys(
                function_request_id=context.aws_request_id, cold_start=self.cold_start
            )
            if self.cold_start:
                metrics.provider.add_cold_start_metric(context)
            self.cold_start = False
        try:
            await self.app(scope, receive, send)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()
            logger.remove_keys(["function_request_id", "cold_start"])
            logger.set_correlation_id(None)


app = FastAPI(title="notes", lifespan=lifespan)
app.add_middleware(PowertoolsContext)


@app.post("/notes", status_code=201)
def create_note(note: NoteIn, store: Store, request: Request, response: Response) -> Note:
    """Create a note; ``Location`` is its URL (with the API stage or base path, if any)."""
    stored = store.create(note)
    response.headers["location"] = str(request.url_for("get_note", note_id=stored.id))
    logger.info("note created", note_id=stored.id)
    metrics.add_metric(name="NoteCreated", unit=MetricUnit.Count, value=1)
    return stored


@app.get("/notes")
def list_notes(store: Store) -> NoteList:
    """All notes, oldest first."""
    return NoteList(notes=store.list_all())


@app.get("/notes/events")
async def note_events(
    store: Store,
    limit: Annotated[int, Query(ge=1, le=1000, description="changes to send, then end")] = 100,
    timeout: Annotated[float, Query(gt=0, le=900, description="seconds, then end")] = 25.0,
    interval: Annotated[float, Query(ge=0.05, le=60, description="poll period, s")] = 1.0,
) -> StreamingResponse:
    """Server-Sent Events: ``snapshot`` (every note), then ``created``/``deleted`` events.

    Changes are found by polling the table, so they are seen whichever Lambda sandbox made
    them. The stream always ends, with an ``end`` event, after ``limit`` changes or
    ``timeout`` seconds: a streamed Lambda invocation is bounded by the function timeout.
    Needs response streaming (a Function URL in RESPONSE_STREAM mode); a buffered invocation
    answers 500 with an explanation.
    """

    async def events() -> AsyncIterator[bytes]:
        known = {note.id: note for note in await run_in_threadpool(store.list_all)}
        yield sse_event("snapshot", {"notes": [note.model_dump() for note in known.values()]})
        sent = 0
        reason = "limit"
        deadline = time.monotonic() + timeout
        last_write = time.monotonic()
        while sent < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = "timeout"
                break
            await asyncio.sleep(min(interval, remaining))
            current = {note.id: note for note in await run_in_threadpool(store.list_all)}
            changes = [("created", n.model_dump()) for i, n in current.items() if i not in known]
            changes += [("deleted", {"id": i}) for i in known if i not in current]
            for kind, data in changes[: limit - sent]:
                sent += 1
                last_write = time.monotonic()
                yield sse_event(kind, data, event_id=str(sent))
            if time.monotonic() - last_write >= KEEPALIVE_SECONDS:
                # A comment line: keeps proxies from closing an idle connection.
                last_write = time.monotonic()
                yield b": keep-alive\n\n"
            known = current
        yield sse_event("end", {"reason": reason, "changes": sent})

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


KEEPALIVE_SECONDS = 15.0


def sse_event(event: str, data: object, *, event_id: str | None = None) -> bytes:
    """One Server-Sent Events message with JSON ``data`` (JSON has no raw newlines)."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data)}")
    return ("\n".join(lines) + "\n\n").encode()


@app.get("/notes/{note_id}")
def get_note(note_id: str, store: Store) -> Note:
    """One note."""
    note = store.get(note_id)
    if note is None:
        raise HTTPException(status_code=404, detail=f"note {note_id!r} not found")
    return note


@app.delete("/notes/{note_id}", status_code=204)
def delete_note(note_id: str, store: Store) -> Response:
    """Delete a note."""
    if not store.delete(note_id):
        raise HTTPException(status_code=404, detail=f"note {note_id!r} not found")
    logger.info("note deleted", note_id=note_id)
    metrics.add_metric(name="NoteDeleted", unit=MetricUnit.Count, value=1)
    return Response(status_code=204)


_COLOR = re.compile(r"[0-9a-fA-F]{6}")


@app.get("/icon.png", response_class=Response)
def icon(
    size: Annotated[int, Query(ge=1, le=256)] = 32,
    color: Annotated[str, Query(pattern=_COLOR.pattern)] = "ffd54f",
) -> Response:
    """A ``size`` x ``size`` PNG of one ``color`` (hex RGB): binary data through Lambda."""
    png = solid_png(size, size, bytes.fromhex(color))
    return Response(png, media_type="image/png", headers={"cache-control": "max-age=86400"})


def solid_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit RGB PNG of ``width`` x ``height`` pixels, all ``rgb`` (3 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    # Each scanline starts with its filter type; 0 = None.
    raw = (b"\x00" + rgb * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
