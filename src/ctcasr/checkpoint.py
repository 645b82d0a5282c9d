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
from ctcasr.schema import build
from ctcasr.torch_files import load_marked
from ctcasr.units import tokenizer_from_dict

FORMAT = "ctcasr-checkpoint"
VERSION = 2  # 2: weights named by module (encoder.*, head.*); 1: DeepSpeech2 with its output layer inside


def checkpoint_dict(model: ASRModel, metadata: dict | None = None) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": model.arch,
        "model": dataclasses.asdict(model.encoder.config),
        "features": dataclasses.asdict(model.features.config),
        "tokenizer": model.tokenizer.to_dict(),
        "state_dict": model.weights(),
        "metadata": metadata or {},
    }


def save_checkpoint(path: str | os.PathLike, model: ASRModel, metadata: dict | None = None) -> None:
    """Write atomically: a crash never leaves a half checkpoint under `path`."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint_dict(model, metadata), tmp)


SCHEMA = {"arch": str, "model": dict, "features": dict, "tokenizer": dict, "state_dict": dict}


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's dictionary, unpickled with `weights_only` (no code can run), its schema checked."""
    if not Path(path).is_file():
        raise UserError("checkpoint does not exist", path)
    if Path(path).stat().st_size == 0:
        raise UserError("not a ctcasr checkpoint (the file is empty)", path)
    data = load_marked(path, FORMAT, "not a ctcasr checkpoint")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise UserError(f"checkpoint version must be a whole number, got {version!r}", path)
    if version > VERSION:
        raise UserError(f"checkpoint version {version} is newer than this ctcasr understands ({VERSION})", path)
    for key, kind in SCHEMA.items():
        if not isinstance(data.get(key), kind):
            raise UserError(f"checkpoint is damaged: {key!r} is missing or not a {kind.__name__}", path)
    return data


def model_from_dict(data: dict, source: str | os.PathLike | None = None) -> ASRModel:
    """Rebuild the model; each section is checked and a weights mismatch is explained in sizes."""
    where = str(source) if source else None
    config = model_config(data["arch"], None, data["model"], where)
    features = build(FeatureConfig, data["features"], "features", where)
    tokenizer = tokenizer_from_dict(data["tokenizer"], where)
    model = ASRModel(data["arch"], config, features, tokenizer)
    load_weights(model, upgrade_weights(data["state_dict"]), where)
    return model


def upgrade_weights(state_dict: dict) -> dict:
    """Version-1 checkpoints (DeepSpeech2 only) named the encoder's tensors without a prefix and kept the CTC
    projection inside it as `output.*`; name them as the model has them now."""
    if any(k.startswith(("encoder.", "head.")) for k in state_dict):
        return state_dict
    return {(f"head.{k}" if k.startswith("output.") else f"encoder.{k}"): v for k, v in state_dict.items()}


def load_weights(module: torch.nn.Module, state_dict: dict, source: str | None = None) -> None:
    """`load_state_dict`, with a mismatch explained as the tensors' shapes (or names) that differ."""
    own = {k: v for k, v in module.state_dict().items() if not k.startswith("features.")}
    try:
        module.load_state_dict(state_dict)
    except RuntimeError:
        shapes = [f"{k}: has {tuple(v.shape)}, needs {tuple(own[k].shape)}" for k, v in state_dict.items()
                  if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
        missing = sorted(set(own) - set(state_dict))
        detail = "; ".join(shapes[:3]) or (f"missing {', '.join(missing[:3])}" if missing else "names differ")
        raise UserError(f"weights do not fit the model they describe ({detail})", source) from None


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> ASRModel:
    """Rebuild tokenizer, features and model from a checkpoint file, in eval mode."""
    data = read_checkpoint(path)
    model = model_from_dict(data, path)
    model.metadata = data.get("metadata", {}) if isinstance(data.get("metadata"), dict) else {}
    return model.to(device).eval()
