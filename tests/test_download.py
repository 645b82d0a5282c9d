"""The downloader against a real HTTP server on loopback serving the mirror folder."""

import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ctcasr.data.download import download, mirror_checksums
from ctcasr.errors import UserError

NAME = "dev-clean.tar.gz"


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support; can drop the first connection mid-file or corrupt the payload."""

    drop_first = False
    corrupt = False
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        try:
            data = open(path, "rb").read()  # noqa: SIM115 - small test payloads
        except OSError:
            self.send_error(404, "Not Found")
            return
        if self.corrupt:
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        start = 0
        header = self.headers.get("Range")
        type(self).requests.append(header)
        if header:
            start = int(header.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if type(self).drop_first and len(type(self).requests) == 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server(mirror):
    RangeHandler.requests = []
    RangeHandler.drop_first = RangeHandler.corrupt = False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(mirror)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_checksum(server, mirror, tmp_path):
    md5 = mirror_checksums(mirror)[NAME]
    path = download(f"{server}/{NAME}", tmp_path / NAME, f"md5:{md5}")
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5
    assert not list(tmp_path.glob("*.part"))


def test_dropped_connection_resumes_with_range(server, mirror, tmp_path):
    RangeHandler.drop_first = True
    md5 = mirror_checksums(mirror)[NAME]
    path = download(f"{server}/{NAME}", tmp_path / NAME, f"md5:{md5}")
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5
    assert RangeHandler.requests[0] is None and RangeHandler.requests[1].startswith("bytes=")
    assert RangeHandler.requests[1] != "bytes=0-"


def test_corrupted_file_is_rejected_and_not_kept(server, mirror, tmp_path):
    RangeHandler.corrupt = True
    md5 = mirror_checksums(mirror)[NAME]
    with pytest.raises(UserError, match=f"checksum mismatch: expected {md5}, got [0-9a-f]{{32}}"):
        download(f"{server}/{NAME}", tmp_path / NAME, f"md5:{md5}")
    assert not (tmp_path / NAME).exists() and not list(tmp_path.glob("*.part"))


def test_http_error_is_reported(server, tmp_path):
    with pytest.raises(UserError, match="HTTP 404"):
        download(f"{server}/missing.tar.gz", tmp_path / "missing.tar.gz")
    assert not (tmp_path / "missing.tar.gz").exists()
