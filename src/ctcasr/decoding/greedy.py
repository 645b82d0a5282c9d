"""Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks (blank = 0)."""

from __future__ import annotations

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
