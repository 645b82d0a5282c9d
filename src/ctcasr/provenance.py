"""Where a number came from: the commit and the machine, recorded in checkpoints and results files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    torch = sys.modules.get("torch")  # only asked when already loaded: the ONNX path runs without PyTorch
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch is not None and torch.cuda.is_available() else ""
    return f"{socket.gethostname()}: {os.cpu_count()} cores, {cpu}{gpu}"


def git_commit(path: str | Path = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True,
                             check=True, timeout=10)
        # results files, shipped models / LMs / decoding settings and the README are outputs of the tools, not
        # code: they do not make a run "dirty"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results",
                                ":!models", ":!README.md"], cwd=path, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def stamp(started: float, argv: list[str] | None = None) -> dict:
    """What every results file records besides its numbers: commit, date, machine, wall time, the command."""
    import shlex
    import time
    from datetime import datetime, timezone

    argv = sys.argv if argv is None else argv
    return {"commit": git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_description(), "wall_s": round(time.time() - started, 1),
            "command": shlex.join(["python", *argv])}
