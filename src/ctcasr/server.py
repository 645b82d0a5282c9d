"""`ctcasr serve`: a FastAPI app around one model - REST transcription, WebSocket streaming and a web page.

- `POST /v1/transcribe`: a multipart upload (field `file`) or the raw audio as the body, any readable format;
  query parameters `decoder`, `beam`, `alpha`, `beta` and `format` (json | text | srt | vtt | tsv).
- `WS /v1/stream`: a JSON start message `{"type": "start", "sample_rate": 16000}`, then binary frames of 16-bit
  little-endian mono PCM, then `{"type": "stop"}` (or just close). The server sends JSON `partial` and `final`
  events (see `session.StreamEvent`), ends with `{"type": "end", "text": ...}` and closes.
- `GET /healthz`, `GET /docs` (OpenAPI), `GET /` (the page: file upload and live microphone).

Every limit is a `ServerLimits` field with a safe default. Requests never name files on the server: audio comes
in the request, the model and its LM are fixed at start.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Query, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.websockets import WebSocketDisconnect

from ctcasr.errors import UserError, one_line
from ctcasr.schema import limits

log = logging.getLogger("ctcasr.server")
WEB = Path(__file__).with_name("web")
AUDIO_TYPES = ("audio/", "video/", "application/octet-stream", "multipart/form-data", "application/ogg")


@dataclass
class ServerLimits:
    max_upload_bytes: int = field(default=25 * 2**20, metadata=limits(1))  # larger bodies: 413
    max_audio_seconds: float = field(default=600.0, metadata=limits(0, low_open=True))  # longer audio: 413
    max_concurrent: int = field(default=2, metadata=limits(1))  # recognitions running at once (threads)
    max_queue: int = field(default=16, metadata=limits(0))  # waiting beyond the running ones; more: 503
    max_streams: int = field(default=16, metadata=limits(1))  # open WebSocket streams; more: closed (1013)
    request_timeout: float = field(default=60.0, metadata=limits(0, low_open=True))  # body upload + recognition
    idle_timeout: float = field(default=10.0, metadata=limits(0, low_open=True))  # a stream silent this long
    endpoint_seconds: float = field(default=0.8, metadata=limits(0))  # streams: a pause that ends a segment
    api_key: str | None = None  # when set: `Authorization: Bearer KEY`, `X-API-Key: KEY` or `?api_key=KEY`


class Busy(Exception):
    """Every worker is busy and the queue is full."""


class Workers:
    """Recognitions in a bounded thread pool: at most `max_concurrent` run, `max_queue` more wait."""

    def __init__(self, limits: ServerLimits):
        self.pool = ThreadPoolExecutor(limits.max_concurrent, thread_name_prefix="ctcasr")
        self.capacity = limits.max_concurrent + limits.max_queue
        self.admitted = 0

    async def run(self, function, *args):
        """`function(*args)` in a worker thread. A caller that stops waiting (a timeout) does not free the
        place: the recognition still runs, and counts until it ends."""
        if self.admitted >= self.capacity:
            raise Busy()
        self.admitted += 1
        future = self.pool.submit(function, *args)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future) -> None:
        self.admitted -= 1


def _authorised(key: str | None, headers, query) -> bool:
    if not key:
        return True
    offered = headers.get("x-api-key") or query.get("api_key") or ""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        offered = auth[7:].strip()
    return hmac.compare_digest(offered.encode(), key.encode())


class Service:
    """The model, one recognizer per worker thread (each has its own lock, so they decode in parallel), the
    worker pool and the decoders that requests asked for (cached: an LM is loaded once)."""

    def __init__(self, model: str, limits: ServerLimits, device: str, decoding: str | None):
        import threading

        from ctcasr.recognizer import load

        self.model, self.limits = model, limits
        self.recognizers = [load(model, decoding, device=device, verbose=False)
                            for _ in range(limits.max_concurrent)]
        self.first = self.recognizers[0]
        self.free = list(self.recognizers)
        self.lock = threading.Lock()
        self.decoders: dict[tuple, object] = {}
        self.workers = Workers(limits)
        self.open_streams = 0
        self.cannot_stream = streamable_reason(self.first)

    def decoder(self, options: dict):
        key = tuple(sorted(options.items()))
        with self.lock:
            if key not in self.decoders:
                if len(self.decoders) >= 16:
                    self.decoders.pop(next(iter(self.decoders)))
                self.decoders[key] = self.first.decoder_for(**options)
            return self.decoders[key]

    def recognise(self, data: bytes, options: dict, fmt: str):
        """(Transcript, rendered text) of encoded audio; runs in a worker thread."""
        from ctcasr.audio import load_bytes
        from ctcasr.outputs import render

        decoder = self.decoder(options) if options else None
        with self.lock:
            recognizer = self.free.pop()
        try:
            wave = load_bytes(data, recognizer.sample_rate, "request body", self.limits.max_audio_seconds)
            result = recognizer.transcribe(wave, sample_rate=recognizer.sample_rate, decoder=decoder)
            return result, render(result, fmt, with_path=False)
        finally:
            with self.lock:
                self.free.append(recognizer)

    def health(self) -> dict:
        return {"status": "ok", "model": self.model, "runtime": self.first.acoustic.description,
                "streaming": not self.cannot_stream, "sample_rate": self.first.sample_rate,
                "decoder": self.first.config.decoder, "busy": self.workers.admitted, "streams": self.open_streams}


def error(status: int, message: str, request: Request | None = None) -> JSONResponse:
    """A JSON error response, and a log line naming the client."""
    where = f"{request.client.host if request and request.client else '?'} {request.url.path if request else ''}"
    log.warning("%s -> %d: %s", where, status, message)
    return JSONResponse({"error": message}, status_code=status)


async def transcribe_request(service: Service, request: Request, options: dict, fmt: str):
    """POST /v1/transcribe: checks in the order a client can fix them, then one recognition in the pool."""
    from ctcasr.audio import AudioTooLong
    from ctcasr.outputs import FORMATS

    limits = service.limits
    if not _authorised(limits.api_key, request.headers, request.query_params):
        return error(401, "missing or wrong API key", request)
    if fmt not in FORMATS:
        return error(422, f"format must be one of {', '.join(FORMATS)}", request)
    kind = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    if not kind.startswith(AUDIO_TYPES):
        return error(415, f"send audio (a multipart upload or an audio/* body), not {kind}", request)
    declared = request.headers.get("content-length", "")
    too_large = f"the body is larger than the limit of {limits.max_upload_bytes} bytes"
    if declared.isdigit() and int(declared) > limits.max_upload_bytes:
        return error(413, too_large, request)
    started = time.perf_counter()
    try:
        data = await asyncio.wait_for(_read_body(request, kind, limits.max_upload_bytes), limits.request_timeout)
    except asyncio.TimeoutError:
        return error(408, f"the upload took longer than {limits.request_timeout:g} s", request)
    except _TooLarge:
        return error(413, too_large, request)
    except UserError as exc:
        return error(400, one_line(exc), request)
    if not data:
        return error(400, "the body holds no audio (0 bytes)", request)
    try:
        result, text = await asyncio.wait_for(service.workers.run(service.recognise, data, options, fmt),
                                              limits.request_timeout)
    except Busy:
        return error(503, "the server is busy; try again shortly", request)
    except asyncio.TimeoutError:
        return error(504, f"recognition took longer than {limits.request_timeout:g} s", request)
    except AudioTooLong:
        return error(413, f"the audio is longer than the limit of {limits.max_audio_seconds:g} s", request)
    except UserError as exc:
        return error(400, one_line(exc), request)
    log.info("transcribed %.2f s of audio in %.3f s", result.duration, time.perf_counter() - started)
    if fmt == "json":
        return JSONResponse({"text": result.text, "duration": round(result.duration, 3), "decoder": result.decoder,
                             "words": [w.to_dict() for w in result.words],
                             "segments": [s.to_dict() for s in result.segments]})
    return PlainTextResponse(text)


async def stream_request(service: Service, socket: WebSocket) -> None:
    """WS /v1/stream: admission (key, a model that streams, the number of open streams), then the stream."""
    if not _authorised(service.limits.api_key, socket.headers, socket.query_params):
        await socket.close(code=1008, reason="missing or wrong API key")
        return
    await socket.accept()
    if service.cannot_stream:
        await socket.close(code=1003, reason=f"this model cannot stream: {service.cannot_stream}"[:120])
        return
    if service.open_streams >= service.limits.max_streams:
        await socket.close(code=1013, reason="too many open streams; try again shortly")
        return
    service.open_streams += 1
    try:
        await _serve_stream(socket, service.first, service.limits, service.workers)
    except WebSocketDisconnect:
        log.info("stream client left")
    finally:
        service.open_streams -= 1


def create_app(model: str, limits: ServerLimits | None = None, device: str = "cpu", decoding: str | None = None):
    """The app for `model` (a checkpoint, exported folder or registered name)."""
    service = Service(model, limits or ServerLimits(), device, decoding)
    app = FastAPI(title="ctcasr", version=_version(),
                  description=f"CTC speech recognition with {model} ({service.first.acoustic.description})")

    @app.get("/healthz")
    def healthz() -> dict:
        return service.health()

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html")

    @app.get("/recorder.js", include_in_schema=False)
    def worklet() -> FileResponse:
        return FileResponse(WEB / "recorder.js", media_type="text/javascript")

    @app.post("/v1/transcribe")
    async def transcribe(request: Request, decoder: str | None = Query(None, pattern="^(greedy|beam)$"),
                         beam: int | None = Query(None, ge=1, le=256), alpha: float | None = Query(None, ge=0, le=10),
                         beta: float | None = Query(None, ge=-10, le=10), format: str = Query("json")):
        options = {k: v for k, v in {"decoder": decoder, "beam": beam, "alpha": alpha, "beta": beta}.items()
                   if v is not None}
        return await transcribe_request(service, request, options, format)

    @app.websocket("/v1/stream")
    async def stream(socket: WebSocket):
        await stream_request(service, socket)

    return app


class _TooLarge(Exception):
    pass


async def _read_body(request, kind: str, limit: int) -> bytes:
    """The raw body (or the `file` field of a multipart form), refusing more than `limit` bytes as it arrives."""
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UserError("a multipart upload needs its audio in a `file` field")
        data = await upload.read(limit + 1)
    else:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge()
            chunks.append(chunk)
        data = b"".join(chunks)
    if len(data) > limit:
        raise _TooLarge()
    return data


async def _serve_stream(socket, recognizer, limits: ServerLimits, workers: Workers) -> None:
    """One WebSocket stream: start message, PCM frames, events back; a stream gets its own session (the
    acoustic model is shared read-only; its calls run in the worker pool)."""
    try:
        start = json.loads(await asyncio.wait_for(socket.receive_text(), limits.idle_timeout))
    except asyncio.TimeoutError:
        await socket.close(code=1008, reason=f"no start message within {limits.idle_timeout:g} s")
        return
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        await socket.close(code=1003, reason="the first message must be JSON: {\"type\": \"start\", ...}")
        return
    if not isinstance(start, dict) or start.get("type") != "start":
        await socket.close(code=1003, reason="the first message must be {\"type\": \"start\", \"sample_rate\": N}")
        return
    try:
        rate = start.get("sample_rate", recognizer.sample_rate)
        session = recognizer.stream(rate, limits.endpoint_seconds or None)
    except UserError as exc:
        await socket.close(code=1003, reason=one_line(exc)[:120])
        return
    total, max_samples = 0, limits.max_audio_seconds * rate
    while True:
        try:
            message = await asyncio.wait_for(socket.receive(), limits.idle_timeout)
        except asyncio.TimeoutError:
            await socket.close(code=1008, reason=f"no audio for {limits.idle_timeout:g} s")
            return
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            data = message["bytes"]
            if len(data) % 2:
                await socket.close(code=1003, reason="audio frames must be 16-bit PCM (an even number of bytes)")
                return
            total += len(data) // 2
            if total > max_samples:
                await socket.close(code=1009, reason=f"stream longer than {limits.max_audio_seconds:g} s")
                return
            samples = np.frombuffer(data, dtype="<i2")
            try:
                events = await workers.run(session.accept, samples)
            except Busy:
                await socket.close(code=1013, reason="the server is busy; try again shortly")
                return
        elif _is_stop(message.get("text")):
            break
        else:
            await socket.close(code=1003, reason="text messages after start must be {\"type\": \"stop\"}")
            return
        for event in events:
            await socket.send_json(event.to_dict())
    try:
        events = await workers.run(session.finish)
    except Busy:
        events = session.finish()  # the end of a stream is short work; do not lose it
    for event in events:
        await socket.send_json(event.to_dict())
    await socket.send_json({"type": "end", "text": session.text})
    await socket.close(code=1000)


def _is_stop(text: str | None) -> bool:
    try:
        message = json.loads(text or "")
    except json.JSONDecodeError:
        return False
    return isinstance(message, dict) and message.get("type") == "stop"


def streamable_reason(recognizer) -> str:
    """Why `recognizer` cannot stream ("" when it can)."""
    from ctcasr.acoustic import TorchAcoustic
    from ctcasr.streaming import check_streamable

    if not isinstance(recognizer.acoustic, TorchAcoustic):
        return "exported models transcribe whole files; stream with the PyTorch checkpoint"
    try:
        check_streamable(recognizer.model)
    except UserError as exc:
        return str(exc)
    return ""


def _version() -> str:
    from ctcasr import __version__

    return __version__


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, limits: ServerLimits | None = None,
          device: str = "cpu", decoding: str | None = None) -> None:
    import uvicorn

    limits = limits or ServerLimits()
    if limits.max_concurrent > 1:  # each recognition gets its share of the cores
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // limits.max_concurrent))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(model, limits, device, decoding)
    print(f"serving {model} on http://{host}:{port}/ (docs: /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", ws_max_size=2**20, timeout_keep_alive=5)
