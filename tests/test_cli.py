"""The `ctcasr` command end to end, in real subprocesses, on real AN4 audio; bad input gives one clear line."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO, assert_user_error, run_cli

from ctcasr.audio import load
from ctcasr.data.manifest import write_manifest

SHIPPED = REPO / "models" / "an4_ds2.pt"
RECIPE = REPO / "recipes" / "an4_ds2.yaml"


def test_data_an4_from_the_mirror(tmp_path, mirror):
    result = run_cli("data", "an4", "--out", tmp_path, "--mirror", mirror)
    assert result.returncode == 0, result.stderr
    assert "train: 857 utterances" in result.stdout and "test: 130 utterances" in result.stdout
    assert len((tmp_path / "an4" / "test.jsonl").read_text().splitlines()) == 130


def test_data_an4_with_a_bad_mirror_checksum(tmp_path, mirror):
    (tmp_path / "an4_raw.bigendian.tar.gz").symlink_to(mirror / "an4_raw.bigendian.tar.gz")
    (tmp_path / "MD5SUMS").write_text(f"{'f' * 32}  an4_raw.bigendian.tar.gz\n")
    result = run_cli("data", "an4", "--out", tmp_path / "out", "--mirror", tmp_path)
    assert_user_error(result, "an4_raw.bigendian.tar.gz", "checksum mismatch", "f" * 32)
    assert not (tmp_path / "out" / "an4").exists()


def test_evaluate_writes_a_full_report(tmp_path, an4_items):
    write_manifest(tmp_path / "m.jsonl", an4_items["test"][:20], relative=False)
    out = tmp_path / "report.json"
    result = run_cli("evaluate", "--model", SHIPPED, "--manifest", tmp_path / "m.jsonl", "--out", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["num_utterances"] == 20 and len(report["utterances"]) == 20
    for key in ("wer", "cer", "real_time_factor", "audio_seconds", "command", "commit", "machine", "date"):
        assert key in report
    for key in ("substitutions", "deletions", "insertions", "reference_words"):
        assert key in report["words"]
    words = report["words"]
    assert report["wer"] == pytest.approx(100 * words["errors"] / words["reference_words"], abs=1e-3)
    assert report["wer"] < 30.0, "the shipped model should recognise AN4"
    assert f"WER {report['wer']:.2f} %" in result.stdout


def test_several_decodings_from_one_forward_pass_equal_separate_evaluations(tmp_path, an4_items):
    from ctcasr.decoding import DecoderConfig
    from ctcasr.evaluate import evaluate_decodings, evaluate_manifest

    write_manifest(tmp_path / "m.jsonl", an4_items["test"][:12], relative=False)
    decodings = {"greedy": DecoderConfig(), "beam": DecoderConfig(decoder="beam", beam=8)}
    reports = evaluate_decodings(str(SHIPPED), str(tmp_path / "m.jsonl"), decodings)
    for name, decoding in decodings.items():
        alone = evaluate_manifest(str(SHIPPED), str(tmp_path / "m.jsonl"), decoding=decoding)
        assert [u["hypothesis"] for u in reports[name]["utterances"]] == [u["hypothesis"] for u in alone["utterances"]]
        assert reports[name]["wer"] == alone["wer"] and reports[name]["decoder"]["decoder"] == decoding.decoder
        assert reports[name]["audio_seconds"] == alone["audio_seconds"] and reports[name]["decode_seconds"] > 0


def test_score_two_text_files(tmp_path):
    (tmp_path / "ref.txt").write_text("u1 a b c d\nu2 hello world\n")
    (tmp_path / "hyp.txt").write_text("u1 a x c\nu2 HELLO, world!\n")
    result = run_cli("score", tmp_path / "ref.txt", tmp_path / "hyp.txt", "--out", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["wer"] == pytest.approx(100 * 2 / 6, abs=1e-3)
    assert report["words"]["substitutions"] == 1 and report["words"]["deletions"] == 1
    (tmp_path / "bad.txt").write_bytes(b"u1 caf\xe9\n")
    assert_user_error(run_cli("score", tmp_path / "ref.txt", tmp_path / "bad.txt"), "bad.txt", "UTF-8")


def test_transcribe_files_folders_rates_and_formats(tmp_path, an4_items):
    items = an4_items["test"][:3]
    wave = load(items[0].audio_filepath, 16000)
    sf.write(tmp_path / "stereo_32k.wav", np.stack([wave, wave], 1).repeat(2, 0)[: wave.size * 2], 32000)
    folder = tmp_path / "folder"
    folder.mkdir()
    for u in items[1:]:
        shutil.copy(u.audio_filepath, folder / f"{u.id}.flac")
    result = run_cli("transcribe", "--model", SHIPPED, tmp_path / "stereo_32k.wav", folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all("\t" in line for line in lines)
    as_json = run_cli("transcribe", "--model", SHIPPED, "--format", "json", folder)
    rows = [json.loads(line) for line in as_json.stdout.strip().splitlines()]
    assert [r["path"] for r in rows] == sorted(str(p) for p in folder.iterdir())
    assert all(r["text"] for r in rows)


def test_transcribe_long_audio_in_chunks(tmp_path, an4_items):
    items = an4_items["test"][:12]
    long = np.concatenate([load(u.audio_filepath, 16000) for u in items])
    sf.write(tmp_path / "long.flac", long, 16000)
    result = run_cli("transcribe", "--model", SHIPPED, "--chunk-seconds", "6", "--format", "json",
                     tmp_path / "long.flac")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["duration"] == pytest.approx(long.size / 16000, abs=0.01)
    assert len(row["text"].split()) >= 0.6 * sum(len(u.text.split()) for u in items)


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty"])
def test_transcribe_bad_audio(tmp_path, case):
    path = tmp_path / f"{case}.wav"
    if case == "corrupt":
        path.write_bytes(b"RIFF1234WAVEfmt garbage")
    elif case == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    result = run_cli("transcribe", "--model", SHIPPED, path)
    assert_user_error(result, str(path))


def test_evaluate_bad_inputs(tmp_path, small_checkpoint, an4_items):
    out = tmp_path / "r.json"
    assert_user_error(run_cli("evaluate", "--model", small_checkpoint, "--manifest", tmp_path / "no.jsonl"),
                      "no.jsonl", "does not exist")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"audio_filepath": "x.wav", "duration": 1, "text": "a"}\n\xff\n')
    assert_user_error(run_cli("evaluate", "--model", small_checkpoint, "--manifest", bad, "--out", out),
                      "bad.jsonl:2", "UTF-8")
    missing_audio = tmp_path / "missing_audio.jsonl"
    write_manifest(missing_audio, [{"audio_filepath": str(tmp_path / "gone.flac"), "duration": 1, "text": "a"}])
    assert_user_error(run_cli("evaluate", "--model", small_checkpoint, "--manifest", missing_audio, "--out", out),
                      "gone.flac", "does not exist")
    not_ckpt = tmp_path / "model.pt"
    not_ckpt.write_text("not a model")
    write_manifest(tmp_path / "ok.jsonl", an4_items["test"][:2], relative=False)
    assert_user_error(run_cli("evaluate", "--model", not_ckpt, "--manifest", tmp_path / "ok.jsonl"),
                      "model.pt", "not a ctcasr checkpoint")
    assert not out.exists()


def test_train_bad_inputs(tmp_path, an4_items):
    assert_user_error(run_cli("train", RECIPE, "trainer.epochz=1"), "unknown recipe key 'trainer.epochz'")
    oov = tmp_path / "oov.jsonl"
    rows = [dict(u.__dict__) for u in an4_items["train"][:3]]
    rows[1]["text"] = "room 101"
    write_manifest(oov, rows, relative=False)
    common = ["data.corpus=null", f"trainer.out_dir={tmp_path / 'run'}"]
    result = run_cli("train", RECIPE, f"data.train_manifest={oov}", f"data.dev_manifest={oov}", *common)
    assert_user_error(result, "oov.jsonl:2", "outside the vocabulary")
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC not really")
    bad_audio = tmp_path / "bad_audio.jsonl"
    write_manifest(bad_audio, [{"audio_filepath": str(corrupt), "duration": 1.0, "text": "yes"}])
    result = run_cli("train", RECIPE, f"data.train_manifest={bad_audio}", f"data.dev_manifest={bad_audio}", *common,
                     "model.preset=ds2_tiny")
    assert_user_error(result, "corrupt.flac", "cannot read audio")
    assert not (tmp_path / "run" / "best.pt").exists()
