"""One module per corpus; each has `prepare(out_dir, mirror=None) -> dict[split, manifest path]`."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ctcasr.errors import UserError

CORPORA = ("an4",)


def prepare_corpus(name: str, out_dir: str | os.PathLike, mirror: str | os.PathLike | None = None) -> dict[str, Path]:
    if name not in CORPORA:
        raise UserError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    return importlib.import_module(f"ctcasr.data.corpora.{name}").prepare(out_dir, mirror)
