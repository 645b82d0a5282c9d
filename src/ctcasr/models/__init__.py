"""Model families (encoders) behind one interface, and their presets.

A recipe's `model:` section names `arch` and optionally a `preset` of that architecture, then overrides single
settings under `encoder:` (nested: `model.encoder.attention.heads=8`). DeepSpeech2's settings may also be given at
the top of the section, as recipes written before the encoder interface do.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ctcasr.errors import UserError
from ctcasr.models.conformer import Conformer, ConformerConfig
from ctcasr.models.deepspeech2 import DeepSpeech2, DeepSpeech2Config
from ctcasr.models.encoder import CTCHead, Encoder
from ctcasr.models.quartznet import QuartzNet, QuartzNetConfig
from ctcasr.schema import build

__all__ = ["ARCHITECTURES", "PRESETS", "CTCHead", "Encoder", "Family", "build_encoder", "model_config"]


@dataclass(frozen=True)
class Family:
    encoder: type[Encoder]
    config: type


ARCHITECTURES: dict[str, Family] = {
    "deepspeech2": Family(DeepSpeech2, DeepSpeech2Config),
    "quartznet": Family(QuartzNet, QuartzNetConfig),
    "conformer": Family(Conformer, ConformerConfig),
}


def _qn_body(channels: list[int], kernels: list[int], repeat: int, dropout: float = 0.0) -> list[dict]:
    return [{"channels": c, "kernel": k, "repeat": repeat, "dropout": dropout}
            for c, k in zip(channels, kernels, strict=True)]


_QN_KERNELS = [33, 39, 51, 63, 75]

# Named sizes per architecture; a recipe picks one with `model.preset` and overrides single fields.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "deepspeech2": {
        # OpenSeq2Seq DeepSpeech2: 2 conv layers, 5 x 800 bidirectional GRU (the original's sizes).
        "ds2_openseq2seq": {"conv_channels": [32, 32], "rnn_type": "gru", "rnn_hidden": 800, "rnn_layers": 5},
        # Sized to train AN4 in about an hour on a 2-core CPU.
        "ds2_an4_cpu": {"conv_channels": [32, 32], "rnn_type": "gru", "rnn_hidden": 256, "rnn_layers": 3},
        # For smoke tests: seconds per epoch.
        "ds2_tiny": {"conv_channels": [8, 8], "rnn_type": "gru", "rnn_hidden": 32, "rnn_layers": 1},
    },
    "quartznet": {
        # QuartzNet 5x5 (6.7 M parameters with 29 characters) and 15x5 (18.9 M), as published.
        "quartznet5x5": {"body": _qn_body([256, 256, 512, 512, 512], _QN_KERNELS, 5), "block_repeat": 1},
        "quartznet15x5": {"body": _qn_body([256, 256, 512, 512, 512], _QN_KERNELS, 5), "block_repeat": 3},
        # Jasper-style: full (not separable) convolutions, fewer and narrower blocks than Jasper 10x5.
        "jasper5x3": {
            "prolog": {"channels": 256, "kernel": 11, "repeat": 1, "stride": 2, "residual": False,
                       "separable": False},
            "body": [{"channels": c, "kernel": k, "repeat": 3, "separable": False, "dropout": d}
                     for c, k, d in ((256, 11, 0.2), (384, 13, 0.2), (512, 17, 0.2), (640, 21, 0.3),
                                     (768, 25, 0.3))],
            "epilog": [{"channels": 896, "kernel": 29, "repeat": 1, "dilation": 2, "residual": False,
                        "separable": False, "dropout": 0.4},
                       {"channels": 1024, "kernel": 1, "repeat": 1, "residual": False, "dropout": 0.4}]},
        # Sized to train AN4 on a 2-core CPU: narrower, shorter kernels, 3 sub-blocks per block.
        "quartznet_an4_cpu": {
            "prolog": {"channels": 192, "kernel": 33, "repeat": 1, "stride": 2, "residual": False},
            "body": _qn_body([192, 192, 256, 256, 256], _QN_KERNELS, 3, 0.1),
            "epilog": [{"channels": 256, "kernel": 87, "repeat": 1, "dilation": 2, "residual": False,
                        "dropout": 0.1},
                       {"channels": 512, "kernel": 1, "repeat": 1, "residual": False, "dropout": 0.1}]},
        "quartznet_tiny": {
            "prolog": {"channels": 16, "kernel": 11, "repeat": 1, "stride": 2, "residual": False},
            "body": _qn_body([16, 16], [11, 13], 2), "epilog": [{"channels": 32, "kernel": 1, "repeat": 1,
                                                                   "residual": False}]},
    },
    "conformer": {
        # Conformer-CTC small (about 13 M parameters, as NeMo's small CTC model).
        "conformer_small": {"d_model": 176, "layers": 16, "conv_kernel": 31, "subsampling": {"channels": 176},
                            "attention": {"heads": 4}},
        # Sized to train AN4 on a 2-core CPU.
        "conformer_an4_cpu": {"d_model": 144, "layers": 8, "conv_kernel": 15, "subsampling": {"channels": 144},
                              "attention": {"heads": 4}},
        "conformer_tiny": {"d_model": 32, "layers": 1, "ff_mult": 2, "conv_kernel": 7,
                           "subsampling": {"channels": 8}, "attention": {"heads": 2}},
    },
}


def merge(base: dict, changes: dict) -> dict:
    """`base` with `changes` applied; nested mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def model_config(arch: str, preset: str | None, overrides: dict, source: str | None = None):
    """The config of `arch`: `preset`'s values, then `overrides` (flat, or nested under `encoder`), each type- and
    range-checked; errors name the dotted key (`model.encoder.attention.heads`)."""
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise UserError(f"unknown model architecture {arch!r}; known: {', '.join(ARCHITECTURES)}", source)
    if not isinstance(preset, str | None):
        raise UserError(f"model.preset must be a name, got {preset!r}", source)
    presets = PRESETS[arch]
    if preset is not None and preset not in presets:
        other = next((a for a, p in PRESETS.items() if preset in p), None)
        hint = f" (it is a {other} preset; set model.arch: {other})" if other else ""
        raise UserError(f"unknown {arch} preset {preset!r}{hint}; known: {', '.join(presets)}", source)
    overrides = dict(overrides)
    nested = overrides.pop("encoder", None) or {}
    if not isinstance(nested, dict):
        raise UserError(f"model.encoder must be a mapping of settings, got {nested!r}", source)
    merged = merge(merge(presets.get(preset, {}), overrides), nested)
    config = build(ARCHITECTURES[arch].config, merged, "model.encoder", source, "model setting")
    try:
        config.validate()
    except UserError as exc:
        raise UserError(str(exc), source) from None
    return config


def build_encoder(arch: str, config, n_mels: int) -> Encoder:
    return ARCHITECTURES[arch].encoder(config, n_mels)
