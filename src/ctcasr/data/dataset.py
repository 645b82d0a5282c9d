"""Dataset over a manifest (audio read lazily), padding collate, and a duration-bucketed batch sampler."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from ctcasr.audio import load
from ctcasr.augment import WaveAugment
from ctcasr.data.manifest import Utterance
from ctcasr.text import CharTokenizer


def pad_batch(waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([w.numel() for w in waves])
    padded = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        padded[i, : w.numel()] = w
    return padded, lengths


class SpeechDataset(Dataset):
    """Items are (wave, token ids, text). Transcripts are encoded up front, so bad text fails before training."""

    def __init__(self, items: list[Utterance], tokenizer: CharTokenizer, sample_rate: int,
                 augment: WaveAugment | None = None):
        self.items = items
        self.sample_rate = sample_rate
        self.augment = augment
        self.texts = [tokenizer.prepare(u.text, u.where) for u in items]
        # compact arrays: a 281k-utterance manifest must fit in little memory
        self.targets = [tokenizer.ids(t) for t in self.texts]
        self.durations = np.array([u.duration for u in items], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        wave = load(self.items[index].audio_filepath, self.sample_rate)
        if self.augment is not None:
            wave = self.augment(wave)
        target = torch.from_numpy(self.targets[index].astype(np.int64))
        return torch.from_numpy(np.ascontiguousarray(wave)), target, self.texts[index]


def seed_worker(worker_id: int) -> None:
    """Give each loader worker its own augmentation random stream."""
    info = get_worker_info()
    dataset = info.dataset
    if getattr(dataset, "augment", None) is not None:
        dataset.augment.rng = np.random.default_rng(info.seed % 2**32)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor, str]]) -> dict:
    waves, targets, texts = zip(*batch, strict=True)
    padded, wave_lens = pad_batch(list(waves))
    target_lens = torch.tensor([t.numel() for t in targets])
    return {"waves": padded, "wave_lens": wave_lens, "targets": torch.cat(targets), "target_lens": target_lens,
            "texts": list(texts)}


class DurationBatchSampler(Sampler[list[int]]):
    """Batches of similar-length utterances holding at most `batch_seconds` of padded audio each.

    Utterances are sorted by duration and cut into batches; batch order is shuffled every epoch (seeded by
    `seed` and the epoch), except with `sortagrad` in epoch 0, where batches go shortest first. With several
    DDP ranks each rank takes every `world_size`-th batch; with `pad` (training) all ranks get the same number.
    """

    def __init__(self, durations: np.ndarray, batch_seconds: float, shuffle: bool = True, seed: int = 0,
                 sortagrad: bool = False, rank: int = 0, world_size: int = 1, max_batch_size: int = 512,
                 pad: bool = True):
        self.pad = pad
        self.shuffle, self.seed, self.sortagrad = shuffle, seed, sortagrad
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        order = np.argsort(durations, kind="stable")
        self.batches: list[list[int]] = []
        current: list[int] = []
        for index in order:
            longest = durations[index]  # sorted ascending: the newest is the longest
            if current and (longest * (len(current) + 1) > batch_seconds or len(current) >= max_batch_size):
                self.batches.append(current)
                current = []
            current.append(int(index))
        if current:
            self.batches.append(current)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.pad:
            return math.ceil(len(self.batches) / self.world_size)
        return len(range(self.rank, len(self.batches), self.world_size))

    def __iter__(self) -> Iterator[list[int]]:
        order = np.arange(len(self.batches))
        if self.shuffle and not (self.sortagrad and self.epoch == 0):
            order = np.random.default_rng(self.seed + self.epoch).permutation(order)
        if self.pad:  # repeat a few batches so that every rank runs the same number of steps
            order = np.resize(order, len(self) * self.world_size)
        for i in order[self.rank :: self.world_size]:
            yield self.batches[int(i)]
