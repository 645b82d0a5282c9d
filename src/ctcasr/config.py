"""Recipe = dataclasses per section, read from YAML with `a.b=value` overrides; unknown keys are errors."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ctcasr.augment import AugmentConfig
from ctcasr.errors import UserError
from ctcasr.features import FeatureConfig
from ctcasr.models import model_config
from ctcasr.schema import build, limits
from ctcasr.text import DEFAULT_ALPHABET, OOV_POLICIES

SCHEDULES = ("onecycle", "cosine", "noam")
PRECISIONS = ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "64-true")


@dataclass
class DataConfig:
    corpus: str | list[str] | None = None  # prepared before training when manifests are missing ("an4", [..])
    parts: list[str] = field(default_factory=list)  # librispeech parts to prepare
    merge: list[str] = field(default_factory=list)  # librispeech merged manifests to write (train-960)
    root: str = "data"  # where corpora are prepared
    mirror: str | None = None  # local folder of archives (default: $CTCASR_MIRROR)
    train_manifest: str | list[str] = ""  # one manifest or several (multi-corpus training)
    train_weights: list[float] = field(default_factory=list, metadata=limits(0))  # per train manifest: passes
    #                                                                                per epoch (default 1)
    dev_manifest: str | list[str] = ""  # several: each reported on its own, the pooled WER picks the best epoch
    test_manifests: list[str] = field(default_factory=list)  # evaluated with the best checkpoint at the end
    batch_seconds: float = field(default=60.0, metadata=limits(0, low_open=True))  # padded audio per batch
    max_duration: float = field(default=30.0, metadata=limits(0, low_open=True))  # longer training utterances
    num_workers: int = field(default=1, metadata=limits(0))  #                        are skipped (and counted)


@dataclass
class TextConfig:
    units: str = field(default="char", metadata=limits(choices=("char", "bpe", "phone")))  # what the model emits
    alphabet: str = DEFAULT_ALPHABET  # char: the characters (space and apostrophe included)
    oov: str = field(default="error", metadata=limits(choices=OOV_POLICIES))  # error | drop | space
    vocab_size: int = field(default=128, metadata=limits(2))  # bpe: sentencepiece pieces (CTC adds the blank)
    bpe_type: str = field(default="bpe", metadata=limits(choices=("bpe", "unigram")))
    bpe_model: str | None = None  # bpe: an existing sentencepiece .model instead of training one
    lexicon: list[str] = field(default_factory=list)  # phone: lexicon files (WORD PH PH ...) or `cmudict`;
    #                                                   a word takes the first source's pronunciations
    keep_stress: bool = False  # phone: keep CMU stress digits (AH0 / AH1) as separate units
    missing: str = field(default="error", metadata=limits(choices=("error", "skip")))  # phone: training words
    #                                                   without a pronunciation: an error, or the utterance skipped


@dataclass
class OptimConfig:
    optimizer: str = field(default="adamw", metadata=limits(choices=("adamw", "adam", "sgd")))  # sgd: Nesterov,
    #                                                                            momentum betas[0]
    lr: float = field(default=1e-3, metadata=limits(0, low_open=True))  # peak learning rate
    weight_decay: float = field(default=1e-5, metadata=limits(0))
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_fraction: float = field(default=0.1, metadata=limits(0, 1, high_open=True))
    final_lr_fraction: float = field(default=0.01, metadata=limits(0, 1))
    grad_clip: float = field(default=5.0, metadata=limits(0))  # 0: no clipping
    schedule: str = field(default="onecycle", metadata=limits(choices=SCHEDULES))  # onecycle: warm-up from lr/25
    #   then cosine to lr * final_lr_fraction; cosine: linear warm-up from 0, then cosine; noam: linear warm-up,
    #   then lr * sqrt(warm-up steps / step) (Transformer/Conformer style)


@dataclass
class TrainerConfig:
    epochs: int = field(default=30, metadata=limits(1))
    out_dir: str = "runs/default"
    seed: int = 1234
    sortagrad: bool = True
    precision: str = field(default="auto", metadata=limits(choices=PRECISIONS))  # auto: fp32 on CPU, fp16 mixed
    accelerator: str = field(default="auto", metadata=limits(choices=("auto", "cpu", "gpu", "cuda", "mps")))
    devices: int | str = field(default=1, metadata=limits(-1))  # a count, -1 (all), "auto" or "0,1"
    num_nodes: int = field(default=1, metadata=limits(1))
    strategy: str = "auto"
    init_from: str | None = None  # a ctcasr checkpoint to start from (fine-tuning)
    log_every_n_steps: int = field(default=10, metadata=limits(1))
    examples: int = field(default=3, metadata=limits(0))  # dev examples written to TensorBoard each epoch
    max_steps: int = field(default=-1, metadata=limits(-1))  # stop early (tests, smoke runs)
    max_minutes: float | None = field(default=None, metadata=limits(0, low_open=True))  # a wall-clock budget:
    #   training stops when it is spent (size trainer.epochs to fit it, so the schedule anneals)
    limit_dev_batches: int | float = field(default=1.0, metadata=limits(0, low_open=True))
    threads: int = field(default=0, metadata=limits(0))  # torch CPU threads; 0 = torch's default
    mmap_threshold_kb: int = field(default=1024, metadata=limits(0))  # allocations this big get their own
    #   mapping (glibc): bounds heap fragmentation (ctcasr.memory); 0 = glibc's own adaptive threshold, which
    #   LSTM recipes want: oneDNN's fused LSTM page-faults on mapped activations (recipes/en_small_lstm.yaml)
    loggers: list[str] = field(default_factory=lambda: ["tensorboard"],
                               metadata=limits(choices=("tensorboard", "wandb")))  # wandb runs offline


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

    def model_settings(self, source: str | None = None):
        settings = dict(self.model)
        arch, preset = settings.pop("arch", "deepspeech2"), settings.pop("preset", None)
        return arch, model_config(arch, preset, settings, source)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


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
            raise UserError(f"recipe is not valid YAML ({' '.join(str(exc).split())})", path) from None
    if not isinstance(tree, dict):
        raise UserError(f"a recipe must be a mapping of sections (data:, model:, ...), got {type(tree).__name__}",
                        source)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        if not key.strip() or any(not part for part in key.strip().split(".")):
            raise UserError(f"override {item!r}: {key!r} is not a dotted key like trainer.epochs")
        try:
            parsed = yaml.safe_load(value) if value else None
        except yaml.YAMLError as exc:
            raise UserError(f"override {item!r}: the value is not valid YAML ({str(exc).splitlines()[0]})") from None
        _set(tree, key.strip(), parsed)
    recipe = build(Recipe, tree, "", source, "recipe key")
    recipe.model_settings(source)  # validates model keys now, not mid-training
    _check_recipe(recipe, source)
    return recipe


def _check_recipe(recipe: Recipe, source: str) -> None:
    """Checks that involve several keys."""
    d, o = recipe.data, recipe.optim
    if d.train_weights and len(d.train_weights) != len(recipe.train_manifests):
        raise UserError(f"data.train_weights has {len(d.train_weights)} values for {len(recipe.train_manifests)} "
                        "training manifests", source)
    devices = recipe.trainer.devices
    if isinstance(devices, str) and devices != "auto" and not all(p.strip().isdigit() for p in devices.split(",")):
        raise UserError(f"trainer.devices must be a count, -1, \"auto\" or a list like \"0,1\"; got {devices!r}",
                        source)
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise UserError(f"optim.betas must be two numbers in [0, 1), got {o.betas}", source)
    for name, pair in (("augment.speeds", recipe.augment.speeds), ("augment.gain_db", recipe.augment.gain_db),
                       ("augment.noise_snr_db", recipe.augment.noise_snr_db),
                       ("augment.reverb_rt60", recipe.augment.reverb_rt60),
                       ("augment.vtlp_range", recipe.augment.vtlp_range),
                       ("augment.crop_words", recipe.augment.crop_words)):
        if len(pair) != 2 or pair[0] > pair[1]:
            raise UserError(f"{name} must be a range [low, high], got {pair}", source)
    if any(f <= 0 for f in (*recipe.augment.speeds, *recipe.augment.vtlp_range, *recipe.augment.reverb_rt60)):
        raise UserError("augment.speeds, augment.vtlp_range and augment.reverb_rt60 must be positive", source)
