"""Recipe = dataclasses per section, read from YAML with `a.b=value` overrides; unknown keys are errors."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ctcasr.augment import AugmentConfig
from ctcasr.errors import UserError
from ctcasr.features import FeatureConfig
from ctcasr.models import model_config
from ctcasr.text import DEFAULT_ALPHABET


@dataclass
class DataConfig:
    corpus: str | list[str] | None = None  # prepared before training when manifests are missing ("an4", [..])
    parts: list[str] = field(default_factory=list)  # librispeech parts to prepare
    merge: list[str] = field(default_factory=list)  # librispeech merged manifests to write (train-960)
    root: str = "data"  # where corpora are prepared
    mirror: str | None = None  # local folder of archives (default: $CTCASR_MIRROR)
    train_manifest: str | list[str] = ""  # one manifest or several (multi-corpus training)
    train_weights: list[float] = field(default_factory=list)  # per train manifest: passes per epoch (default 1)
    dev_manifest: str | list[str] = ""  # several: each reported on its own, the pooled WER picks the best epoch
    test_manifests: list[str] = field(default_factory=list)  # evaluated with the best checkpoint at the end
    batch_seconds: float = 60.0  # padded audio per batch (per device)
    max_duration: float = 30.0  # longer training utterances are skipped (and counted)
    num_workers: int = 1


@dataclass
class TextConfig:
    alphabet: str = DEFAULT_ALPHABET
    oov: str = "error"  # error | drop | space


@dataclass
class OptimConfig:
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 1e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_fraction: float = 0.1
    final_lr_fraction: float = 0.01
    grad_clip: float = 5.0


@dataclass
class TrainerConfig:
    epochs: int = 30
    out_dir: str = "runs/default"
    seed: int = 1234
    sortagrad: bool = True
    precision: str = "auto"  # auto: fp32 on CPU, fp16 mixed (or bf16 where supported) on GPU
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    init_from: str | None = None  # a ctcasr checkpoint to start from (fine-tuning)
    log_every_n_steps: int = 10
    examples: int = 3  # dev examples written to TensorBoard each epoch
    max_steps: int = -1  # stop early (tests, smoke runs)
    limit_dev_batches: float | int = 1.0
    threads: int = 0  # torch CPU threads; 0 = torch's default


@dataclass
class Recipe:
    name: str = "ctcasr"
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: dict[str, Any] = field(default_factory=lambda: {"arch": "deepspeech2", "preset": "ds2_an4_cpu"})
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    @property
    def train_manifests(self) -> list[str]:
        return as_list(self.data.train_manifest)

    @property
    def dev_manifests(self) -> list[str]:
        return as_list(self.data.dev_manifest)

    def model_settings(self):
        settings = dict(self.model)
        arch, preset = settings.pop("arch", "deepspeech2"), settings.pop("preset", None)
        return arch, model_config(arch, preset, settings)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    """Build dataclass `cls` from a mapping, naming the first unknown key with its dotted path."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise UserError(f"recipe section {where or 'top level'!r} must be a mapping", source)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise UserError(f"unknown recipe key {path!r} (known here: {', '.join(sorted(names))})", source)
        kind = _dataclass_in(hints[key])
        kwargs[key] = _build(kind, value, path, source) if kind and value is not None else value
    return cls(**kwargs)


def _dataclass_in(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg):
                return arg
    return None


def _set(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise UserError(f"override {dotted!r}: {key!r} is not a section")
        node = child
    node[keys[-1]] = value


def load_recipe(path: str | os.PathLike | None, overrides: list[str] = ()) -> Recipe:
    """Read a YAML recipe (or start from defaults), apply `a.b=value` overrides (YAML values), validate."""
    tree: dict = {}
    source = str(path) if path else "<defaults>"
    if path is not None:
        if not Path(path).is_file():
            raise UserError("recipe does not exist", path)
        try:
            tree = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UserError(f"recipe is not valid YAML ({exc})", path) from None
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        _set(tree, key.strip(), yaml.safe_load(value) if value else None)
    recipe = _build(Recipe, tree, "", source)
    recipe.model_settings()  # validates model keys now, not mid-training
    return recipe
