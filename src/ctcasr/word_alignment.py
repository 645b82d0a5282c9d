"""Word times of whole manifests from a model's forced alignment (`ctcasr align`), for word-aligned crops."""

from __future__ import annotations

from dataclasses import replace

import torch

from ctcasr.align import forced_align, word_spans
from ctcasr.audio import load
from ctcasr.checkpoint import load_model
from ctcasr.data.batching import duration_batches
from ctcasr.data.manifest import Utterance, read_manifest, write_manifest
from ctcasr.errors import UserError
from ctcasr.inference import log_probs_of
from ctcasr.models.asr import ASRModel


@torch.inference_mode()
def align_utterances(model: ASRModel, items: list[Utterance], batch_seconds: float = 100.0
                     ) -> tuple[list[Utterance], list[str]]:
    """`items` with `words` set to each word's [start, end] seconds (from its first to past its last aligned
    frame), in the input order; and one line for each utterance that could not be aligned (left out)."""
    tok, step, rate = model.tokenizer, model.frame_seconds, model.sample_rate
    aligned: dict[int, Utterance] = {}
    problems: list[str] = []
    for batch in duration_batches([u.duration for u in items], batch_seconds):
        waves = [torch.from_numpy(load(items[i].audio_filepath, rate)) for i in batch]
        log_probs, lengths = log_probs_of(model, waves)
        for row, index in enumerate(batch):
            u = items[index]
            try:
                prepared = tok.prepare(u.text, u.where)
                words, ids = len(prepared.split()), tok.ids(prepared).tolist()
                frames = log_probs[row, : int(lengths[row])].float().numpy()
                spans = word_spans(forced_align(frames, ids), ids, tok.spelling)
            except (UserError, ValueError) as exc:
                problems.append(f"{u.where}: {exc}")
                continue
            if len(spans) != words:
                problems.append(f"{u.where}: {len(spans)} aligned words for {words} in the text")
                continue
            times = [[round(first * step, 3), round((last + 1) * step, 3)] for first, last in spans]
            aligned[index] = replace(u, words=times)
    return [aligned[i] for i in sorted(aligned)], problems


def align_manifest(model_path: str, manifest: str, out: str, batch_seconds: float = 100.0) -> str:
    """Write `manifest` with word times to `out` (utterances that cannot be aligned left out); a summary line."""
    items = read_manifest(manifest)
    model = load_model(model_path)
    aligned, problems = align_utterances(model, items, batch_seconds)
    if not aligned:
        raise UserError(f"no utterance could be aligned ({problems[0]})", manifest)
    write_manifest(out, aligned)
    shown = "".join(f"\n  {line}" for line in problems[:5]) + ("\n  ..." if len(problems) > 5 else "")
    return f"{out}: word times for {len(aligned)} of {len(items)} utterances" + (
        f"; {len(problems)} left out:{shown}" if problems else "")
