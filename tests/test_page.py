"""The server's web page in real headless Chromium (Debian's, driven by Playwright): a file upload, and the
microphone fed from an AN4 recording (Chromium's fake capture device), each giving the CLI's transcript."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
playwright = pytest.importorskip("playwright.sync_api")

from conftest import REPO  # noqa: E402
from test_server import cli_text, server  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STREAM_MODEL = REPO / "models" / "an4_stream.pt"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

if CHROMIUM is None:
    if IN_CI:
        raise RuntimeError("chromium is missing: `make test` installs it (scripts/ci_system_packages.sh)")
    pytest.skip("chromium is not installed (apt install chromium)", allow_module_level=True)


def browser(p, *args: str):
    flags = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", *args]
    return p.chromium.launch(executable_path=CHROMIUM, args=flags)


def test_page_transcribes_an_uploaded_file(tmp_path, an4_items):
    from test_streaming import tiny_streaming_model

    from ctcasr.checkpoint import save_checkpoint

    model = STREAM_MODEL if STREAM_MODEL.is_file() else tmp_path / "tiny.pt"
    if not STREAM_MODEL.is_file():
        save_checkpoint(model, tiny_streaming_model("model.lookahead=2"))
    path = an4_items["test"][4].audio_filepath
    with server(model) as url, playwright.sync_playwright() as p:
        b = browser(p)
        page = b.new_page()
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('model')")
        page.set_input_files("#file", path)
        page.click("#upload")
        page.wait_for_selector("body[data-state=done]", timeout=60_000)
        text = page.eval_on_selector("#transcript", "e => e.dataset.text")
        rows = page.eval_on_selector_all("#words tbody tr", "rows => rows.length")
        b.close()
    assert text == cli_text(model, path)
    assert rows == len(text.split())


def test_page_streams_the_microphone(tmp_path, an4_items):
    if not STREAM_MODEL.is_file():
        if IN_CI:
            pytest.fail(f"{STREAM_MODEL} is missing: the shipped streaming model is part of the repository")
        pytest.skip("no shipped streaming model")
    import soundfile as sf

    from ctcasr.audio import load

    item = an4_items["test"][4]
    wave = load(item.audio_filepath, 16000)
    padded = np.concatenate([np.zeros(8000, np.float32), wave, np.zeros(24000, np.float32)])
    microphone = tmp_path / "mic.wav"
    sf.write(microphone, padded, 16000, subtype="PCM_16")
    expected = cli_text(STREAM_MODEL, str(microphone))
    assert expected, "the model should recognise something in an AN4 test utterance"
    with server(STREAM_MODEL) as url, playwright.sync_playwright() as p:
        b = browser(p, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                    f"--use-file-for-fake-audio-capture={Path(microphone)}%noloop")
        page = b.new_page()
        page.goto(url + "/")
        page.wait_for_function("!document.getElementById('record').disabled")
        page.click("#record")
        page.wait_for_function("document.getElementById('status').textContent === 'recording…'", timeout=30_000)
        page.wait_for_timeout(int(padded.size / 16000 * 1000) + 1500)
        partials_seen = page.evaluate("document.getElementById('transcript').dataset.text || "
                                      "document.getElementById('partial').textContent")
        page.click("#stop")
        page.wait_for_selector("body[data-state=done]", timeout=30_000)
        text = page.eval_on_selector("#transcript", "e => e.dataset.text")
        b.close()
    assert partials_seen, "partial or final results should appear while recording"
    assert text == expected
