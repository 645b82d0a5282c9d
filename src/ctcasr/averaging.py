"""Checkpoint averaging: the weighted element-wise mean of checkpoints of one network (the last epochs of a run,
or two fine-tunes that started from the same model), written as one self-contained checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from ctcasr.checkpoint import model_from_dict, read_checkpoint, save_checkpoint, upgrade_weights
from ctcasr.errors import UserError

SAME = ("arch", "model", "features", "tokenizer")  # what must agree for a mean of weights to mean anything


def average_checkpoints(paths: list[str], out: str | os.PathLike, weights: list[float] | None = None) -> str:
    """Write the weighted mean of `paths` to `out` (weights default to equal and are normalised to sum to 1);
    integer tensors (batch-norm counters) are taken from the first. A one-line summary."""
    if len(paths) < 2:
        raise UserError("averaging needs at least two checkpoints")
    weights = weights or [1.0] * len(paths)
    if len(weights) != len(paths) or any(not w > 0 for w in weights):
        raise UserError(f"--weights needs one positive number per checkpoint ({len(paths)}), got {weights}")
    shares = [w / sum(weights) for w in weights]
    sources = [read_checkpoint(p) for p in paths]
    first = sources[0]
    tensors = [upgrade_weights(s["state_dict"]) for s in sources]
    for path, source, state in zip(paths[1:], sources[1:], tensors[1:], strict=True):
        for key in SAME:
            if source[key] != first[key]:
                raise UserError(f"cannot average: its {key} settings differ from those of {paths[0]}", path)
        if {k: tuple(v.shape) for k, v in state.items()} != {k: tuple(v.shape) for k, v in tensors[0].items()}:
            raise UserError(f"cannot average: its tensors differ from those of {paths[0]}", path)
    mean = {}
    for name, tensor in tensors[0].items():
        if tensor.is_floating_point():
            mean[name] = sum(share * state[name].double() for share, state in zip(shares, tensors, strict=True)
                             ).to(tensor.dtype)
        else:
            mean[name] = tensor
    model = model_from_dict({**first, "state_dict": mean}, out)
    metadata = {**(first.get("metadata") or {}),
                "averaged_from": [{"path": str(p), "weight": round(share, 6),
                                   "epoch": (s.get("metadata") or {}).get("epoch")}
                                  for p, share, s in zip(paths, shares, sources, strict=True)]}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model, metadata)
    return f"{out}: the mean of {len(paths)} checkpoints (weights {', '.join(f'{s:.3g}' for s in shares)})"
