"""`ctcasr tune-lm`: choose the LM weight alpha and word bonus beta (and a rescoring LM's weight) on a dev set.

The acoustic model runs once per (model, manifest) and its log-probs are cached on disk; every grid point then
only re-runs the beam search. The best point (lowest WER, then CER) is written as a decoding settings file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm import tqdm

from ctcasr.acoustic import batched_log_probs, open_acoustic
from ctcasr.checkpoint import read_checkpoint
from ctcasr.data.download import file_digest
from ctcasr.data.manifest import read_manifest
from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.decoding.settings import save_decoding
from ctcasr.errors import UserError
from ctcasr.evaluation import char_errors, word_errors
from ctcasr.files import atomic_path, check_output_file
from ctcasr.provenance import git_commit, machine_description
from ctcasr.text import normalise
from ctcasr.units import Tokenizer, tokenizer_from_dict

Batches = list[tuple[list[int], torch.Tensor, torch.Tensor]]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ctcasr" / "log_probs"


def model_digest(model_path: str | os.PathLike) -> str:
    """sha256 of a checkpoint, or of an exported folder's network (recorded in its sidecar)."""
    if Path(model_path).is_dir():
        from ctcasr.export import read_sidecar

        return read_sidecar(Path(model_path))["sha256"]
    return file_digest(model_path, "sha256")


def open_tokenizer(model_path: str | os.PathLike) -> Tokenizer:
    """The tokenizer of a checkpoint or an exported folder, without building the network."""
    if Path(model_path).is_dir():
        from ctcasr.export import SIDECAR, read_sidecar

        return tokenizer_from_dict(read_sidecar(Path(model_path))["tokenizer"], str(Path(model_path) / SIDECAR))
    return tokenizer_from_dict(read_checkpoint(model_path)["tokenizer"], str(model_path))


def cached_log_probs(model_path: str, manifest: str, cache_dir: str | os.PathLike | None = None,
                     device: str = "auto", batch_seconds: float = 120.0) -> tuple[Batches, list[str], object]:
    """The model's log-probs on every utterance of `manifest` (computed once, then read from the cache),
    the normalised references, and the model's tokenizer."""
    items = read_manifest(manifest)
    key = hashlib.sha256(f"{model_digest(model_path)} {file_digest(manifest, 'sha256')}".encode())
    cache = Path(cache_dir or default_cache_dir()) / f"{key.hexdigest()[:32]}.pt"
    refs = [normalise(u.text) for u in items]
    if cache.is_file():  # the acoustic model is not needed, only its tokenizer
        tokenizer = open_tokenizer(model_path)
        try:  # weights_only: a cache file can never run code; anything unreadable is recomputed
            return torch.load(cache, weights_only=True), refs, tokenizer
        except Exception as exc:  # noqa: BLE001 - the unpickler raises many kinds on foreign files
            print(f"warning: {cache}: unreadable log-prob cache ({str(exc).splitlines()[0][:80]}); recomputing",
                  file=sys.stderr)
    acoustic = open_acoustic(model_path, device)
    batches = [(indices, torch.from_numpy(log_probs), torch.from_numpy(lengths))
               for indices, log_probs, lengths, _ in batched_log_probs(
                   acoustic, [u.audio_filepath for u in items], [u.duration for u in items], batch_seconds)]
    with atomic_path(cache) as tmp:
        torch.save(batches, tmp)
    return batches, refs, acoustic.tokenizer


def decode_all(decoder: Decoder, batches: Batches, count: int) -> list[str]:
    hyps = [""] * count
    for indices, log_probs, lengths in batches:
        for index, text in zip(indices, decoder(log_probs, lengths), strict=True):
            hyps[index] = text
    return hyps


def _scores(refs: list[str], hyps: list[str]) -> tuple[float, float]:
    return word_errors(refs, hyps).rate, char_errors(refs, hyps).rate


def parse_grid(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--{name} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserError(f"--{name} is empty")
    if not all(math.isfinite(v) for v in values):
        raise UserError(f"--{name} takes finite numbers, got {text!r}")
    return values


def tune_lm(model_path: str, manifest: str, lm: str, out: str, alphas: list[float], betas: list[float],
            beam: int = 32, decoder: str = "beam", rescore_lm: str | None = None,
            rescore_weights: list[float] | None = None, cache_dir: str | None = None, device: str = "auto",
            command: str = "") -> dict:
    started = time.time()
    check_output_file(out)
    batches, refs, tokenizer = cached_log_probs(model_path, manifest, cache_dir, device)
    greedy_wer, greedy_cer = _scores(refs, decode_all(Decoder(DecoderConfig(), tokenizer), batches, len(refs)))
    print(f"{manifest}: {len(refs)} utterances; greedy WER {greedy_wer:.2f} CER {greedy_cer:.2f}", file=sys.stderr)
    base = DecoderConfig(decoder=decoder, beam=beam, lm=lm)
    grid: dict[tuple[float, float], tuple[float, float]] = {}
    first = Decoder(base, tokenizer)  # loads the LM once; alpha and beta change per grid point
    points = [(a, b) for a in alphas for b in betas]
    for alpha, beta in tqdm(points, desc="tune-lm", unit="point", leave=False, disable=None):
        first.set_weights(alpha, beta)
        grid[alpha, beta] = _scores(refs, decode_all(first, batches, len(refs)))
    print(format_table(grid, alphas, betas))
    (alpha, beta), (wer, cer) = min(grid.items(), key=lambda kv: (kv[1], abs(kv[0][0]), abs(kv[0][1])))
    best = dataclasses.replace(base, alpha=alpha, beta=beta)
    info = {"manifest": str(manifest), "model": str(model_path), "utterances": len(refs),
            "wer": round(wer, 3), "cer": round(cer, 3), "greedy_wer": round(greedy_wer, 3),
            "greedy_cer": round(greedy_cer, 3), "alphas": alphas, "betas": betas}
    if rescore_lm:
        rescoring: dict[float, tuple[float, float]] = {}
        second = Decoder(dataclasses.replace(best, rescore_lm=rescore_lm), tokenizer, verbose=False)
        for weight in sorted({0.0, *(rescore_weights or [])}):  # weight 0: the same n-best list, not rescored
            second.config.rescore_weight = weight
            rescoring[weight] = _scores(refs, decode_all(second, batches, len(refs)))
        print("rescoring weight: " + "  ".join(f"{w:g}: WER {s[0]:.2f}" for w, s in rescoring.items()))
        weight, (r_wer, r_cer) = min(rescoring.items(), key=lambda kv: (kv[1], abs(kv[0])))
        if weight > 0 and (r_wer, r_cer) < min((wer, cer), rescoring[0.0]):
            best = dataclasses.replace(best, rescore_lm=rescore_lm, rescore_weight=weight)
            info.update(wer=round(r_wer, 3), cer=round(r_cer, 3))
        info["rescore_weights"] = {str(w): round(s[0], 3) for w, s in rescoring.items()}
    info.update(commit=git_commit(), date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                machine=machine_description(), wall_s=round(time.time() - started, 1), command=command)
    save_decoding(out, best, info)
    return {"decoding": dataclasses.asdict(best), **info}


def format_table(grid: dict[tuple[float, float], tuple[float, float]], alphas: list[float],
                 betas: list[float]) -> str:
    lines = ["WER %   " + "".join(f"b={b:<7g}" for b in betas)]
    for a in alphas:
        lines.append(f"a={a:<6g}" + "".join(f"{grid[a, b][0]:<9.2f}" for b in betas))
    return "\n".join(lines)
