"""LibriSpeech, LJSpeech and custom folders from the real mirror archives; bad archives and folders."""

import hashlib
import io
import shutil
import tarfile

import numpy as np
import pytest
import soundfile as sf
from conftest import assert_user_error, require_mirror, run_cli

from ctcasr.audio import load
from ctcasr.data.corpora import custom, librispeech, ljspeech
from ctcasr.data.manifest import read_manifest
from ctcasr.errors import UserError
from ctcasr.units.char import CharTokenizer


@pytest.fixture(scope="module")
def libri(tmp_path_factory):
    mirror = require_mirror("dev-clean.tar.gz")
    return librispeech.prepare(tmp_path_factory.mktemp("data"), mirror, parts=("dev-clean", "test-clean"))


def official_transcripts(archive) -> dict[str, str]:
    out = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name.endswith(".trans.txt"):
                for line in tar.extractfile(member).read().decode().splitlines():
                    utt, text = line.split(" ", 1)
                    out[utt] = text
    return out


def test_librispeech_parts_match_the_official_transcripts(libri):
    mirror = require_mirror("dev-clean.tar.gz")
    for part, count in (("dev-clean", 7), ("test-clean", 4)):
        items = read_manifest(libri[part])
        assert len(items) == count
        assert {u.id: u.text for u in items} == official_transcripts(mirror / f"{part}.tar.gz")
        for u in items:
            assert u.duration == pytest.approx(sf.info(u.audio_filepath).duration, abs=1e-3)
            assert u.speaker == u.id.split("-")[0]


def test_librispeech_merged_manifest(tmp_path, monkeypatch, libri):
    mirror = require_mirror("dev-clean.tar.gz")
    monkeypatch.setitem(librispeech.MERGED, "dev-test", ("dev-clean", "test-clean"))
    out = librispeech.prepare(libri["dev-clean"].parent.parent, mirror, parts=(), merge=("dev-test",))
    assert len(read_manifest(out["dev-test"])) == 11


def test_ljspeech_uses_normalised_text_and_keeps_the_audio_rate(tmp_path):
    mirror = require_mirror("LJSpeech-1.1.tar.bz2")
    manifests = ljspeech.prepare(tmp_path, mirror)
    splits = {s: read_manifest(p) for s, p in manifests.items()}
    assert sum(len(v) for v in splits.values()) == 40
    assert len(splits["dev"]) == 2 and len(splits["test"]) == 2
    tokenizer = CharTokenizer(oov="error")
    for items in splits.values():
        for u in items:
            tokenizer.encode(u.text, u.where)  # raises if anything is outside the alphabet
    first = splits["train"][0]
    assert sf.info(first.audio_filepath).samplerate == 22050
    assert load(first.audio_filepath, 16000).size == pytest.approx(first.duration * 16000, abs=2)
    again = ljspeech.prepare(tmp_path, mirror)
    assert again == manifests


def _mirror_with(tmp_path, name: str, payload: bytes):
    folder = tmp_path / "mirror"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(payload)
    (folder / "MD5SUMS").write_text(f"{hashlib.md5(payload).hexdigest()}  {name}\n")
    return folder


def test_truncated_archive(tmp_path):
    mirror = require_mirror("test-clean.tar.gz")
    payload = (mirror / "test-clean.tar.gz").read_bytes()
    folder = _mirror_with(tmp_path, "test-clean.tar.gz", payload[: len(payload) // 2])
    result = run_cli("data", "librispeech", "--parts", "test-clean", "--out", tmp_path / "out", "--mirror", folder)
    assert_user_error(result, "test-clean.tar.gz", "damaged or truncated")
    assert not (tmp_path / "out" / "librispeech" / "test-clean.jsonl").exists()
    assert not (tmp_path / "out" / "librispeech" / "extracted" / "test-clean").exists()


def test_archive_with_another_layout(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("something/else.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    folder = _mirror_with(tmp_path, "dev-clean.tar.gz", buffer.getvalue())
    result = run_cli("data", "librispeech", "--parts", "dev-clean", "--out", tmp_path / "out", "--mirror", folder)
    assert_user_error(result, "dev-clean.tar.gz", "LibriSpeech layout")


def test_transcript_line_without_an_id(tmp_path):
    path = tmp_path / "1-2.trans.txt"
    path.write_text("1-2-0000 HELLO\nWORLD WITHOUT ID\n")
    with pytest.raises(UserError, match="line 2 is not `<utterance-id> <text>`"):
        librispeech.read_transcripts(path)


def _custom_folder(tmp_path, an4_items, n=4, transcribed=4):
    folder = tmp_path / "mine"
    (folder / "audio").mkdir(parents=True)
    (folder / "transcriptions").mkdir()
    for i, u in enumerate(an4_items["test"][:n]):
        shutil.copy(u.audio_filepath, folder / "audio" / f"rec{i}.flac")
        if i < transcribed:
            (folder / "transcriptions" / f"rec{i}.txt").write_text(u.text.upper() + "\n")
    return folder


def test_custom_folder_with_transcriptions(tmp_path, an4_items):
    folder = _custom_folder(tmp_path, an4_items)
    result = run_cli("data", "custom", folder, "--out", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    items = read_manifest(tmp_path / "data" / "custom" / "mine.jsonl")
    assert [u.text for u in items] == [u.text.upper() for u in an4_items["test"][:4]]


def test_custom_folder_with_missing_transcriptions(tmp_path, an4_items):
    folder = _custom_folder(tmp_path, an4_items, n=4, transcribed=2)
    result = run_cli("data", "custom", folder, "--out", tmp_path / "data")
    assert_user_error(result, str(folder), "2 of 4 audio files have no transcription", "rec2.flac")
    assert not (tmp_path / "data" / "custom" / "mine.jsonl").exists()
    result = run_cli("data", "custom", folder, "--out", tmp_path / "data", "--allow-missing")
    assert result.returncode == 0, result.stderr
    assert len(read_manifest(tmp_path / "data" / "custom" / "mine.jsonl")) == 2


def test_plain_audio_folder_for_transcription_only(tmp_path, an4_items):
    folder = tmp_path / "plain"
    folder.mkdir()
    for u in an4_items["test"][:3]:
        shutil.copy(u.audio_filepath, folder)
    sf.write(folder / "tone.wav", np.zeros(1600, dtype=np.float32), 8000)
    manifests = custom.prepare(tmp_path / "data", folder)
    items = read_manifest(manifests["plain"])
    assert len(items) == 4 and all(u.text == "" for u in items)
