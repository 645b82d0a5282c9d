"""CTC forced alignment against a brute-force oracle, and word spans."""

import itertools

import numpy as np
import pytest

from ctcasr.align import forced_align, word_spans
from ctcasr.units import Spelling


def collapse(path):
    out, prev = [], None
    for p in path:
        if p != prev and p != 0:
            out.append(p)
        prev = p
    return out


def oracle(log_probs, targets):
    best, best_path = -np.inf, None
    frames, vocab = log_probs.shape
    for path in itertools.product(range(vocab), repeat=frames):
        if collapse(path) == targets:
            score = sum(log_probs[t, p] for t, p in enumerate(path))
            if score > best:
                best, best_path = score, path
    return best, best_path


@pytest.mark.parametrize("targets", [[1, 2], [1, 1], [2], [1, 2, 1]])
@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force(targets, seed):
    rng = np.random.default_rng(seed)
    log_probs = np.log(rng.dirichlet(np.ones(3), size=6))
    best, _ = oracle(log_probs, targets)
    path = forced_align(log_probs, targets)
    labels = [0 if i < 0 else targets[i] for i in path]
    assert collapse(labels) == targets
    assert sum(log_probs[t, p] for t, p in enumerate(labels)) == pytest.approx(best)


def test_too_short_raises():
    with pytest.raises(ValueError):
        forced_align(np.log(np.full((2, 3), 1 / 3)), [1, 1])


def test_word_spans():
    # tokens: a b _ c ; frames: a a - b - _ c
    tokens = [1, 2, 3, 4]
    path = [0, 0, -1, 1, -1, 2, 3, -1]
    spelling = Spelling(("", "a", "b", "", "c"), (False, False, False, True, False))
    assert word_spans(path, tokens, spelling) == [(0, 3), (6, 6)]
