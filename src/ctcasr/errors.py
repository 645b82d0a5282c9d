"""User-facing errors: the CLI prints them as one `error: ...` line and exits with code 2."""

from __future__ import annotations

import os


class UserError(Exception):
    """A problem with the user's input (a file, a recipe, an argument), not a bug in ctcasr."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


def one_line(exc: BaseException) -> str:
    """The message of a UserError, also when a DataLoader worker re-raised it with the worker's traceback."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught "):
        last = lines[-1]
        return last.split(": ", 1)[1] if last.startswith(("ctcasr.errors.UserError", "UserError")) else last
    return " ".join(line.strip() for line in lines)
