"""Acoustic models and their presets."""

from __future__ import annotations

from dataclasses import fields

from torch import nn

from ctcasr.errors import UserError
from ctcasr.models.deepspeech2 import DeepSpeech2, DeepSpeech2Config
from ctcasr.schema import build

# Named sizes; a recipe picks one with `model.preset` and overrides single fields.
PRESETS: dict[str, dict] = {
    # OpenSeq2Seq DeepSpeech2: 2 conv layers, 5 x 800 bidirectional GRU (the original's sizes).
    "ds2_openseq2seq": {"conv_channels": [32, 32], "rnn_type": "gru", "rnn_hidden": 800, "rnn_layers": 5},
    # Sized to train AN4 in about an hour on a 2-core CPU.
    "ds2_an4_cpu": {"conv_channels": [32, 32], "rnn_type": "gru", "rnn_hidden": 256, "rnn_layers": 3},
    # For smoke tests: seconds per epoch.
    "ds2_tiny": {"conv_channels": [8, 8], "rnn_type": "gru", "rnn_hidden": 32, "rnn_layers": 1},
}
ARCHITECTURES = {"deepspeech2": (DeepSpeech2, DeepSpeech2Config)}


def model_config(arch: str, preset: str | None, overrides: dict, source: str | None = None) -> DeepSpeech2Config:
    """The config of `arch`: `preset`'s values, then `overrides`, each type- and range-checked."""
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise UserError(f"unknown model architecture {arch!r}; known: {', '.join(ARCHITECTURES)}", source)
    if not isinstance(arch, str) or not isinstance(preset, str | None):
        raise UserError(f"model.arch and model.preset must be names, got {arch!r} and {preset!r}", source)
    if preset is not None and preset not in PRESETS:
        raise UserError(f"unknown model preset {preset!r}; known: {', '.join(PRESETS)}", source)
    config_cls = ARCHITECTURES[arch][1]
    known = {f.name for f in fields(config_cls)}
    merged = {**PRESETS.get(preset, {}), **overrides}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise UserError(f"unknown model setting {unknown[0]!r} for {arch}; known: {', '.join(sorted(known))}",
                        source)
    config = build(config_cls, merged, "model", source)
    try:
        config.validate()
    except UserError as exc:
        raise UserError(str(exc), source) from None
    return config


def build_model(arch: str, config: DeepSpeech2Config, n_mels: int, vocab_size: int) -> nn.Module:
    return ARCHITECTURES[arch][0](config, n_mels, vocab_size)
