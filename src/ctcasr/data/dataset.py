"""Dataset over a manifest (audio read lazily), padding collate, and a duration-bucketed batch sampler."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from ctcasr.audio import load
from ctcasr.augment import WaveAugment
from ctcasr.data.batching import duration_batches
from ctcasr.data.manifest import Utterance
from ctcasr.units import Tokenizer
from ctcasr.units.phone import MissingPronunciation


def pad_batch(waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([w.numel() for w in waves])
    padded = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        padded[i, : w.numel()] = w
    return padded, lengths


class SpeechDataset(Dataset):
    """Items are (wave, token ids, text). Transcripts are encoded up front, so bad text fails before training.

    With an augmentation that crops (`augment.crop_prob`), an utterance whose manifest has word times (one per word
    of its prepared text) may come as a run of its words, its text and targets cut to match.
    """

    def __init__(self, items: list[Utterance], tokenizer: Tokenizer, sample_rate: int,
                 augment: WaveAugment | None = None):
        self.sample_rate = sample_rate
        self.augment, self.tokenizer = augment, tokenizer
        self.items, self.texts, self.skipped = [], [], 0
        for u in items:
            try:
                text = tokenizer.prepare(u.text, u.where)
            except MissingPronunciation:
                if getattr(tokenizer, "missing", "error") != "skip":
                    raise
                self.skipped += 1
                continue
            self.items.append(u)
            self.texts.append(text)
        # compact arrays: a 281k-utterance manifest must fit in little memory
        self.targets = [tokenizer.ids(t) for t in self.texts]
        self.durations = np.array([u.duration for u in self.items], dtype=np.float64)
        # word times usable for crops: one per word of the prepared text (others are left whole)
        self.word_times = [u.words if u.words and len(u.words) == len(t.split()) else None
                           for u, t in zip(self.items, self.texts, strict=True)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str, float]:
        """(wave, target ids, text, vocal-tract warp factor for the features)."""
        wave = load(self.items[index].audio_filepath, self.sample_rate)
        text, ids, warp = self.texts[index], self.targets[index], 1.0
        if self.augment is not None:
            crop = self.augment.crop(wave, self.word_times[index])
            if crop is not None:
                wave, first, stop = crop
                text = " ".join(text.split()[first:stop])
                ids = self.tokenizer.ids(text)
            wave = self.augment(wave)
            warp = self.augment.vtlp_factor()
        target = torch.from_numpy(ids.astype(np.int64))
        return torch.from_numpy(np.ascontiguousarray(wave)), target, text, warp


def seed_worker(worker_id: int) -> None:
    """Give each loader worker its own augmentation random stream."""
    info = get_worker_info()
    dataset = info.dataset
    if getattr(dataset, "augment", None) is not None:
        dataset.augment.rng = np.random.default_rng(info.seed % 2**32)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor, str, float]]) -> dict:
    waves, targets, texts, warps = zip(*batch, strict=True)
    padded, wave_lens = pad_batch(list(waves))
    target_lens = torch.tensor([t.numel() for t in targets])
    warp = torch.tensor(warps, dtype=torch.float32) if any(w != 1.0 for w in warps) else None
    return {"waves": padded, "wave_lens": wave_lens, "targets": torch.cat(targets), "target_lens": target_lens,
            "texts": list(texts), "warp": warp}


class DurationBatchSampler(Sampler[list[int]]):
    """Batches of similar-length utterances holding at most `batch_seconds` of padded audio each.

    Utterances are sorted by duration and cut into batches; batch order is shuffled every epoch (seeded by
    `seed` and the epoch), except with `sortagrad` in epoch 0, where batches go shortest first. With several
    DDP ranks each rank takes every `world_size`-th batch; with `pad` (training) all ranks get the same number.

    Several corpora: `groups` gives each utterance's corpus and `weights` how often each corpus is seen per
    epoch: weight 2 takes every utterance twice, 0.5 a fresh random half each epoch (seeded by `seed` and the
    epoch). The number of batches per epoch is fixed by epoch 0 (later epochs repeat or leave out a batch or two),
    so learning-rate schedules know the run's length.

    `epoch` is the epoch the first iteration belongs to. A resumed run must pass it: a DataLoader with workers
    starts drawing batches when its iterator is made, which Lightning does before it calls `set_epoch`, so
    without it the first resumed epoch would replay epoch 0 (sorted shortest first, with sortagrad).
    """

    def __init__(self, durations: np.ndarray, batch_seconds: float, shuffle: bool = True, seed: int = 0,
                 sortagrad: bool = False, rank: int = 0, world_size: int = 1, max_batch_size: int = 512,
                 pad: bool = True, groups: np.ndarray | None = None, weights: list[float] | None = None,
                 epoch: int = 0):
        self.pad = pad
        self.shuffle, self.seed, self.sortagrad = shuffle, seed, sortagrad
        self.rank, self.world_size = rank, world_size
        self.durations, self.batch_seconds, self.max_batch_size = durations, batch_seconds, max_batch_size
        self.groups, self.weights = groups, weights
        self.weighted = groups is not None and weights is not None and any(w != 1.0 for w in weights)
        self.epoch = 0
        # Lightning calls `set_epoch` on `batch_sampler.sampler` (never on the batch sampler itself) before
        # each epoch's iterator is made: point it here, or every epoch would replay epoch 0's order
        self.sampler = _EpochSetter(self)
        self.batches = self._batches(self.epoch_indices(0))
        self.num_batches = len(self.batches)
        if epoch:
            self.set_epoch(epoch)

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """The utterances of `epoch` (with repeats when a corpus weight is above 1)."""
        everything = np.arange(len(self.durations))
        if not self.weighted:
            return everything
        rng = np.random.default_rng([self.seed, epoch, 7])
        chosen = []
        for group, weight in enumerate(self.weights):
            members = everything[self.groups == group]
            whole, fraction = divmod(float(weight), 1.0)
            chosen += [members] * int(whole)
            extra = int(round(fraction * members.size))
            if extra:
                chosen.append(rng.choice(members, extra, replace=False))
        return np.concatenate(chosen) if chosen else everything[:0]

    def _batches(self, indices: np.ndarray) -> list[list[int]]:
        return duration_batches(self.durations, self.batch_seconds, indices, self.max_batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.weighted:
            self.batches = self._batches(self.epoch_indices(epoch))

    def __len__(self) -> int:
        if self.pad:
            return math.ceil(self.num_batches / self.world_size)
        return len(range(self.rank, self.num_batches, self.world_size))

    def __iter__(self) -> Iterator[list[int]]:
        order = np.arange(len(self.batches))
        if self.shuffle and not (self.sortagrad and self.epoch == 0):
            order = np.random.default_rng(self.seed + self.epoch).permutation(order)
        if self.pad or len(order) != self.num_batches:  # every rank and epoch runs the same number of steps
            order = np.resize(order, len(self) * self.world_size if self.pad else self.num_batches)
        for i in order[self.rank :: self.world_size]:
            yield self.batches[int(i)]


class _EpochSetter:
    """What Lightning sees as `batch_sampler.sampler`: forwards `set_epoch` to the batch sampler."""

    def __init__(self, owner: DurationBatchSampler):
        self.set_epoch = owner.set_epoch
