"""User-facing errors: the CLI prints them as one `error: ...` line and exits with code 2."""

from __future__ import annotations

import os


class UserError(Exception):
    """A problem with the user's input (a file, a recipe, an argument), not a bug in ctcasr."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
