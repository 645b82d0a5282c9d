"""Word times by forced alignment (`ctcasr align`) and the word-aligned crops training cuts with them."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, run_cli

from ctcasr.augment import AugmentConfig, WaveAugment, cut_points
from ctcasr.checkpoint import load_model
from ctcasr.data.dataset import SpeechDataset
from ctcasr.data.manifest import read_manifest, write_manifest

MODEL = Path(__file__).resolve().parents[1] / "models" / "an4_phone.pt"


def test_cuts_fall_at_the_quietest_point_of_each_gap():
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(24000) * 0.3).astype(np.float32)  # 1.5 s of loud noise
    wave[6400:6720] *= 0.01  # a pause at 0.40-0.42 s, inside the gap after word 0 (0.3 .. 0.6 s)
    wave[14400:14720] *= 0.01  # and at 0.90-0.92 s, in the gap after word 1 (0.8 .. 1.1 s)
    words = [[0.1, 0.3], [0.6, 0.8], [1.1, 1.4]]
    assert cut_points(wave, 16000, words, 0, 3) == (0.0, 1.5)
    assert cut_points(wave, 16000, words, 1, 2) == pytest.approx((0.41, 0.91), abs=0.011)  # inside the pauses
    for _ in range(50):
        start, end = cut_points(wave, 16000, words, 1, 3, np.random.default_rng(_))
        assert 0.39 <= start <= 0.435 and end == 1.5  # 15 ms of jitter around the pause


@pytest.fixture(scope="module")
def aligned(an4, tmp_path_factory) -> Path:
    """Twenty AN4 dev utterances with word times from the shipped AN4 phone model (a real alignment)."""
    work = tmp_path_factory.mktemp("align")
    write_manifest(work / "dev20.jsonl", read_manifest(an4["dev"])[:20], relative=False)
    result = run_cli("align", "--model", str(MODEL), "--manifest", str(work / "dev20.jsonl"),
                     "--out", str(work / "aligned.jsonl"))
    assert result.returncode == 0, result.stderr
    assert "word times for 20 of 20 utterances" in result.stdout
    return work / "aligned.jsonl"


def test_align_gives_one_ordered_span_per_word(aligned):
    for u in read_manifest(aligned):
        assert len(u.words) == len(u.text.split())
        ends = [0.0] + [end for _, end in u.words]
        assert all(prev <= start < end <= u.duration + 0.05
                   for prev, (start, end) in zip(ends, u.words, strict=False))
    raw = json.loads(aligned.read_text().splitlines()[0])
    assert set(raw) >= {"audio_filepath", "duration", "text", "words"}


def test_crops_are_runs_of_words_with_matching_targets(aligned):
    tok = load_model(MODEL).tokenizer
    items = read_manifest(aligned)
    config = AugmentConfig(crop_prob=1.0, crop_words=[1, 2], spec_augment=None)
    data = SpeechDataset(items, tok, 16000, WaveAugment(config, 16000, seed=3))
    cropped = 0
    for index, u in enumerate(items):
        wave, target, text, _ = data[index]
        words = u.text.split()
        assert np.array_equal(target.numpy(), tok.ids(text))
        if len(words) == 1:
            assert text == u.text and wave.numel() == round(u.duration * 16000)
            continue
        cropped += 1
        count = len(text.split())
        assert 1 <= count <= 2 and any(words[i:i + count] == text.split() for i in range(len(words)))
        assert wave.numel() < u.duration * 16000
    assert cropped >= 5


def test_without_word_times_utterances_stay_whole(an4):
    tok = load_model(MODEL).tokenizer
    items = read_manifest(an4["dev"])[:5]
    data = SpeechDataset(items, tok, 16000, WaveAugment(AugmentConfig(crop_prob=1.0, spec_augment=None), 16000))
    assert [data[i][2] for i in range(5)] == [tok.prepare(u.text) for u in items]


def test_align_refuses_a_transcript_the_model_cannot_spell(an4, tmp_path):
    u = read_manifest(an4["dev"])[0]
    u.text = "zzyzx qwerty"
    write_manifest(tmp_path / "m.jsonl", [u], relative=False)
    result = run_cli("align", "--model", str(MODEL), "--manifest", str(tmp_path / "m.jsonl"),
                     "--out", str(tmp_path / "out.jsonl"))
    assert_user_error(result, "m.jsonl", "no utterance could be aligned")
    assert not (tmp_path / "out.jsonl").exists()
