"""Shared fixtures: the real AN4 corpus prepared once per session from the mirror folder."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("CTCASR_TEST_MIRROR", REPO.parent / "shared" / "data"))
# the session's own ctcasr cache (checkpoints' ONNX exports, downloaded models), inherited by every command it runs
os.environ["CTCASR_HOME"] = tempfile.mkdtemp(prefix="ctcasr-test-home-")
atexit.register(shutil.rmtree, os.environ["CTCASR_HOME"], ignore_errors=True)


def require_mirror(name: str = "an4_raw.bigendian.tar.gz") -> Path:
    """The mirror folder; skips on a user's machine without it, fails under CI=true."""
    if not (MIRROR / name).is_file():
        reason = f"mirror archive {MIRROR / name} not found (set CTCASR_TEST_MIRROR)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason + " — data tests may not be skipped in CI")
        pytest.skip(reason)
    return MIRROR


@pytest.fixture(scope="session")
def mirror() -> Path:
    return require_mirror()


@pytest.fixture(scope="session")
def an4(mirror, tmp_path_factory) -> dict[str, Path]:
    """{split: manifest} of AN4 prepared from the mirror."""
    from ctcasr.data.corpora import an4 as corpus

    return corpus.prepare(tmp_path_factory.mktemp("data"), mirror)


@pytest.fixture(scope="session")
def an4_items(an4):
    from ctcasr.data.manifest import read_manifest

    return {split: read_manifest(path) for split, path in an4.items()}


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> Path:
    """A real, untrained ctcasr checkpoint of a tiny model (for plumbing tests, not quality)."""
    import torch

    from ctcasr.checkpoint import save_checkpoint
    from ctcasr.config import load_recipe
    from ctcasr.training import build_asr_model

    torch.manual_seed(0)
    model = build_asr_model(load_recipe(None, ["model.preset=ds2_tiny"])).eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, {"note": "untrained"})
    return path


class _ForkServer:
    """One `tests/forkserver.py` process: commands run as children forked from it (imports paid once)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(REPO / "tests" / "forkserver.py")], text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if self.process.stdout.readline() != "ready\n":
            raise RuntimeError("the fork server did not start")

    def run(self, args: list[str], cwd: Path | None, timeout: float, env: dict) -> subprocess.CompletedProcess:
        request = {"args": args, "cwd": str(cwd) if cwd else None, "timeout": timeout, "env": env}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        argv = [sys.executable, "-m", "ctcasr.cli", *args]
        if answer["timed_out"]:
            raise subprocess.TimeoutExpired(argv, timeout, answer["stdout"], answer["stderr"])
        return subprocess.CompletedProcess(argv, answer["returncode"], answer["stdout"], answer["stderr"])


_IDLE: list[_ForkServer] = []
_IDLE_LOCK = threading.Lock()
_ALL: list[_ForkServer] = []
# read once by native libraries when they load: a command with one of these gets a fresh interpreter
_LOAD_TIME_ENV = ("OMP_", "MKL_", "KMP_", "CUDA_", "PYTHON", "LD_", "THP_", "ONEDNN_")


@atexit.register
def _stop_fork_servers() -> None:
    for server in _ALL:
        server.process.kill()


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None):
    """Run the real `ctcasr` command in a child process: forked from a fork server that has the heavy imports
    done (see tests/forkserver.py), or a fresh interpreter when `env` sets a variable read at library load or
    CTCASR_TEST_FRESH=1."""
    args = [str(a) for a in args]
    env = env or {}
    if os.environ.get("CTCASR_TEST_FRESH") == "1" or any(k.startswith(_LOAD_TIME_ENV) for k in env):
        return subprocess.run([sys.executable, "-m", "ctcasr.cli", *args], capture_output=True, text=True,
                              cwd=cwd, timeout=timeout, env={**os.environ, **env})
    with _IDLE_LOCK:
        server = _IDLE.pop() if _IDLE else None
    if server is None:
        server = _ForkServer()
        _ALL.append(server)
    try:
        return server.run(args, cwd, timeout, env)
    except subprocess.TimeoutExpired:
        raise  # the server killed that child and is ready for the next
    except BaseException:
        server.process.kill()
        server = None
        raise
    finally:
        if server is not None:
            with _IDLE_LOCK:
                _IDLE.append(server)


def assert_user_error(result, *fragments: str) -> None:
    """Exit code 2 and exactly one `error: ...` line that mentions every fragment; no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
