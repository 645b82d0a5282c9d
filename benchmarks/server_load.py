"""`ctcasr serve` under load on loopback: 16 and 64 concurrent REST clients sending AN4 test files (every answer
checked against the CLI transcript), then 8 WebSocket streams sending AN4 files in real time at once.

    python benchmarks/server_load.py [--model models/an4_stream.pt] [--requests 256]

Writes results/server_load.json: per concurrency p50/p95 latency, requests/s, wrong answers; per stream the lag
of its final result after the end of its audio (a stream keeps up when the lag stays small).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_server import cli_text, pcm16, post, server  # noqa: E402
from websockets.exceptions import ConnectionClosedOK  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from ctcasr.data.manifest import read_manifest  # noqa: E402
from ctcasr.files import write_json  # noqa: E402
from ctcasr.provenance import stamp  # noqa: E402


def rest_load(url: str, files: list[str], expected: dict[str, str], clients: int, requests: int) -> dict:
    jobs = [files[i % len(files)] for i in range(requests)]
    data = {f: Path(f).read_bytes() for f in files}

    def one(path: str) -> tuple[float, bool, int]:
        started = time.perf_counter()
        status, body = post(url + "/v1/transcribe", data[path], timeout=600)
        return time.perf_counter() - started, status == 200 and body["text"] == expected[path], status

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, jobs))
    wall = time.perf_counter() - started
    latencies = [r[0] for r in results]
    return {"clients": clients, "requests": requests, "wall_s": round(wall, 2),
            "requests_per_s": round(requests / wall, 2), "p50_s": round(float(np.percentile(latencies, 50)), 3),
            "p95_s": round(float(np.percentile(latencies, 95)), 3), "wrong_or_failed": sum(not r[1] for r in results),
            "statuses": sorted({r[2] for r in results})}


def realtime_stream(url: str, path: str) -> dict:
    pcm = pcm16(path)
    piece = 3200  # 100 ms of 16-bit PCM at 16 kHz
    with connect(url.replace("http", "ws") + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        started = time.perf_counter()
        for i in range(0, len(pcm), piece):
            time.sleep(max(0.0, (i + piece) / 32000 - (time.perf_counter() - started)))
            ws.send(pcm[i:i + piece])
        audio_end = time.perf_counter()
        ws.send(json.dumps({"type": "stop"}))
        text = None
        try:
            while True:
                event = json.loads(ws.recv(timeout=60))
                if event["type"] == "end":
                    text = event["text"]
        except ConnectionClosedOK:
            pass
    return {"file": Path(path).name, "audio_s": round(len(pcm) / 32000, 2),
            "final_lag_s": round(time.perf_counter() - audio_end, 3), "text": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_stream.pt")
    parser.add_argument("--manifest", default="data/an4/test.jsonl")
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--out", default="results/server_load.json")
    args = parser.parse_args()
    started = time.time()
    files = [u.audio_filepath for u in read_manifest(args.manifest)][:32]
    expected = {f: cli_text(args.model, f) for f in files}
    rows = []
    with server(args.model, "--max-queue", "256", "--max-streams", "16") as url:
        post(url + "/v1/transcribe", Path(files[0]).read_bytes())  # warm-up
        for clients in (16, 64):
            rows.append(rest_load(url, files, expected, clients, args.requests))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            streams = list(pool.map(lambda f: realtime_stream(url, f), files[:8]))
    lags = [s["final_lag_s"] for s in streams]
    write_json(args.out, {
        "what": f"ctcasr serve on loopback ({args.model}): requests/s with 64 concurrent clients",
        "value": rows[-1]["requests_per_s"], "unit": "requests/s", "rest": rows,
        "streams": streams, "streams_max_final_lag_s": max(lags),
        "streams_kept_up": all(lag < 1.0 for lag in lags), **stamp(started)})


if __name__ == "__main__":
    sys.exit(main())
