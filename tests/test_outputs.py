"""transcribe's outputs (text, JSON, SRT, WebVTT, TSV) parsed back, --output-dir, stdin, folders with a bad file,
and ffmpeg's formats; the Recognizer on paths, arrays and bytes."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO, assert_user_error, run_cli

import ctcasr
from ctcasr.audio import load

SHIPPED = REPO / "models" / "an4_ds2.pt"
SRT_CUE = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+)$")
VTT_CUE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.+)$")


def seconds(stamp: str) -> float:
    h, m, rest = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(rest)


@pytest.fixture(scope="module")
def long_file(tmp_path_factory, an4_items):
    path = tmp_path_factory.mktemp("long") / "joined.flac"
    waves = [load(u.audio_filepath, 16000) for u in an4_items["test"][:6]]
    sf.write(path, np.concatenate(waves), 16000)
    return path, " ".join(u.text for u in an4_items["test"][:6])


def test_recognizer_on_paths_arrays_and_bytes(an4_items):
    u = an4_items["test"][0]
    rec = ctcasr.load(SHIPPED, decoder="greedy")
    from_path = rec.transcribe(u.audio_filepath)
    wave, rate = sf.read(u.audio_filepath, dtype="float32")
    from_array = rec.transcribe(wave, sample_rate=rate)
    from_int16 = rec.transcribe((wave * 32767).astype(np.int16), sample_rate=rate)
    from_bytes = rec.transcribe(Path(u.audio_filepath).read_bytes())
    assert from_path.text == from_array.text == from_bytes.text == from_int16.text and from_path.text
    assert all(0 <= w.confidence <= 1 and w.start < w.end for w in from_path.words)
    assert [w.word for w in from_path.words] == from_path.text.split()
    for bad, kwargs in ((b"\x00garbage" * 10, {}), (np.zeros((2, 2, 2)), {"sample_rate": 16000}),
                        (wave, {"sample_rate": 0}), (wave, {}), (np.array(["a", "b"]), {"sample_rate": 16000})):
        with pytest.raises(ctcasr.UserError):
            rec.transcribe(bad, **kwargs)
    with pytest.raises(ctcasr.UserError, match="an4_ds2"):
        ctcasr.load("no-such-model")


def test_srt_vtt_tsv_json_parse_back(long_file):
    path, reference = long_file
    outputs = {fmt: run_cli("transcribe", "--model", SHIPPED, "--format", fmt, path) for fmt in
               ("json", "srt", "vtt", "tsv", "text")}
    for fmt, result in outputs.items():
        assert result.returncode == 0, (fmt, result.stderr)
    data = json.loads(outputs["json"].stdout)
    words = data["words"]
    assert [w["word"] for w in words] == data["text"].split() and len(words) >= 0.6 * len(reference.split())
    assert all(a["start"] < a["end"] <= b["start"] + 1e-6 for a, b in zip(words, words[1:], strict=False))
    blocks = outputs["srt"].stdout.strip().split("\n\n")
    cues = [SRT_CUE.match(b) for b in blocks]
    assert all(cues) and [int(c.group(1)) for c in cues] == list(range(1, len(cues) + 1))
    assert " ".join(c.group(4) for c in cues) == data["text"]
    assert all(seconds(c.group(2)) < seconds(c.group(3)) for c in cues)
    vtt = outputs["vtt"].stdout
    assert vtt.startswith("WEBVTT\n\n")
    vcues = [VTT_CUE.match(b) for b in vtt[8:].strip().split("\n\n")]
    assert all(vcues) and " ".join(c.group(3) for c in vcues) == data["text"]
    rows = outputs["tsv"].stdout.strip().splitlines()
    assert rows[0] == "start\tend\tword\tconfidence" and len(rows) == len(words) + 1
    assert outputs["text"].stdout.strip() == f"{path}\t{data['text']}"


def test_output_dir_stdin_and_a_folder_with_a_bad_file(tmp_path, an4_items):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for u in an4_items["test"][:2]:
        shutil.copy(u.audio_filepath, folder / "sub" / f"{u.id}.flac")
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVEnot really")
    opus = folder / "clip.opus"
    sf.write(opus, load(an4_items["test"][2].audio_filepath, 16000), 16000, format="OGG", subtype="OPUS")
    result = run_cli("transcribe", "--model", SHIPPED, "--output-dir", tmp_path / "out", "--format", "vtt", folder)
    assert result.returncode == 1
    assert "3 ok, 1 failed" in result.stdout + result.stderr and "broken.wav" in result.stderr
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.vtt"))
    assert written == sorted(["clip.vtt", *(f"sub/{u.id}.vtt" for u in an4_items["test"][:2])])
    stdin = subprocess.run([sys.executable, "-m", "ctcasr", "transcribe", "--model", str(SHIPPED), "--decoder",
                            "greedy", "-"], input=Path(an4_items["test"][0].audio_filepath).read_bytes(),
                           capture_output=True)
    assert stdin.returncode == 0, stdin.stderr
    assert stdin.stdout.decode().startswith("-\t")
    assert_user_error(run_cli("transcribe", "--model", SHIPPED, folder / "broken.wav"), "broken.wav")


def test_ffmpeg_formats(tmp_path, an4_items):
    if shutil.which("ffmpeg") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("ffmpeg must be installed in CI (scripts/ci_system_packages.sh)")
        pytest.skip("ffmpeg is not installed")
    u = an4_items["test"][0]
    m4a = tmp_path / "clip.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", u.audio_filepath, "-c:a", "aac", "-b:a", "96k", m4a], check=True)
    result = run_cli("transcribe", "--model", SHIPPED, "--decoder", "greedy", m4a)
    assert result.returncode == 0, result.stderr
    plain = run_cli("transcribe", "--model", SHIPPED, "--decoder", "greedy", u.audio_filepath)
    assert result.stdout.split("\t")[1] == plain.stdout.split("\t")[1]
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 broken")
    assert_user_error(run_cli("transcribe", "--model", SHIPPED, tmp_path / "bad.mp4"), "bad.mp4", "ffmpeg")
