"""AN4 preparation from the real archive in the mirror folder."""

import os

import numpy as np
import pytest
import soundfile as sf

from ctcasr.data.corpora import an4 as corpus
from ctcasr.data.download import from_mirror
from ctcasr.errors import UserError


def test_splits_sizes_and_speakers(an4_items):
    train, dev, test = an4_items["train"], an4_items["dev"], an4_items["test"]
    assert len(train) + len(dev) == 948
    assert len(test) == 130
    assert 60 <= len(dev) <= 120
    assert not {u.speaker for u in train} & {u.speaker for u in dev}
    assert len({u.id for u in train + dev + test}) == 1078
    assert all(os.path.isfile(u.audio_filepath) for u in train + dev + test)


def test_transcripts_are_normalised(an4_items):
    first = {u.id: u.text for u in an4_items["test"]}
    assert first["an406-fcaw-b"] == "rubout g m e f three nine"
    assert all(u.text == u.text.lower().strip() and "<s>" not in u.text for u in an4_items["train"])


def test_audio_is_decoded_big_endian(an4_items):
    """Read as little-endian, AN4 is loud noise; decoded correctly it is quiet speech with silence around it."""
    wave, sr = sf.read(an4_items["test"][0].audio_filepath, dtype="int16")
    assert sr == 16000
    swapped = wave.byteswap()
    rms = np.sqrt(np.mean(wave.astype(np.float64) ** 2))
    assert rms < np.sqrt(np.mean(swapped.astype(np.float64) ** 2)) / 5
    first_10ms = np.abs(wave[:160].astype(np.float64)).mean()
    assert first_10ms < rms  # starts in (near) silence


def test_licence_notice_is_kept(an4):
    assert "Carnegie Mellon University" in (an4["train"].parent / "LICENSE").read_text()


def test_prepare_is_idempotent(an4, mirror):
    before = {p: p.stat().st_mtime_ns for p in an4.values()}
    again = corpus.prepare(an4["train"].parent.parent, mirror)
    assert again == an4
    assert {p: p.stat().st_mtime_ns for p in again.values()} == before


def test_mirror_checksum_mismatch(tmp_path, mirror):
    (tmp_path / corpus.ARCHIVE).symlink_to(mirror / corpus.ARCHIVE)
    (tmp_path / "MD5SUMS").write_text(f"{'0' * 32}  {corpus.ARCHIVE}\n")
    with pytest.raises(UserError, match=f"checksum mismatch: expected {'0' * 32}, got {corpus.MD5}"):
        from_mirror(corpus.ARCHIVE, tmp_path)
    with pytest.raises(UserError, match="checksum mismatch"):
        corpus.prepare(tmp_path / "out", tmp_path)
    assert not (tmp_path / "out" / "an4").exists()


def test_archive_missing_from_mirror(tmp_path):
    (tmp_path / "MD5SUMS").write_text("")
    with pytest.raises(UserError, match="not in the mirror folder"):
        corpus.prepare(tmp_path / "out", tmp_path)


def test_transcript_line_without_id():
    with pytest.raises(UserError, match="line 2 has no utterance id"):
        corpus.parse_transcription("<s> YES </s> (an1-a-b)\n<s> NO </s>\n", "an4_train.transcription")
