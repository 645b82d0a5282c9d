"""`ctcasr serve` as a real subprocess on a free loopback port: REST and WebSocket round trips equal to the
CLI, every limit, bad input, and a short load test."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
websockets = pytest.importorskip("websockets.sync.client")
from conftest import REPO, run_cli  # noqa: E402
from test_streaming import tiny_streaming_model  # noqa: E402
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(model, *flags: str):
    port = free_port()
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below; a file, not a pipe that fills and blocks
    process = subprocess.Popen([sys.executable, "-m", "ctcasr.cli", "serve", "--model", str(model), "--port",
                                str(port), *flags], stdout=log, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(log.read())
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def post(url: str, data: bytes, content_type: str = "audio/flac", headers: dict | None = None,
         timeout: float = 120) -> tuple[int, dict | str]:
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body, status = response.read().decode(), response.status
    except urllib.error.HTTPError as error:
        body, status = error.read().decode(), error.code
    try:
        return status, json.loads(body)
    except json.JSONDecodeError:
        return status, body


def multipart(field: str, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "ctcasr-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The shipped streaming model when it is there, else a tiny untrained streamable one (same protocol)."""
    shipped = REPO / "models" / "an4_stream.pt"
    if shipped.is_file():
        return shipped
    from ctcasr.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("serve") / "tiny_stream.pt"
    save_checkpoint(path, tiny_streaming_model("model.lookahead=2"))
    return path


@pytest.fixture(scope="module")
def running(model):
    with server(model, "--max-upload-mb", "1", "--max-audio-seconds", "12", "--idle-timeout", "2",
                "--request-timeout", "5", "--max-concurrent", "2", "--max-queue", "64") as url:
        yield url


def cli_text(model, path: str) -> str:
    result = run_cli("transcribe", "--model", model, "--format", "json", path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["text"]


def stream(url: str, pcm: bytes, rate: int = 16000, piece: int = 3200, realtime: bool = False) -> list[dict]:
    events = []
    with websockets.connect(url.replace("http", "ws") + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": rate}))
        for i in range(0, len(pcm), piece):
            ws.send(pcm[i:i + piece])
            if realtime:
                time.sleep(piece / 2 / rate)
        ws.send(json.dumps({"type": "stop"}))
        with contextlib.suppress(ConnectionClosedOK):
            while True:
                events.append(json.loads(ws.recv(timeout=60)))
    return events


def pcm16(path: str, rate: int = 16000) -> bytes:
    from ctcasr.audio import load

    return (np.clip(load(path, rate), -1, 1) * 32767).astype("<i2").tobytes()


def test_rest_round_trips_equal_the_cli(running, model, an4_items):
    path = an4_items["test"][0].audio_filepath
    expected = cli_text(model, path)
    data = Path(path).read_bytes()
    status, body = post(running + "/v1/transcribe", data)
    assert status == 200 and body["text"] == expected and body["duration"] > 0
    assert all({"word", "start", "end", "confidence"} <= set(w) for w in body["words"])
    status, body = post(running + "/v1/transcribe", *multipart("file", "a.flac", data))
    assert status == 200 and body["text"] == expected
    status, srt = post(running + "/v1/transcribe?format=srt", data)
    assert status == 200 and (not expected or "-->" in srt)
    status, body = post(running + "/v1/transcribe?decoder=greedy&beam=3", data)
    assert status == 200 and body["decoder"] == "greedy"
    health = json.loads(urllib.request.urlopen(running + "/healthz").read())
    assert health["status"] == "ok" and health["streaming"] is True
    page = urllib.request.urlopen(running + "/").read().decode()
    assert "getUserMedia" in page and "/v1/stream" in page
    assert "/v1/transcribe" in json.loads(urllib.request.urlopen(running + "/openapi.json").read())["paths"]


def test_websocket_stream_equals_the_offline_transcript(running, model, an4_items):
    path = an4_items["test"][1].audio_filepath
    events = stream(running, pcm16(path))
    assert events[-1]["type"] == "end"
    finals = [e for e in events if e["type"] == "final"]
    assert " ".join(e["text"] for e in finals if e["text"]) == events[-1]["text"]
    from ctcasr import load

    expected = load(model).stream(endpoint_seconds=0.8)
    for i in range(0, len(pcm16(path)) // 2, 1600):
        expected.accept(np.frombuffer(pcm16(path), "<i2")[i:i + 1600])
    expected.finish()
    assert events[-1]["text"] == expected.text


def test_limits(running, an4_items, tmp_path):
    import soundfile as sf

    from ctcasr.audio import load

    short = load(an4_items["test"][0].audio_filepath, 16000)
    long = np.tile(short, int(13 / (short.size / 16000)) + 1)  # > 12 s, < 1 MB as FLAC
    sf.write(tmp_path / "long.flac", long, 16000)
    data = (tmp_path / "long.flac").read_bytes()
    assert len(data) < 2**20
    status, body = post(running + "/v1/transcribe", data)
    assert status == 413 and "longer than" in body["error"]
    # refused on its declared length, before any of it is read: the body is never sent, since a client still
    # sending it when the server answers and closes may see a broken pipe instead of the answer
    host, port = running.removeprefix("http://").split(":")
    big = http.client.HTTPConnection(host, int(port), timeout=30)
    big.putrequest("POST", "/v1/transcribe")
    big.putheader("Content-Type", "audio/wav")
    big.putheader("Content-Length", str(2**20 + 10))
    big.endheaders()
    response = big.getresponse()
    assert response.status == 413 and "larger than" in json.loads(response.read())["error"]
    big.close()


def test_bad_input_gets_clean_4xx_and_the_server_keeps_serving(running, model, an4_items):
    url = running + "/v1/transcribe"
    assert post(url, b"garbage bytes, not audio" * 10, "audio/wav")[0] == 400
    assert post(url, b"", "audio/wav")[0] == 400
    assert post(url, b"{}", "application/json")[0] == 415
    assert post(url + "?format=docx", b"x", "audio/wav")[0] == 422
    assert post(url, *multipart("other", "a.flac", b"abc"))[0] == 400
    # a slow client: announces a body and trickles it
    host, port = running.removeprefix("http://").split(":")
    slow = http.client.HTTPConnection(host, int(port), timeout=30)
    slow.putrequest("POST", "/v1/transcribe")
    slow.putheader("Content-Type", "audio/wav")
    slow.putheader("Content-Length", "100000")
    slow.endheaders()
    started = time.time()
    with contextlib.suppress(ConnectionError):  # the server may close while we still trickle
        for _ in range(14):
            slow.send(b"RIFF")
            time.sleep(0.5)
    assert slow.getresponse().status == 408 and time.time() - started < 15
    # WebSocket: no start message, a silly rate, odd bytes, a client that leaves mid-stream
    with websockets.connect(running.replace("http", "ws") + "/v1/stream") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1008 and "start message" in closed.value.rcvd.reason
    for start, frame, code in (({"type": "start", "sample_rate": 3}, None, 1003),
                               ({"type": "start", "sample_rate": 16000}, b"\x00\x01\x02", 1003),
                               ({"type": "hello"}, None, 1003)):
        with websockets.connect(running.replace("http", "ws") + "/v1/stream") as ws:
            ws.send(json.dumps(start))
            if frame:
                ws.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd.code == code
    with websockets.connect(running.replace("http", "ws") + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        ws.send(pcm16(an4_items["test"][2].audio_filepath)[:8000])
    path = an4_items["test"][0].audio_filepath
    assert post(url, Path(path).read_bytes())[1]["text"] == cli_text(model, path)


def test_busy_server_answers_503_and_api_key_401(model, an4_items):
    data = Path(an4_items["test"][0].audio_filepath).read_bytes()
    with server(model, "--max-concurrent", "1", "--max-queue", "0", "--api-key", "s3cret") as url:
        assert post(url + "/v1/transcribe", data)[0] == 401
        assert post(url + "/v1/transcribe", data, headers={"X-API-Key": "wrong"})[0] == 401
        assert post(url + "/v1/transcribe", data, headers={"Authorization": "Bearer s3cret"})[0] == 200
        slow = url + "/v1/transcribe?decoder=beam&beam=256"
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: post(slow, data, headers={"X-API-Key": "s3cret"})[0], range(8)))
        assert 503 in statuses and 200 in statuses and set(statuses) <= {200, 503}


def test_short_load(running, model, an4_items):
    """16 concurrent clients, two AN4 files each: every answer equals the CLI transcript."""
    items = an4_items["test"][:8]
    expected = {u.audio_filepath: cli_text(model, u.audio_filepath) for u in items}
    jobs = [items[i % len(items)].audio_filepath for i in range(32)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda p: post(running + "/v1/transcribe", Path(p).read_bytes()), jobs))
    assert all(status == 200 for status, _ in answers)
    assert [body["text"] for _, body in answers] == [expected[p] for p in jobs]
