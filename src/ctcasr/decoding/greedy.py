"""Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks (blank = 0)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """(B, T, V) log-probs with valid lengths -> token id sequences, batched."""
    best = log_probs.argmax(dim=-1)  # (B, T)
    t = best.shape[1]
    valid = torch.arange(t, device=best.device)[None, :] < lengths.to(best.device)[:, None]
    changed = torch.ones_like(valid)
    changed[:, 1:] = best[:, 1:] != best[:, :-1]
    keep = (valid & changed & (best != 0)).cpu()
    best = best.cpu()
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
