"""Multi-corpus training: sampling weights honoured, epochs reshuffled, dev sets named and reported apart."""

import numpy as np
from lightning.fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import DataLoader

from ctcasr.data.dataset import DurationBatchSampler
from ctcasr.training import dev_names


def _sampler(weights, **kw):
    rng = np.random.default_rng(0)
    durations = rng.uniform(1, 5, 300)
    groups = np.array([0] * 100 + [1] * 200)
    return DurationBatchSampler(durations, 20.0, seed=5, groups=groups, weights=weights, **kw), groups


def test_weights_set_how_often_each_corpus_is_seen():
    sampler, groups = _sampler([2.0, 0.5], pad=False)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        seen = np.concatenate([np.array(b) for b in sampler])
        counts = np.bincount(groups[seen], minlength=2)
        assert abs(counts[0] - 200) <= 15 and abs(counts[1] - 100) <= 15  # a batch or two repeated or left out
    sampler.set_epoch(1)
    first = {i for b in sampler for i in b if groups[i] == 1}
    sampler.set_epoch(2)
    second = {i for b in sampler for i in b if groups[i] == 1}
    assert first != second  # a fresh half of corpus 1 each epoch


def test_epoch_length_is_fixed():
    sampler, _ = _sampler([1.0, 0.3])
    lengths = set()
    for epoch in range(5):
        sampler.set_epoch(epoch)
        lengths.add(len(list(sampler)))
    assert lengths == {len(sampler)}


def test_unit_weights_are_the_plain_sampler():
    sampler, _ = _sampler([1.0, 1.0])
    plain = DurationBatchSampler(sampler.durations, 20.0, seed=5)
    assert sampler.batches == plain.batches


def test_lightning_reaches_set_epoch_and_reshuffles():
    """Lightning calls set_epoch on batch_sampler.sampler: the batch order must change between epochs."""
    sampler, _ = _sampler(None, shuffle=True, sortagrad=True)
    loader = DataLoader(range(300), batch_sampler=sampler)
    orders = []
    for epoch in range(3):
        _set_sampler_epoch(loader, epoch)
        orders.append([b[0] for b in sampler])
    assert orders[0] == sorted(orders[0], key=lambda i: sampler.durations[i])  # sortagrad: shortest first
    assert orders[1] != orders[0] and orders[2] != orders[1]


def test_dev_names():
    assert dev_names(["data/an4/dev.jsonl", "data/speechocean762/dev.jsonl"]) == ["an4_dev", "speechocean762_dev"]
    assert dev_names(["a/dev.jsonl", "a/dev.jsonl"]) == ["0_a_dev", "1_a_dev"]
