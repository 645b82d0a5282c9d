"""speechocean762 from the real mirror archive (Opus audio named in wav.scp), and broken copies of it."""

import shutil
import tarfile

import pytest
import soundfile as sf
from conftest import require_mirror

from ctcasr.data.corpora import speechocean762 as so
from ctcasr.data.manifest import read_manifest
from ctcasr.errors import UserError
from ctcasr.text import normalise

ARCHIVE = "speechocean762.tar.gz"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    mirror = require_mirror(ARCHIVE)
    return so.prepare(tmp_path_factory.mktemp("data"), mirror)


def official(half: str) -> dict[str, str]:
    with tarfile.open(require_mirror(ARCHIVE) / ARCHIVE) as tar:
        data = tar.extractfile(f"speechocean762/{half}/text").read().decode()
    return dict(line.split("\t", 1) if "\t" in line else line.split(" ", 1) for line in data.splitlines() if line)


def test_splits_speakers_and_texts(prepared):
    splits = {s: read_manifest(p) for s, p in prepared.items()}
    assert len(splits["test"]) == 2500
    assert len(splits["train"]) + len(splits["dev"]) == 2500
    train_spk = {u.speaker for u in splits["train"]}
    dev_spk = {u.speaker for u in splits["dev"]}
    assert not train_spk & dev_spk
    assert 10 <= len(dev_spk) <= 16  # about 10 % of the 125 official training speakers
    assert {u.id: u.text for u in splits["test"]} == {k: normalise(v) for k, v in official("test").items()}
    u = splits["test"][0]
    assert sf.info(u.audio_filepath).samplerate == 16000
    assert u.duration == pytest.approx(sf.info(u.audio_filepath).duration, abs=1e-3)
    assert (prepared["test"].parent / "lexicon.txt").is_file()


def test_dev_holds_children_and_adults(prepared):
    import json

    ages = [json.loads(line)["age"] for line in prepared["dev"].read_text().splitlines()]
    assert min(ages) <= so.CHILD_MAX_AGE < max(ages)


def test_second_prepare_is_a_no_op(prepared):
    before = prepared["train"].stat().st_mtime_ns
    assert so.prepare(prepared["train"].parent.parent, require_mirror(ARCHIVE)) == prepared
    assert prepared["train"].stat().st_mtime_ns == before


def _broken_archive(tmp_path, edit) -> tuple:
    """A small copy of the corpus layout (2 utterances per half) with `edit(folder)` applied."""
    src = tmp_path / "src"
    with tarfile.open(require_mirror(ARCHIVE) / ARCHIVE) as tar:
        names = {}
        for half in ("train", "test"):
            scp = tar.extractfile(f"speechocean762/{half}/wav.scp").read().decode().splitlines()[:2]
            names[half] = scp
        members = [f"speechocean762/{h}/{f}" for h in ("train", "test")
                   for f in ("text", "wav.scp", "utt2spk", "spk2age", "spk2gender")]
        members += [f"speechocean762/{line.split()[1]}" for h in names for line in names[h]]
        for name in members:
            tar.extract(name, src, filter="data")
    for half in ("train", "test"):
        keep = {line.split()[0] for line in names[half]}
        for f in ("text", "wav.scp", "utt2spk"):
            path = src / "speechocean762" / half / f
            lines = [line for line in path.read_text().splitlines() if line.split()[0] in keep]
            path.write_text("\n".join(lines) + "\n")
    edit(src / "speechocean762")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / ARCHIVE, "w:gz") as tar:
        tar.add(src / "speechocean762", "speechocean762")
    import hashlib

    digest = hashlib.md5((mirror / ARCHIVE).read_bytes()).hexdigest()
    (mirror / "MD5SUMS").write_text(f"{digest}  {ARCHIVE}\n")
    return mirror, names


def test_missing_wav_scp_entry_is_named(tmp_path):
    def drop_scp(root):
        path = root / "test" / "wav.scp"
        path.write_text(path.read_text().splitlines()[0] + "\n")

    mirror, names = _broken_archive(tmp_path, drop_scp)
    with pytest.raises(UserError, match="no wav.scp entry"):
        so.prepare(tmp_path / "out", mirror)
    assert not (tmp_path / "out" / "speechocean762").exists()


def test_missing_audio_file_is_named(tmp_path):
    def drop_audio(root):
        first = (root / "train" / "wav.scp").read_text().split()[1]
        (root / first).unlink()

    mirror, _ = _broken_archive(tmp_path, drop_audio)
    with pytest.raises(UserError, match="not in the archive"):
        so.prepare(tmp_path / "out", mirror)


def test_text_line_without_transcript_is_named(tmp_path):
    def cut_text(root):
        path = root / "train" / "text"
        lines = path.read_text().splitlines()
        path.write_text(lines[0].split()[0] + "\n" + "\n".join(lines[1:]) + "\n")

    mirror, _ = _broken_archive(tmp_path, cut_text)
    with pytest.raises(UserError, match="line 1 has an id but no value"):
        so.prepare(tmp_path / "out", mirror)


def test_small_copy_prepares(tmp_path):
    mirror, _ = _broken_archive(tmp_path, lambda root: None)
    out = so.prepare(tmp_path / "out", mirror)
    assert len(read_manifest(out["test"])) == 2
    shutil.rmtree(tmp_path / "out")
