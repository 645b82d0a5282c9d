"""`ctcasr evaluate` (a model on a manifest) and `ctcasr score` (two text files): WER / CER reports."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from ctcasr.acoustic import batched_log_probs, open_acoustic
from ctcasr.data.manifest import Utterance, read_manifest
from ctcasr.decoding import DecoderConfig
from ctcasr.errors import UserError
from ctcasr.evaluation import ErrorCounts, char_errors, word_errors
from ctcasr.files import check_output_file, utf8_lines, write_json
from ctcasr.provenance import git_commit, machine_description
from ctcasr.recognizer import Recognizer
from ctcasr.text import normalise
from ctcasr.transcribe import check_chunk_seconds


def _counts(c: ErrorCounts, unit: str) -> dict:
    return {"substitutions": c.substitutions, "deletions": c.deletions, "insertions": c.insertions,
            f"reference_{unit}": c.reference_length, "errors": c.errors}


def build_report(refs: list[str], hyps: list[str], ids: list[str], extra: dict | None = None) -> dict:
    words, utterances = ErrorCounts(), []
    for i, (r, h) in enumerate(zip(refs, hyps, strict=True)):
        w = word_errors([r], [h])  # each pair is aligned on its own, so the corpus counts are these summed
        words += w
        utterances.append({"id": ids[i], "reference": r, "hypothesis": h, "word_errors": w.errors,
                           "reference_words": w.reference_length})
    chars = char_errors(refs, hyps)
    return {"wer": round(words.rate, 3), "cer": round(chars.rate, 3), "num_utterances": len(refs),
            "words": _counts(words, "words"), "chars": _counts(chars, "chars"), **(extra or {}),
            "utterances": utterances}


def references(items: list[Utterance], tokenizer) -> list[str]:
    """Normalised references, with the tokenizer's out-of-vocabulary policy (as in training); every line needs one."""
    from ctcasr.units.phone import MissingPronunciation

    refs = []
    for u in items:
        try:
            text = tokenizer.prepare(u.text, u.where)
        except MissingPronunciation:  # a word the lexicon lacks is still scored (the model cannot produce it)
            text = normalise(u.text)
        if not text:
            raise UserError("no reference transcript to score against (empty text)", u.where)
        refs.append(text)
    return refs


def evaluate_manifest(model_path: str, manifest: str, out: str | None = None, batch_seconds: float = 120.0,
                      device: str = "auto", command: str = "", decoding: DecoderConfig | None = None,
                      chunk_seconds: float = 20.0, runtime: str | None = "torch") -> dict:
    """Decode every utterance of `manifest` (greedy by default); references are normalised by `text.normalise`.
    `runtime`: how a checkpoint runs (`acoustic.open_acoustic`).

    Utterances longer than `chunk_seconds` are read and decoded in chunks cut at pauses, exactly as `transcribe`
    does, so memory stays bounded for an hour-long file."""
    started = time.time()
    decoding = decoding or DecoderConfig()
    check_chunk_seconds(chunk_seconds)
    if not math.isfinite(batch_seconds) or batch_seconds <= 0:
        raise UserError(f"--batch-seconds must be a positive number, got {batch_seconds}")
    if out:
        check_output_file(out)
    items = read_manifest(manifest)
    acoustic = open_acoustic(model_path, device, runtime)
    recognizer = Recognizer(acoustic, decoding, chunk_seconds)
    refs = references(items, acoustic.tokenizer)
    hyps = [""] * len(items)
    audio_seconds = 0.0
    decode_start = time.time()
    short = [i for i, u in enumerate(items) if u.duration <= chunk_seconds]
    bar = tqdm(total=len(items), unit="utt", desc="evaluate", leave=False, disable=None)
    for indices, log_probs, lengths, seconds in batched_log_probs(
            acoustic, [items[i].audio_filepath for i in short], [items[i].duration for i in short], batch_seconds):
        audio_seconds += seconds
        for index, text in zip(indices, recognizer.texts(log_probs, lengths), strict=True):
            hyps[short[index]] = text
        bar.update(len(indices))
    for index in sorted(set(range(len(items))) - set(short)):
        result = recognizer.transcribe(items[index].audio_filepath)
        hyps[index], audio_seconds = result.text, audio_seconds + result.duration
        bar.update(1)
    bar.close()
    processing = time.time() - decode_start
    extra = provenance(model_path, manifest, decoding, acoustic, audio_seconds, processing, command)
    report = build_report(refs, hyps, [u.id or u.audio_filepath for u in items], extra)
    report["value"] = report["wer"]
    report["wall_s"] = round(time.time() - started, 2)
    if out:
        write_json(out, report)
    return report


def provenance(model_path: str, manifest: str, decoding: DecoderConfig, acoustic, audio_seconds: float,
               processing: float, command: str) -> dict:
    """What an evaluation report says besides its error counts: what was run, how fast, where and from what."""
    meta = acoustic.metadata
    return {
        "what": f"WER, {Path(manifest).parent.name}/{Path(manifest).stem}, {_decoder_name(decoding)}, "
                f"{Path(model_path).name}",
        "value": None, "unit": "%", "decoder": dataclasses.asdict(decoding), "model": str(model_path),
        "manifest": str(manifest),
        "audio_seconds": round(audio_seconds, 2), "processing_seconds": round(processing, 3),
        "real_time_factor": round(processing / max(audio_seconds, 1e-9), 5),
        "real_time_factor_inverse": round(audio_seconds / max(processing, 1e-9), 1),
        "runtime": acoustic.description, "device": _device_name(acoustic), "threads": acoustic.threads(),
        "commit": git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(), "wall_s": None, "command": command,
        "training": {k: meta[k] for k in ("command", "commit", "date", "machine", "wall_s", "train_s", "epoch",
                                          "best_epoch", "best_dev_wer", "throughput_audio_s_per_s",
                                          "peak_rss_mb", "peak_rss_workers_mb", "num_parameters", "precision")
                     if k in meta},
    }


def evaluate_decodings(model_path: str, manifest: str, decodings: dict[str, DecoderConfig],
                       batch_seconds: float = 120.0, device: str = "auto", command: str = "") -> dict[str, dict]:
    """Several decodings of one manifest from one forward pass of the model (whole utterances, no chunking):
    {name: report like `evaluate_manifest`'s}. Each report's processing time is the shared forward pass plus its
    own decoding (`forward_seconds`, `decode_seconds`)."""
    started = time.time()
    items = read_manifest(manifest)
    acoustic = open_acoustic(model_path, device)
    refs = references(items, acoustic.tokenizer)
    forward_start = time.time()
    batches = list(batched_log_probs(acoustic, [u.audio_filepath for u in items], [u.duration for u in items],
                                     batch_seconds))
    forward = time.time() - forward_start
    audio_seconds = sum(batch[3] for batch in batches)
    from ctcasr.tune_lm import decode_all

    reports, ready = {}, [(indices, log_probs, lengths) for indices, log_probs, lengths, _ in batches]
    for name, decoding in decodings.items():
        decode_start = time.time()
        hyps = decode_all(Recognizer(acoustic, decoding).decoder, ready, len(items))
        decode = time.time() - decode_start
        extra = provenance(model_path, manifest, decoding, acoustic, audio_seconds, forward + decode, command)
        extra |= {"forward_seconds": round(forward, 3), "decode_seconds": round(decode, 3)}
        report = build_report(refs, hyps, [u.id or u.audio_filepath for u in items], extra)
        report["value"], report["wall_s"] = report["wer"], round(time.time() - started, 2)
        reports[name] = report
    return reports


def _device_name(acoustic) -> str:
    model = getattr(acoustic, "model", None)
    return str(next(model.parameters()).device) if model is not None else "cpu"


def _decoder_name(config: DecoderConfig) -> str:
    return "greedy" if config.decoder == "greedy" else f"{config.decoder} search, beam {config.beam}"


def read_text_file(path: str | os.PathLike) -> dict[str, str]:
    """`id text` lines (Kaldi style) -> {id: normalised text}."""
    if not Path(path).is_file():
        raise UserError("file does not exist", path)
    out: dict[str, str] = {}
    for number, line in enumerate(utf8_lines(path), start=1):
        line = line.strip()
        if not line:
            continue
        utt, _, text = line.partition(" ")
        if utt in out:
            raise UserError(f"line {number}: utterance id {utt!r} appears twice", path)
        out[utt] = normalise(text)
    if not out:
        raise UserError("no lines to score", path)
    return out


def score_files(ref_path: str, hyp_path: str, out: str | None = None) -> dict:
    """Score hypotheses against references by id; a reference id missing from the hypotheses counts as empty."""
    if out:
        check_output_file(out)
    refs, hyps = read_text_file(ref_path), read_text_file(hyp_path)
    extra_ids = sorted(set(hyps) - set(refs))
    if extra_ids:
        raise UserError(f"{len(extra_ids)} hypothesis ids are not in the reference file, e.g. {extra_ids[0]!r}",
                        hyp_path)
    ids = list(refs)
    missing = [i for i in ids if i not in hyps]
    report = build_report([refs[i] for i in ids], [hyps.get(i, "") for i in ids], ids,
                          {"reference_file": ref_path, "hypothesis_file": hyp_path, "missing_hypotheses": len(missing)})
    if out:
        write_json(out, report)
    return report
