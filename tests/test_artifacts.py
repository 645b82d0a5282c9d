"""`ctcasr download`: the registry, the shipped model, a URL artifact from a real loopback server."""

import hashlib

import yaml
from conftest import REPO, assert_user_error, run_cli
from test_download import server  # noqa: F401 - the loopback HTTP server fixture

from ctcasr.artifacts import load_registry


def test_list_shows_the_shipped_model_and_the_openslr_lms():
    result = run_cli("download", "--list")
    assert result.returncode == 0, result.stderr
    for name in ("an4_ds2", "librispeech-3-gram-pruned-1e-7", "librispeech-4-gram"):
        assert name in result.stdout
    assert "https://www.openslr.org/resources/11/" in result.stdout


def test_shipped_models_match_their_registry_entries():
    shipped = {name: entry for name, entry in load_registry().items() if entry.local}
    assert "an4_ds2" in shipped
    for entry in shipped.values():
        data = (REPO / entry.local).read_bytes()
        assert entry.size == len(data), entry.local
        assert entry.sha256 == hashlib.sha256(data).hexdigest(), entry.local
    result = run_cli("download", "an4_ds2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(REPO / "models" / "an4_ds2.pt"))


def test_url_artifact_is_downloaded_and_verified(tmp_path, server, mirror):  # noqa: F811
    payload = (mirror / "test-clean.tar.gz").read_bytes()
    registry = tmp_path / "registry.yaml"
    good = {"kind": "data", "description": "x", "url": f"{server}/test-clean.tar.gz",
            "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
    registry.write_text(yaml.safe_dump({"good": good, "bad": {**good, "sha256": "0" * 64}}))
    result = run_cli("download", "good", "--registry", registry, "--out", tmp_path / "dl")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dl" / "test-clean.tar.gz").read_bytes() == payload
    bad = run_cli("download", "bad", "--registry", registry, "--out", tmp_path / "bad")
    assert_user_error(bad, "sha256 checksum mismatch", "0" * 64)
    assert not (tmp_path / "bad" / "test-clean.tar.gz").exists()
    assert_user_error(run_cli("download", "nope", "--registry", registry), "unknown artifact 'nope'")


def test_a_copied_model_takes_the_lm_its_decoding_file_borrows_from_another_model(tmp_path):
    from ctcasr.artifacts import copy_model

    models = tmp_path / "models"
    (models / "general").mkdir(parents=True)
    arpa = "\\data\\\nngram 1=3\n\n\\1-grams:\n-1 <s>\n-1 </s>\n-1 yes\n\n\\end\\\n"
    (models / "general" / "lm.arpa").write_text(arpa)
    (models / "other.pt").write_bytes(b"not read")
    (models / "other.decoding.yaml").write_text(yaml.safe_dump({"decoding": {"decoder": "beam",
                                                                              "lm": "general/lm.arpa"}}))
    copied = copy_model(models / "other.pt", tmp_path / "out")
    assert copied == tmp_path / "out" / "other.pt" and copied.read_bytes() == b"not read"
    assert (tmp_path / "out" / "general" / "lm.arpa").read_text() == (models / "general" / "lm.arpa").read_text()
    assert (tmp_path / "out" / "other.decoding.yaml").is_file()
