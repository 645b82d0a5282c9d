"""Training with Lightning: CTC loss, AdamW + one-cycle schedule, duration batches, checkpoints, logs, curves.

Lightning supplies DDP (multi-GPU, multi-node, CPU gloo), mixed precision and resumable trainer state
(`run/lightning/last.ckpt`). ctcasr's own self-contained checkpoints (`run/last.pt`, `run/best.pt`) are
exported after every validation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader

from ctcasr.augment import WaveAugment
from ctcasr.checkpoint import load_weights, read_checkpoint, save_checkpoint, upgrade_weights
from ctcasr.config import Recipe, as_list
from ctcasr.data.dataset import DurationBatchSampler, SpeechDataset, collate, seed_worker
from ctcasr.data.download import file_digest
from ctcasr.data.manifest import read_manifest
from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.errors import UserError
from ctcasr.evaluation import ErrorCounts, char_errors, word_errors
from ctcasr.features import SpecAugment
from ctcasr.files import atomic_path, check_output_dir, write_json
from ctcasr.memory import map_large_allocations, peak_rss_children_mb, peak_rss_mb
from ctcasr.models.asr import ASRModel
from ctcasr.provenance import git_commit, machine_description
from ctcasr.text import oov_summary
from ctcasr.torch_files import safe_load
from ctcasr.units import Tokenizer, tokenizer_from_dict
from ctcasr.units.build import build_tokenizer


def build_asr_model(recipe: Recipe, tokenizer: Tokenizer | None = None) -> ASRModel:
    arch, config = recipe.model_settings()
    tokenizer = tokenizer or build_tokenizer(recipe.text, lambda: training_texts(recipe))
    return ASRModel(arch, config, recipe.features, tokenizer)


def run_tokenizer(recipe: Recipe, run_dir: Path, resume: bool) -> Tokenizer:
    """The run's tokenizer: built when the run starts (subword units are trained) and kept in the run folder, so
    a resumed run uses the very same units."""
    path = run_dir / "tokenizer.json"
    if resume and path.is_file():
        return tokenizer_from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
    tokenizer = build_tokenizer(recipe.text, lambda: training_texts(recipe))
    write_json(path, tokenizer.to_dict())
    return tokenizer


def training_texts(recipe: Recipe) -> Iterator[str]:
    """The transcripts of the training manifests (subword units and phone-word counts are learnt from them)."""
    for manifest in recipe.train_manifests:
        for item in read_manifest(manifest):
            yield item.text


class CTCTask(L.LightningModule):
    def __init__(self, recipe: Recipe, tokenizer: Tokenizer | None = None):
        super().__init__()
        self.recipe = recipe
        self.model = build_asr_model(recipe, tokenizer)
        spec = recipe.augment.spec_augment
        self.spec_augment = SpecAugment(spec) if spec is not None else None
        self.ctc = nn.CTCLoss(blank=0, zero_infinity=True)
        self.decoder = Decoder(DecoderConfig(), self.model.tokenizer)  # greedy, as `ctcasr evaluate` by default
        self.dev_names = dev_names(recipe.dev_manifests)
        self._dev = self._fresh_dev_state()

    def _fresh_dev_state(self) -> list[dict]:
        return [{"words": ErrorCounts(), "chars": ErrorCounts(), "loss": 0.0, "batches": 0, "examples": []}
                for _ in self.dev_names]

    def _loss(self, batch: dict, train: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        warp = batch.get("warp") if train else None
        log_probs, lengths = self.model(batch["waves"], batch["wave_lens"], self.spec_augment if train else None,
                                        warp)
        loss = self.ctc(log_probs.transpose(0, 1), batch["targets"], lengths, batch["target_lens"])
        return loss, log_probs, lengths

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch, train=True)
        size = len(batch["texts"])
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        norms = [p.grad.detach().norm(2) for p in self.parameters() if p.grad is not None]
        if norms:
            self.log("train/grad_norm", torch.stack(norms).norm(2), on_step=True, on_epoch=False)

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        loss, log_probs, lengths = self._loss(batch, train=False)
        hyps = self.decoder(log_probs, lengths)
        refs = batch["texts"]
        state = self._dev[dataloader_idx]
        state["words"] += word_errors(refs, hyps)
        state["chars"] += char_errors(refs, hyps)
        state["loss"] += float(loss)
        state["batches"] += 1
        if len(state["examples"]) < self.recipe.trainer.examples:
            state["examples"].append((refs[0], hyps[0], batch["waves"][0, : batch["wave_lens"][0]].cpu()))

    def on_validation_epoch_end(self) -> None:
        """Log WER / CER / loss of each dev set (`dev/NAME/...` when several) and pooled over all (`dev/...`)."""
        states, self._dev = self._dev, self._fresh_dev_state()
        rows = [[st["words"].errors, st["words"].reference_length, st["chars"].errors, st["chars"].reference_length,
                 st["loss"], st["batches"]] for st in states]
        totals = torch.tensor(rows, dtype=torch.float64, device=self.device)
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        metrics = {}
        for name, row in zip(["", *self.dev_names], [totals.sum(0), *totals], strict=False):
            if name and len(self.dev_names) == 1:
                break
            prefix = f"dev/{name}/" if name else "dev/"
            metrics[prefix + "wer"] = 100.0 * float(row[0]) / max(float(row[1]), 1.0)
            metrics[prefix + "cer"] = 100.0 * float(row[2]) / max(float(row[3]), 1.0)
            metrics[prefix + "loss"] = float(row[4]) / max(float(row[5]), 1.0)
        pooled = ("dev/wer", "dev/cer", "dev/loss")
        self.log_dict({k: v for k, v in metrics.items() if k not in pooled}, rank_zero_only=True)
        self.log_dict({k: metrics[k] for k in pooled}, prog_bar=True, rank_zero_only=True)
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            self._log_examples([e for st in states for e in st["examples"]])

    def _log_examples(self, examples: list) -> None:
        logger = self.logger
        if not isinstance(logger, TensorBoardLogger) or not examples:
            return
        tb, step = logger.experiment, self.global_step
        lines = [f"**ref:** {r}  \n**hyp:** {h}" for r, h, _ in examples]
        tb.add_text("dev/examples", "\n\n".join(lines), step)
        ref, _, wave = examples[0]
        sr = self.model.sample_rate
        feats, _ = self.model.features(wave[None].to(self.device), torch.tensor([wave.numel()], device=self.device))
        image = feats[0].flip(0).float()
        image = (image - image.min()) / (image.max() - image.min() + 1e-8)
        tb.add_image("dev/spectrogram", image[None].cpu(), step)
        tb.add_audio("dev/audio", wave[None].float().clamp(-1, 1), step, sample_rate=sr)

    def configure_optimizers(self):
        o = self.recipe.optim
        if o.optimizer == "sgd":
            optimizer = torch.optim.SGD(self.parameters(), lr=o.lr, momentum=o.betas[0], nesterov=True,
                                        weight_decay=o.weight_decay)
        else:
            kind = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
            optimizer = kind(self.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        scheduler = self._schedule(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _schedule(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        o = self.recipe.optim
        total = max(int(self.trainer.estimated_stepping_batches), 4)
        warmup = min(max(o.warmup_fraction, 2.0 / total), 0.5)  # each phase at least one step long
        if o.schedule == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=o.lr, total_steps=total, pct_start=warmup, anneal_strategy="cos",
                div_factor=25.0, final_div_factor=25.0 / o.final_lr_fraction if o.final_lr_fraction else 1e4,
            )
        factor = lr_factor(o.schedule, round(warmup * total), total, o.final_lr_fraction)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        scheduler.total_steps = total  # as OneCycleLR has it: a resumed run compares it with the new total
        return scheduler

    def on_train_start(self) -> None:
        """A resumed run whose trainer.epochs changed: the schedule is rebuilt for the new total and continues
        from the current step (Lightning restored the old one, which cannot step past its old end)."""
        config = self.trainer.lr_scheduler_configs[0] if self.trainer.lr_scheduler_configs else None
        if config is None or self.global_step == 0:
            return
        total = max(int(self.trainer.estimated_stepping_batches), 4)
        if config.scheduler.total_steps == total:
            return
        optimizer = config.scheduler.optimizer
        scheduler = self._schedule(optimizer)  # Adam's moments live in optimizer.state: untouched
        scheduler.last_epoch = self.global_step - 1
        with warnings.catch_warnings():  # "step() before optimizer.step()": intended, it only sets the lr
            warnings.simplefilter("ignore")
            scheduler.step()
        config.scheduler = scheduler
        print(f"schedule rebuilt for {total} steps (trainer.epochs={self.recipe.trainer.epochs}); continuing at "
              f"step {self.global_step}, lr {optimizer.param_groups[0]['lr']:.3g}")


def lr_factor(schedule: str, warmup: int, total: int, final: float):
    """Step -> fraction of the peak learning rate for the `cosine` and `noam` schedules."""
    warmup = max(warmup, 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "noam":
            return max(math.sqrt(warmup / (step + 1)), final)
        progress = min(1.0, (step - warmup) / max(total - warmup, 1))
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def dev_names(manifests: list[str]) -> list[str]:
    """Short names for dev (or test) manifests: `data/an4/dev.jsonl` -> `an4_dev`."""
    names = [f"{Path(m).parent.name}_{Path(m).stem}".strip("_") for m in manifests]
    return names if len(set(names)) == len(names) else [f"{i}_{n}" for i, n in enumerate(names)]


class SpeechData(L.LightningDataModule):
    """Datasets and duration-bucketed loaders; batches are sharded across DDP ranks by the sampler."""

    def __init__(self, recipe: Recipe, tokenizer: Tokenizer):
        super().__init__()
        self.recipe, self.tokenizer = recipe, tokenizer
        self.train_set = None
        self.dev_sets: list[SpeechDataset] = []
        self.groups = np.zeros(0)
        self.train_sampler: DurationBatchSampler | None = None
        self.resume_epoch = 0  # the epoch a resumed run starts with (from the checkpoint)

    def state_dict(self) -> dict:
        """Saved in Lightning's checkpoint at the end of an epoch: the epoch a resumed run continues with."""
        done = self.train_sampler.epoch + 1 if self.train_sampler is not None else self.resume_epoch
        return {"next_epoch": done}

    def load_state_dict(self, state: dict) -> None:
        """Lightning restores this before it makes the training loader, and before its own loop counters."""
        self.resume_epoch = int(state.get("next_epoch", 0))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        d, r = self.recipe.data, self.recipe
        kept, groups = [], []
        for group, manifest in enumerate(r.train_manifests):
            items = read_manifest(manifest)
            usable = [u for u in items if u.duration <= d.max_duration]
            if len(usable) < len(items):
                print(f"{manifest}: skipping {len(items) - len(usable)} training utterances longer than "
                      f"{d.max_duration} s")
            kept += usable
            groups += [group] * len(usable)
        self.groups = np.array(groups)
        augment = WaveAugment(r.augment, r.features.sample_rate, seed=r.trainer.seed)
        self.train_set = SpeechDataset(kept, self.tokenizer, r.features.sample_rate, augment)
        self.dev_sets = [SpeechDataset(read_manifest(m), self.tokenizer, r.features.sample_rate)
                         for m in r.dev_manifests]
        if getattr(self.tokenizer, "oov_counts", None):
            print(oov_summary(self.tokenizer.oov_counts))
        skipped = self.train_set.skipped + sum(s.skipped for s in self.dev_sets)
        if skipped:
            missing = self.tokenizer.missing_counts
            print(f"skipped {self.train_set.skipped} training and {skipped - self.train_set.skipped} dev utterances "
                  f"with words the lexicon lacks ({len(missing)} words, e.g. {', '.join(list(missing)[:5])})")

    def _loader(self, dataset: SpeechDataset, train: bool) -> DataLoader:
        d, t = self.recipe.data, self.recipe.trainer
        weights = (d.train_weights or None) if train else None
        sampler = DurationBatchSampler(dataset.durations, d.batch_seconds, shuffle=train, seed=t.seed,
                                       sortagrad=train and t.sortagrad, rank=self.trainer.global_rank,
                                       world_size=self.trainer.world_size, pad=train,
                                       groups=self.groups if train else None, weights=weights,
                                       epoch=self.resume_epoch if train else 0)
        if train:
            self.train_sampler = sampler
        workers = d.num_workers
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                          worker_init_fn=seed_worker, persistent_workers=workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        loaders = [self._loader(dev, train=False) for dev in self.dev_sets]
        return loaders[0] if len(loaders) == 1 else loaders


class RunRecorder(Callback):
    """Exports ctcasr checkpoints (last, best by dev WER), keeps the per-epoch history, writes the curves.

    Its state (history, best WER, accumulated wall time) is saved in Lightning's checkpoint, so a resumed run
    continues the same record.
    """

    def __init__(self, run_dir: Path, recipe: Recipe, command: str):
        self.run_dir, self.recipe, self.command = run_dir, recipe, command
        self.commit = git_commit()  # the code this run started from
        self.history: list[dict] = []
        self.best_wer = self.best_loss = math.inf
        self.best_epoch = 0  # epochs are counted from 1 everywhere: bar, history, summary, plots
        self.resumed_at: list[int] = []  # epochs at which the run was resumed
        self.init_from: dict | None = None  # the checkpoint the weights started from (fine-tuning)
        self.train_seconds = 0.0  # wall time in training epochs, summed over resumes
        self.audio_seconds = 0.0  # audio seen by this rank
        self._fit_start = self._epoch_start = 0.0
        self._loss_sum, self._loss_count = 0.0, 0
        self._wall_before = 0.0

    def state_dict(self) -> dict:
        return {"history": self.history, "best_wer": self.best_wer, "best_loss": self.best_loss,
                "best_epoch": self.best_epoch,
                "train_seconds": self.train_seconds, "audio_seconds": self.audio_seconds,
                "resumed_at": self.resumed_at, "epoch_base": 1, "init_from": self.init_from,
                "wall_seconds": self._wall_before + (time.time() - self._fit_start if self._fit_start else 0.0)}

    def load_state_dict(self, state: dict) -> None:
        shift = 0 if state.get("epoch_base") == 1 else 1  # runs begun when epochs were counted from 0
        self.history = [{**h, "epoch": h["epoch"] + shift} for h in state["history"]]
        self.best_wer, self.best_epoch = state["best_wer"], state["best_epoch"] + shift
        self.best_loss = state.get("best_loss", math.inf)
        self.resumed_at = [e + shift for e in state.get("resumed_at", [])]
        self.init_from = state.get("init_from")  # a resumed fine-tune still names what it started from
        self.train_seconds, self.audio_seconds = state["train_seconds"], state["audio_seconds"]
        self._wall_before = state["wall_seconds"]

    def on_fit_start(self, trainer, pl_module) -> None:
        self._fit_start = time.time()

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.ckpt_path:  # the loops are restored by now: current_epoch is the first one to run
            self.resumed_at.append(trainer.current_epoch + 1)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.time()
        self._loss_sum, self._loss_count = 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.audio_seconds += float(batch["wave_lens"].sum()) / pl_module.model.sample_rate
        self._loss_sum += float(outputs["loss"])
        self._loss_count += 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.train_seconds += time.time() - self._epoch_start

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step,
               "train_loss": round(self._loss_sum / self._loss_count, 4) if self._loss_count else None,
               "dev_loss": _num(m.get("dev/loss")),
               "dev_cer": _num(m.get("dev/cer")), "dev_wer": _num(m.get("dev/wer")),
               "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
               # this process's peak so far: where memory grows, epoch by epoch (restarts at a resume)
               "peak_rss_mb": round(peak_rss_mb(), 1)}
        for name in pl_module.dev_names if len(pl_module.dev_names) > 1 else ():
            for metric in ("wer", "cer", "loss"):
                row[f"dev_{name}_{metric}"] = _num(m.get(f"dev/{name}/{metric}"))
        self.history = [h for h in self.history if h["epoch"] != row["epoch"]] + [row]
        improved = better(row["dev_wer"], row["dev_loss"], self.best_wer, self.best_loss)
        if improved:
            self.best_wer, self.best_loss, self.best_epoch = row["dev_wer"], row["dev_loss"], row["epoch"]
        if trainer.is_global_zero:
            meta = self.metadata(trainer)
            save_checkpoint(self.run_dir / "last.pt", pl_module.model, meta)
            if improved:
                save_checkpoint(self.run_dir / "best.pt", pl_module.model, meta)
            write_json(self.run_dir / "history.json", self.history)

    def metadata(self, trainer) -> dict:
        wall = self._wall_before + time.time() - self._fit_start
        world = trainer.world_size
        children_mb = peak_rss_children_mb()
        return {
            "recipe": self.recipe.to_dict(), "command": self.command, "commit": self.commit,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_description(),
            "epoch": self.history[-1]["epoch"] if self.history else 0, "epochs": self.recipe.trainer.epochs,
            "step": trainer.global_step,
            "best_dev_wer": self.best_wer, "best_epoch": self.best_epoch, "history": self.history,
            "wall_s": round(wall, 1), "train_s": round(self.train_seconds, 1),
            "train_audio_s": round(self.audio_seconds * world, 1),
            "throughput_audio_s_per_s": round(self.audio_seconds * world / max(self.train_seconds, 1e-6), 2),
            "peak_rss_mb": round(peak_rss_mb(), 1), "peak_rss_workers_mb": round(children_mb, 1),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None,
            "resumed_at_epochs": self.resumed_at, "init_from": self.init_from, "world_size": world,
            "precision": str(trainer.precision),
            "num_parameters": trainer.lightning_module.model.num_parameters(), "threads": torch.get_num_threads(),
        }

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self.history:
            meta = self.metadata(trainer)
            summary = {k: v for k, v in meta.items() if k not in ("recipe", "history")}
            write_json(self.run_dir / "train_summary.json", summary)
            plot_curves(self.history, self.run_dir)


def _num(value) -> float | None:
    return None if value is None else round(float(value), 4)


def plot_curves(history: list[dict], run_dir: Path) -> list[Path]:
    """loss.png, cer.png, wer.png: the original's three training curves, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    written = []
    per_dev = sorted({k[4:-4] for h in history for k in h if k.startswith("dev_") and k.endswith("_wer")} - {""})
    curves = {"loss": [("train_loss", "train"), ("dev_loss", "dev")], "cer": [("dev_cer", "dev")],
              "wer": [("dev_wer", "dev" if not per_dev else "dev (pooled)")]}
    for name in per_dev:
        curves["cer"].append((f"dev_{name}_cer", name))
        curves["wer"].append((f"dev_{name}_wer", name))
    for name, series in curves.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, label in series:
            values = [math.nan if h.get(key) is None else h[key] for h in history]
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name.upper() + (" (%)" if name != "loss" else " (CTC)"))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = run_dir / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


class ProgressWithETA(TQDMProgressBar):
    """Lightning's bar plus the estimated time left for the whole run."""

    def __init__(self):
        super().__init__()
        self._start = None
        self._start_step = 0

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        self._start, self._start_step = time.time(), trainer.global_step

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")

    def get_metrics(self, trainer, pl_module) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        done = trainer.global_step - self._start_step
        total = trainer.estimated_stepping_batches
        if self._start and done > 0 and math.isfinite(total):
            left = (time.time() - self._start) / done * max(total - trainer.global_step, 0)
            items["eta"] = f"{int(left // 60)}m{int(left % 60):02d}s"
        return items


def make_loggers(names: list[str], run_dir: Path, name: str) -> list:
    """TensorBoard (always first: dev examples go there) and optionally Weights & Biases, offline."""
    loggers = [TensorBoardLogger(run_dir, name="tensorboard", version="")]
    if "wandb" in names:
        try:
            from lightning.pytorch.loggers import WandbLogger

            loggers.append(WandbLogger(name=name, save_dir=str(run_dir), offline=True, project="ctcasr"))
        except (ImportError, ModuleNotFoundError):
            raise UserError("trainer.loggers names wandb, but the wandb package is not installed "
                            "(pip install wandb); it runs offline, `wandb sync` uploads later") from None
    return loggers


def precision_for(setting: str, accelerator: str) -> str:
    if setting != "auto":
        return setting
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def prepare_data(recipe: Recipe) -> None:
    """Prepare the recipe's corpus when any of its manifests is missing."""
    d = recipe.data
    manifests = (*recipe.train_manifests, *recipe.dev_manifests, *d.test_manifests)
    if all(Path(p).is_file() for p in manifests) or not d.corpus:
        return
    from ctcasr.data.corpora import prepare_corpus

    for corpus in as_list(d.corpus):
        options = {"parts": tuple(d.parts), "merge": tuple(d.merge)} if corpus == "librispeech" else {}
        options = {"parts": tuple(d.parts)} if corpus == "libritts" else options
        prepare_corpus(corpus, d.root, d.mirror or os.environ.get("CTCASR_MIRROR"), **options)


def evaluate_at_end(recipe: Recipe, checkpoint: Path, run_dir: Path) -> None:
    """Greedy CER / WER of the best checkpoint on each test manifest, as reports in the run folder."""
    from ctcasr.evaluate import evaluate_manifest

    names = dev_names(recipe.data.test_manifests) if len(recipe.data.test_manifests) > 1 else \
        [Path(m).stem for m in recipe.data.test_manifests]  # an4_test, speechocean762_test: no file overwritten
    for manifest, name in zip(recipe.data.test_manifests, names, strict=True):
        report = evaluate_manifest(str(checkpoint), manifest, out=str(run_dir / f"eval_{name}.json"),
                                   command=f"ctcasr evaluate --model {checkpoint} --manifest {manifest}")
        print(f"{name}: WER {report['wer']:.2f} %  CER {report['cer']:.2f} %  ({report['num_utterances']} "
              f"utterances) -> {run_dir / f'eval_{name}.json'}")


def check_manifests(recipe: Recipe) -> None:
    """Every manifest the recipe names exists (checked before anything is written)."""
    d = recipe.data
    named = [("data.train_manifest", m) for m in recipe.train_manifests]
    named += [("data.dev_manifest", m) for m in recipe.dev_manifests]
    named += [("data.test_manifests", m) for m in d.test_manifests]
    if not recipe.train_manifests or not recipe.dev_manifests:
        raise UserError("the recipe needs data.train_manifest and data.dev_manifest")
    for key, manifest in named:
        if not str(manifest).strip():
            raise UserError(f"{key} is empty; name a JSONL manifest")
        if not Path(manifest).is_file():
            raise UserError(f"manifest named by {key} does not exist", manifest)


def explain_config_change(source: dict, task: CTCTask, path: str) -> None:
    """init_from a checkpoint of another shape: say which model settings differ."""
    arch, config = task.recipe.model_settings()
    if source.get("arch") != arch:
        raise UserError(f"cannot initialise from this checkpoint: it is a {source.get('arch')} model, the recipe "
                        f"trains {arch}", path)
    mine = dataclasses.asdict(config)
    theirs = source.get("model", {})
    changed = [k for k in mine if k in theirs and theirs[k] != mine[k] and k != "dropout"
               and not (k == "lookahead" and mine[k] > theirs[k])]  # a longer look-ahead starts as the old one
    if changed:
        have = ", ".join(f"{k}={theirs[k]}" for k in changed)
        want = ", ".join(f"{k}={mine[k]}" for k in changed)
        raise UserError(f"cannot initialise from this checkpoint: it has {have}; the recipe asks for {want}", path)


def starting_weights(source: dict, model: torch.nn.Module) -> dict:
    """The weights fine-tuning starts from: all of the source's, or, when its output units differ from the
    recipe's (characters -> phones, another BPE vocabulary), its encoder with a freshly initialised CTC head.
    A DeepSpeech2 look-ahead longer than the source's starts as the source's (zero weights on the new future
    frames), so the model computes what the source did until it learns to use them."""
    weights = widen_lookahead(upgrade_weights(source["state_dict"]), model.state_dict())
    if source.get("tokenizer") == model.tokenizer.to_dict():
        return weights
    theirs = source.get("tokenizer") if isinstance(source.get("tokenizer"), dict) else {}
    head, shared = shared_head_rows(weights, model, tokenizer_from_dict(theirs) if theirs else None)
    print(f"init_from: the checkpoint's output units ({theirs.get('kind')}) differ from the recipe's "
          f"({model.tokenizer.kind}, {len(model.tokenizer)} tokens): its encoder is loaded, the CTC head starts "
          f"fresh except the {shared} units both have", flush=True)
    return {**{k: v for k, v in weights.items() if not k.startswith("head.")}, **head}


def shared_head_rows(weights: dict, model: torch.nn.Module,
                     source_tokenizer: Tokenizer | None) -> tuple[dict, int]:
    """A fresh CTC head for `model`, with the source's output rows copied for the units both tokenizers have
    (the blank, and e.g. the phones of a smaller phone set), so those start where the source left them. When
    some are shared, the new units start silent (zero weights, a bias 10 below the source's lowest), so the model
    first computes what the source did and learns the new units from there."""
    head = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("head.")}
    if source_tokenizer is None or source_tokenizer.kind != model.tokenizer.kind:
        return head, 0
    theirs = {unit: i for i, unit in enumerate(source_tokenizer.vocab)}
    pairs = [(i, theirs[unit]) for i, unit in enumerate(model.tokenizer.vocab) if unit in theirs]
    if not pairs:
        return head, 0
    for key, value in head.items():
        if key in weights and weights[key].shape[1:] == value.shape[1:]:
            value.fill_(weights[key].min() - 10.0) if key.endswith("bias") else value.zero_()
            for mine, source in pairs:
                value[mine] = weights[key][source]
    return head, len(pairs)


def better(wer: float | None, loss: float | None, best_wer: float, best_loss: float) -> bool:
    """Whether an epoch's dev WER beats the best so far; an equal WER is decided by the lower dev loss."""
    if wer is None:
        return False
    if wer != best_wer:
        return wer < best_wer
    return loss is not None and loss < best_loss


def widen_lookahead(weights: dict, mine: dict) -> dict:
    """`weights` with the look-ahead row convolution padded with zeros to the model's width (or the model's
    identity start where the source has none)."""
    key = "encoder.lookahead.conv.weight"
    if key not in mine or (key in weights and weights[key].shape == mine[key].shape):
        return weights
    if key not in weights:
        return {**weights, key: mine[key]}
    old = weights[key]
    return {**weights, key: torch.nn.functional.pad(old, (0, mine[key].shape[-1] - old.shape[-1]))}


def check_resumable(task: CTCTask, ckpt_path: Path, epochs: int) -> None:
    """The Lightning checkpoint loads safely (weights_only), fits the model, and has epochs left to run."""
    state = safe_load(ckpt_path, "cannot resume: a damaged Lightning checkpoint")
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise UserError("cannot resume: not a Lightning checkpoint", ckpt_path)
    load_weights(task, state["state_dict"], str(ckpt_path))
    done = int(state.get("epoch", -1)) + 1
    if done >= epochs:
        raise UserError(f"the run already finished {done} epochs; raise trainer.epochs (e.g. trainer.epochs="
                        f"{done + 10}) to continue it", ckpt_path)


HIDDEN_LOGS = ("TPU available", "HPU available", "IPU available", "GPU available", "LOCAL_RANK", "Tip:",
               "litmodels", "log_every_n_steps", "does not have many workers", "exists and is not empty")


class _HideNoise(logging.Filter):
    """Drops Lightning's tips, accelerator inventory and warnings that say nothing about this run."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in HIDDEN_LOGS)


def route_logs_to_stdout() -> None:
    """Lightning's information and Python warnings go to stdout, so stderr carries only errors."""
    logging.captureWarnings(True)
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_HideNoise())
    for name in ("lightning.pytorch", "lightning.fabric", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False


def train(recipe: Recipe, resume: bool = False, command: str = "") -> Path:
    """Train `recipe`; returns the path of the best checkpoint."""
    t = recipe.trainer
    run_dir = check_output_dir(t.out_dir)
    resume_from = run_dir / "lightning" / "last.ckpt"
    if resume and not resume_from.is_file():
        raise UserError("nothing to resume: no Lightning checkpoint in this run folder", resume_from)
    if not resume and resume_from.is_file():
        raise UserError("run folder already has a checkpoint; pass --resume to continue it or choose another "
                        "trainer.out_dir", run_dir)
    route_logs_to_stdout()
    if t.threads:
        torch.set_num_threads(t.threads)
    map_large_allocations(t.mmap_threshold_kb)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*|.*treespec.*")
    L.seed_everything(t.seed, workers=True, verbose=False)
    prepare_data(recipe)

    check_manifests(recipe)

    task = CTCTask(recipe, run_tokenizer(recipe, run_dir, resume))
    if resume:
        check_resumable(task, resume_from, t.epochs)
    if t.init_from and not resume:
        source = read_checkpoint(t.init_from)
        explain_config_change(source, task, t.init_from)
        load_weights(task.model, starting_weights(source, task.model), t.init_from)
    data = SpeechData(recipe, task.model.tokenizer)
    recorder = RunRecorder(run_dir, recipe, command)
    if t.init_from and not resume:
        recorder.init_from = {"path": str(t.init_from), "sha256": file_digest(t.init_from, "sha256")}
    trainer = L.Trainer(
        max_epochs=t.epochs, max_steps=t.max_steps, accelerator=t.accelerator, devices=t.devices,
        max_time={"minutes": t.max_minutes} if t.max_minutes else None,
        num_nodes=t.num_nodes, strategy=t.strategy, precision=precision_for(t.precision, t.accelerator),
        gradient_clip_val=recipe.optim.grad_clip or None, log_every_n_steps=t.log_every_n_steps,
        limit_val_batches=t.limit_dev_batches, default_root_dir=run_dir, use_distributed_sampler=False,
        logger=make_loggers(t.loggers, run_dir, recipe.name),
        callbacks=[recorder, LearningRateMonitor("step"), ProgressWithETA(),
                   ModelCheckpoint(run_dir / "lightning", filename="last", save_top_k=1, every_n_epochs=1,
                                   enable_version_counter=False)],
        enable_model_summary=True, num_sanity_val_steps=1,
    )
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "recipe.json", recipe.to_dict())
    trainer.fit(task, datamodule=data, ckpt_path=str(resume_from) if resume else None)
    if trainer.is_global_zero:
        if (run_dir / "best.pt").is_file():
            evaluate_at_end(recipe, run_dir / "best.pt", run_dir)
        print(f"trained {trainer.current_epoch} epochs in {recorder.train_seconds / 60:.1f} min; best dev WER "
              f"{recorder.best_wer:.2f} % (epoch {recorder.best_epoch}); checkpoint {run_dir / 'best.pt'}")
    return run_dir / "best.pt"
