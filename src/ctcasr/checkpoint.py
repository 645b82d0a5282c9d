"""A ctcasr checkpoint is one self-contained file: model config, tokenizer, feature settings, weights, metadata."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from ctcasr.errors import UserError
from ctcasr.features import FeatureConfig
from ctcasr.files import atomic_path
from ctcasr.models import model_config
from ctcasr.models.asr import ASRModel
from ctcasr.text import CharTokenizer

FORMAT = "ctcasr-checkpoint"
VERSION = 1


def checkpoint_dict(model: ASRModel, metadata: dict | None = None) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": model.arch,
        "model": dataclasses.asdict(model.encoder.config),
        "features": dataclasses.asdict(model.features.config),
        "tokenizer": model.tokenizer.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.encoder.state_dict().items()},
        "metadata": metadata or {},
    }


def save_checkpoint(path: str | os.PathLike, model: ASRModel, metadata: dict | None = None) -> None:
    """Write atomically: a crash never leaves a half checkpoint under `path`."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint_dict(model, metadata), tmp)


def read_checkpoint(path: str | os.PathLike) -> dict:
    if not Path(path).is_file():
        raise UserError("checkpoint does not exist", path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises many kinds on foreign files
        raise UserError(f"not a ctcasr checkpoint (cannot be read: {str(exc).splitlines()[0][:120]})", path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError("not a ctcasr checkpoint (no ctcasr format marker)", path)
    if data.get("version", 0) > VERSION:
        raise UserError(f"checkpoint version {data['version']} is newer than this ctcasr understands", path)
    return data


def model_from_dict(data: dict) -> ASRModel:
    config = model_config(data["arch"], None, data["model"])
    model = ASRModel(data["arch"], config, FeatureConfig(**data["features"]),
                     CharTokenizer.from_dict(data["tokenizer"]))
    model.encoder.load_state_dict(data["state_dict"])
    return model


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> ASRModel:
    """Rebuild tokenizer, features and model from a checkpoint file, in eval mode."""
    data = read_checkpoint(path)
    model = model_from_dict(data)
    model.metadata = data.get("metadata", {})
    return model.to(device).eval()
