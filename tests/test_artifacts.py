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
