"""Atomic file writes: write under a temporary name in the same folder, rename when complete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path (same folder and suffix) that replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def check_output_file(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when `path` cannot be written: a folder, under a file, or not writable."""
    from ctcasr.errors import UserError

    path = Path(path)
    if path.is_dir():
        raise UserError("output path is a folder; give a file name", path)
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise UserError(f"cannot write here: {folder} is a file, not a folder", path)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise UserError(f"cannot write here: no permission to write in {folder}", path)
            break
    return path


def check_output_dir(path: str | os.PathLike) -> Path:
    """Like `check_output_file`, for a folder that will be created or filled."""
    from ctcasr.errors import UserError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError("output folder is a file", path)
    check_output_file(path / "probe")
    return path


def utf8_lines(data: bytes | str | os.PathLike, where: str | os.PathLike | None = None) -> list[str]:
    """The lines of a file (or of `bytes`), each decoded as UTF-8; a bad line is a UserError naming it."""
    from ctcasr.errors import UserError

    if not isinstance(data, bytes):
        where = where or data
        data = Path(data).read_bytes()
    lines = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"line {number} is not valid UTF-8", where) from None
    return lines


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for C libraries that print there (mpg123's resync notes, KenLM's advice);
    Python exceptions still carry the errors."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
