"""Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks (blank = 0)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def as_array(values) -> np.ndarray:
    """A NumPy array of a torch tensor (any device) or of anything array-like."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        values = values.float() if values.is_floating_point() else values
        return values.numpy()
    return np.asarray(values)


def greedy_decode(log_probs, lengths) -> list[list[int]]:
    """(B, T, V) log-probs (NumPy or torch) with valid lengths -> token id sequences, batched."""
    best = as_array(log_probs).argmax(axis=-1)  # (B, T)
    valid = np.arange(best.shape[1])[None, :] < as_array(lengths).reshape(-1, 1)
    changed = np.ones_like(valid)
    changed[:, 1:] = best[:, 1:] != best[:, :-1]
    keep = valid & changed & (best != 0)
    return [best[i][keep[i]].tolist() for i in range(best.shape[0])]


def collapse_path(path: Iterable[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """One frame-level path -> (tokens, the frame each token starts at): repeats collapsed, blanks dropped."""
    tokens, frames, previous = [], [], 0
    for t, k in enumerate(path):
        if k != 0 and k != previous:
            tokens.append(int(k))
            frames.append(t)
        previous = k
    return tuple(tokens), tuple(frames)


class GreedyStream:
    """Best-path decoding of a stream: `advance` with each chunk of (T, V) log-probs; `partial` / `finalize`
    give the collapsed path so far (the same as decoding all frames at once)."""

    def __init__(self):
        self.path: list[int] = []
        self.score = 0.0  # log-probability of the best path

    def advance(self, log_probs) -> GreedyStream:
        array = as_array(log_probs)
        best = array.argmax(axis=1)
        self.path += best.tolist()
        self.score += float(np.take_along_axis(array, best[:, None], axis=1).sum()) if best.size else 0.0
        return self

    def partial(self):
        from ctcasr.decoding.beam import Hypothesis

        tokens, frames = collapse_path(self.path)
        return Hypothesis(tokens, self.score, frames, self.score)

    def finalize(self) -> list:
        return [self.partial()]
