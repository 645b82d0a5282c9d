"""The rough edges a new user meets: version, module entry point, help, defaults, custom data, LM folders,
optional loggers, and a plain `pip install .` without extras."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO, assert_user_error, run_cli

from ctcasr import __version__
from ctcasr.data.manifest import read_manifest, write_manifest

SHIPPED = REPO / "models" / "an4_ds2.pt"


def test_version_and_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "ctcasr", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"ctcasr {__version__}"


def test_help_shows_real_defaults():
    for command in ("transcribe", "evaluate"):
        text = " ".join(run_cli(command, "--help").stdout.split())
        assert "decoding.yaml" in text and "default: 20.0" in text and "--threads" in text


def test_threads_flag_is_honoured(tmp_path, an4_items):
    write_manifest(tmp_path / "m.jsonl", an4_items["test"][:2], relative=False)
    result = run_cli("evaluate", "--threads", "1", "--model", SHIPPED, "--manifest", tmp_path / "m.jsonl",
                     "--decoder", "greedy", "--out", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["threads"] == 1


def test_evaluate_and_transcribe_default_to_the_models_decoding_file(tmp_path, an4_items):
    write_manifest(tmp_path / "m.jsonl", an4_items["test"][:3], relative=False)
    result = run_cli("evaluate", "--model", SHIPPED, "--manifest", tmp_path / "m.jsonl", "--out", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    decoder = json.loads((tmp_path / "r.json").read_text())["decoder"]
    assert decoder["decoder"] == "beam" and decoder["lm"].endswith(".arpa")
    as_json = run_cli("transcribe", "--model", SHIPPED, "--format", "json", an4_items["test"][0].audio_filepath)
    assert json.loads(as_json.stdout)["decoder"].startswith("beam")


def test_data_custom_prints_manifests_and_splits_dev_by_speaker(tmp_path):
    folder = tmp_path / "mine"
    rng = np.random.default_rng(0)
    for speaker in ("alice", "bob", "carol", "dave"):
        (folder / "audio" / speaker).mkdir(parents=True)
        for i in range(3):
            sf.write(folder / "audio" / speaker / f"{speaker}{i}.wav", rng.standard_normal(8000) * 0.1, 16000)
    (folder / "transcriptions").mkdir()
    for wav in (folder / "audio").rglob("*.wav"):
        (folder / "transcriptions" / f"{wav.stem}.txt").write_text("hello")
    result = run_cli("data", "custom", folder, "--out", tmp_path / "data", "--dev-fraction", "0.25")
    assert result.returncode == 0, result.stderr
    train, dev = tmp_path / "data" / "custom" / "mine.jsonl", tmp_path / "data" / "custom" / "mine-dev.jsonl"
    assert str(train) in result.stdout and str(dev) in result.stdout
    train_spk = {u.speaker for u in read_manifest(train)}
    dev_spk = {u.speaker for u in read_manifest(dev)}
    assert dev_spk and not train_spk & dev_spk and len(train_spk | dev_spk) == 4


def test_lm_build_reads_a_folder_and_counts_binary_models(tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("one two three\nfour five\n")
    (texts / "b.txt").write_text("two three four\n")
    (texts / "skip.csv").write_text("not|read\n")
    result = run_cli("lm", "build", texts, "--order", "2", "--out", tmp_path / "lm.bin")
    assert result.returncode == 0, result.stderr
    assert "3 sentences" in result.stdout and "1-grams=" in result.stdout and "2-grams=" in result.stdout


def test_wandb_logger_without_the_package_is_a_clean_error(tmp_path, an4_items):
    pytest.importorskip("lightning")
    try:
        import wandb  # noqa: F401

        pytest.skip("wandb is installed here")
    except ImportError:
        pass
    write_manifest(tmp_path / "t.jsonl", an4_items["train"][:4], relative=False)
    result = run_cli("train", REPO / "recipes" / "an4_ds2.yaml", "data.corpus=null",
                     f"data.train_manifest={tmp_path / 't.jsonl'}", f"data.dev_manifest={tmp_path / 't.jsonl'}",
                     "model.preset=ds2_tiny", f"trainer.out_dir={tmp_path / 'run'}",
                     "trainer.loggers=[tensorboard,wandb]")
    assert_user_error(result, "wandb")


@pytest.mark.slow
def test_plain_install_without_extras_falls_back_to_the_beam_search(tmp_path, an4_items):
    """`pip install .` with no extras (no kenlm): the shipped model's LM decoding file degrades with one warning;
    an explicit --lm still fails clearly."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # the CPU torch wheel this machine holds, then the project itself (never a CUDA build from the index)
    subprocess.run([*pip, "torch==2.13.0", str(REPO)], check=True, timeout=900)
    ctcasr = [str(venv / "bin" / "ctcasr")]
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import kenlm"], capture_output=True)
    assert check.returncode != 0, "kenlm should not be installed without the lm extra"
    audio = an4_items["test"][0].audio_filepath
    result = subprocess.run([*ctcasr, "transcribe", "--model", str(SHIPPED), audio], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "kenlm" in warnings[0]
    assert result.stdout.split("\t")[1].strip()
    explicit = subprocess.run([*ctcasr, "transcribe", "--model", str(SHIPPED), "--lm",
                               str(Path(SHIPPED).with_suffix("") / "an4_train_3gram.arpa"), audio],
                              capture_output=True, text=True, cwd=tmp_path)
    assert_user_error(explicit, "kenlm")
    # registered names resolve inside the installed (non-editable) package, far from any source checkout
    named = subprocess.run([*ctcasr, "transcribe", "--model", "an4_ds2", "--decoder", "greedy", audio],
                           capture_output=True, text=True, cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    from ctcasr import load

    assert named.stdout.split("\t")[1].strip() == load(SHIPPED, decoder="greedy").transcribe(audio).text
    where = subprocess.run([*ctcasr, "download", "en_small"], capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0 and "site-packages/ctcasr/shipped/en_small.pt" in where.stdout, where


def test_download_out_copies_a_shipped_model_with_its_lms(tmp_path, an4_items):
    result = run_cli("download", "an4_ds2", "--out", tmp_path / "dl")
    assert result.returncode == 0, result.stderr
    model = tmp_path / "dl" / "an4_ds2.pt"
    assert model.is_file() and (tmp_path / "dl" / "an4_ds2.decoding.yaml").is_file()
    assert (tmp_path / "dl" / "an4_ds2" / "an4_train_3gram.arpa").is_file()
    listed = run_cli("download", "--list").stdout
    assert "spelled letters, digits" in listed  # each artifact says what it knows
    copied = run_cli("transcribe", "--model", model, an4_items["test"][0].audio_filepath, "--format", "json")
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["decoder"].startswith("beam")  # its decoding file and LM came along
