"""Reading torch files that may come from anywhere: unpickled with `weights_only` (no code can run), every
failure one `UserError`."""

from __future__ import annotations

import os
import warnings

from ctcasr.errors import UserError


def first_sentence(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line, cut at a word boundary when it is long."""
    text = " ".join(str(exc).splitlines()[0].split()) if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def safe_load(path: str | os.PathLike, refusal: str) -> object:
    """`torch.load(path)` on the CPU with `weights_only`; a file it cannot read is `refusal (cannot be read safely:
    why)`."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises many kinds on foreign or damaged files
        raise UserError(f"{refusal} (cannot be read safely: {first_sentence(exc)})", path) from None


def load_marked(path: str | os.PathLike, marker: str, refusal: str) -> dict:
    """The dictionary saved in `path` whose "format" is `marker`; anything else is `refusal (...)`."""
    data = safe_load(path, refusal)
    if not isinstance(data, dict) or data.get("format") != marker:
        raise UserError(f"{refusal} (no {marker} format marker)", path)
    return data
