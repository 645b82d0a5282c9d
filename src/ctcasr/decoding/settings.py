"""Decoding settings as a YAML file (`tune-lm` writes one; `--decoding FILE` reads it), and the one kept beside a
model: `models/an4_ds2.pt` -> `models/an4_ds2.decoding.yaml`, which `transcribe` uses unless told otherwise."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import yaml

from ctcasr.decoding import DecoderConfig, check_config
from ctcasr.errors import UserError
from ctcasr.files import write_text
from ctcasr.schema import build


def model_decoding_path(model_path: str | os.PathLike) -> Path:
    """MODEL.decoding.yaml beside a checkpoint; model.decoding.yaml inside an exported model folder."""
    path = Path(model_path)
    if path.is_dir():
        return path / "model.decoding.yaml"
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
    config = build(DecoderConfig, data["decoding"], "decoding", str(path), "decoding setting")
    for key in ("lm", "rescore_lm", "hotwords"):  # relative paths are relative to the settings file
        value = getattr(config, key)
        if value and not Path(value).is_absolute():
            setattr(config, key, str(path.parent / value))
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    return check_config(config, str(path))


def save_decoding(path: str | os.PathLike, config: DecoderConfig, info: dict | None = None) -> None:
    """Write `config` (its LM path relative to the file when it can be) and `info` (how it was chosen)."""
    path = Path(path)
    settings = dataclasses.asdict(config)
    for key in ("lm", "rescore_lm", "hotwords"):
        if settings[key]:
            settings[key] = os.path.relpath(Path(settings[key]).resolve(), path.parent.resolve())
    text = yaml.safe_dump({"decoding": settings, **({"tuned": info} if info else {})}, sort_keys=False)
    write_text(path, text)


def without_unavailable_lm(config: DecoderConfig, source: str | os.PathLike) -> DecoderConfig:
    """A model's own decoding file names an n-gram LM, but kenlm is not installed (a plain `pip install`): keep
    the beam search, drop the n-gram LM(s), and say so in one warning line. An explicit `--lm` still errors."""
    from ctcasr.decoding.lm import kenlm_available

    if kenlm_available() or not (config.lm or config.rescore_lm):
        return config
    from ctcasr.decoding.neural_lm import is_neural_lm

    neural = config.rescore_lm and Path(config.rescore_lm).is_file() and is_neural_lm(config.rescore_lm)
    rescore = config.rescore_lm if neural else None
    print(f"warning: {source}: names an n-gram LM but the kenlm package is not installed (pip install "
          "'ctcasr[lm]'); decoding with the beam search without it", file=sys.stderr)
    return dataclasses.replace(config, lm=None, rescore_lm=rescore, lexicon=False,
                               decoder="beam" if config.decoder == "flashlight" else config.decoder)
