"""One module per corpus; each has `prepare(out_dir, ...) -> dict[split or part, manifest path]`."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ctcasr.errors import UserError

CORPORA = ("an4", "librispeech", "libritts", "ljspeech", "speechocean762", "custom")


def prepare_corpus(corpus: str, out_dir: str | os.PathLike, mirror: str | os.PathLike | None = None,
                   **options) -> dict[str, Path]:
    """Prepare `corpus`; `options` go to its module (parts / merge, or folder / allow_missing)."""
    if corpus not in CORPORA:
        raise UserError(f"unknown corpus {corpus!r}; known: {', '.join(CORPORA)}")
    module = importlib.import_module(f"ctcasr.data.corpora.{corpus}")
    if corpus == "custom":
        return module.prepare(out_dir, **options)
    return module.prepare(out_dir, mirror, **options)
