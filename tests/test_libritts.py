"""LibriTTS: a small archive in LibriTTS's layout (24 kHz WAV + .normalized.txt) built here, read as a mirror."""

import hashlib
import tarfile

import numpy as np
import pytest
import soundfile as sf
from conftest import assert_user_error, run_cli

from ctcasr.audio import load
from ctcasr.data.corpora import libritts
from ctcasr.data.manifest import read_manifest
from ctcasr.errors import UserError


def make_mirror(tmp_path, part="dev-clean", with_text=True):
    src = tmp_path / "src" / "LibriTTS" / part
    rng = np.random.default_rng(0)
    texts = {"84_121123_000007_000001": "He said, \u201cTwenty-one dollars!\u201d",
             "84_121123_000008_000000": "It was nine o'clock.", "174_50561_000012_000003": "Yes."}
    for utt, text in texts.items():
        spk, chapter = utt.split("_")[:2]
        folder = src / spk / chapter
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{utt}.wav", (rng.standard_normal(24000) * 0.1).astype(np.float32), 24000)
        (folder / f"{utt}.original.txt").write_text(text.upper())
        if with_text:
            (folder / f"{utt}.normalized.txt").write_text(text)
    mirror = tmp_path / "mirror"
    (mirror / "libritts").mkdir(parents=True)
    archive = mirror / "libritts" / f"{part}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "LibriTTS", "LibriTTS")
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    (mirror / "MD5SUMS").write_text(f"{digest}  libritts/{part}.tar.gz\n")
    return mirror, texts


def test_prepare_reads_normalised_text_and_resamples_at_load(tmp_path):
    mirror, texts = make_mirror(tmp_path)
    out = libritts.prepare(tmp_path / "data", mirror, parts=("dev-clean",))
    items = read_manifest(out["dev-clean"])
    assert {u.id: u.text for u in items} == texts
    assert {u.speaker for u in items} == {"84", "174"}
    assert all(u.duration == pytest.approx(1.0) for u in items)
    assert sf.info(items[0].audio_filepath).samplerate == 24000
    assert load(items[0].audio_filepath, 16000).size == 16000


def test_missing_normalised_text_is_named(tmp_path):
    mirror, _ = make_mirror(tmp_path, with_text=False)
    with pytest.raises(UserError, match="normalized.txt"):
        libritts.prepare(tmp_path / "data", mirror, parts=("dev-clean",))


def test_cli_unknown_part_and_real_command(tmp_path):
    mirror, _ = make_mirror(tmp_path)
    assert_user_error(run_cli("data", "libritts", "--parts", "train-clean-7", "--out", tmp_path / "d", "--mirror",
                              mirror), "train-clean-7")
    result = run_cli("data", "libritts", "--parts", "dev-clean", "--out", tmp_path / "d", "--mirror", mirror)
    assert result.returncode == 0, result.stderr
    assert "dev-clean: 3 utterances" in result.stdout
