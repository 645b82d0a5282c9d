"""Decoding settings as a YAML file (`tune-lm` writes one; `--decoding FILE` reads it), and the one kept beside a
model: `models/an4_ds2.pt` -> `models/an4_ds2.decoding.yaml`, which `transcribe` uses unless told otherwise."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

from ctcasr.decoding import DecoderConfig
from ctcasr.errors import UserError
from ctcasr.files import write_text

FIELDS = {f.name for f in dataclasses.fields(DecoderConfig)}


def model_decoding_path(model_path: str | os.PathLike) -> Path:
    path = Path(model_path)
    return path.with_name(f"{path.stem}.decoding.yaml")


def load_decoding(path: str | os.PathLike, **overrides) -> DecoderConfig:
    """A DecoderConfig from a YAML file; a relative `lm` is relative to the file. Non-None overrides win."""
    path = Path(path)
    if not path.is_file():
        raise UserError("decoding settings file does not exist", path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"not valid YAML ({str(exc).splitlines()[0]})", path) from None
    if not isinstance(data, dict) or not isinstance(data.get("decoding"), dict):
        raise UserError("expected a `decoding:` mapping", path)
    settings = data["decoding"]
    unknown = sorted(set(settings) - FIELDS)
    if unknown:
        raise UserError(f"unknown decoding settings {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}", path)
    if settings.get("lm") and not Path(settings["lm"]).is_absolute():
        settings["lm"] = str(path.parent / settings["lm"])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return DecoderConfig(**settings)
    except TypeError as exc:
        raise UserError(f"bad decoding settings ({exc})", path) from None


def save_decoding(path: str | os.PathLike, config: DecoderConfig, info: dict | None = None) -> None:
    """Write `config` (its LM path relative to the file when it can be) and `info` (how it was chosen)."""
    path = Path(path)
    settings = dataclasses.asdict(config)
    if config.lm:
        lm = Path(config.lm).resolve()
        settings["lm"] = os.path.relpath(lm, path.parent.resolve())
    text = yaml.safe_dump({"decoding": settings, **({"tuned": info} if info else {})}, sort_keys=False)
    write_text(path, text)
