"""Sentencepiece subword units (BPE or unigram), trained by ctcasr on normalised training text.

CTC id 0 is the blank and id i + 1 is sentencepiece piece i. Text is normalised as for every tokenizer and
restricted to the characters the model was trained on (the out-of-vocabulary policy decides the rest); a piece
that begins with the '▁' marker begins a word. The sentencepiece model travels inside the checkpoint.
"""

from __future__ import annotations

import base64
import io
import os
from collections import Counter
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np

from ctcasr.errors import UserError
from ctcasr.files import atomic_path
from ctcasr.text import OOV_POLICIES, normalise
from ctcasr.units import BLANK, Spelling
from ctcasr.units.char import prepare_text

MARKER = "\u2581"
BPE_KINDS = ("bpe", "unigram")


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise UserError("subword units need the sentencepiece package: pip install sentencepiece") from None
    return sentencepiece


def train_sentencepiece(sentences: Iterable[str], vocab_size: int, model_type: str = "bpe") -> bytes:
    """A sentencepiece model (serialised) of normalised `sentences`; no <s>/</s>, every character covered."""
    spm = _sentencepiece()
    if model_type not in BPE_KINDS:
        raise UserError(f"unknown subword model type {model_type!r}; use bpe or unigram")
    lines = [s for s in (normalise(t) for t in sentences) if s]
    if not lines:
        raise UserError("no text to train subword units on")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type=model_type,
            character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0, pad_id=-1, minloglevel=2,
            split_digits=True, hard_vocab_limit=False, num_threads=1, max_sentence_length=100000)
    except RuntimeError as exc:
        raise UserError(f"sentencepiece could not train {vocab_size} units ({' '.join(str(exc).split())[:200]})") \
            from None
    return model.getvalue()


class BPETokenizer:
    kind: ClassVar[str] = "bpe"
    lexical: ClassVar[bool] = False

    def __init__(self, model: bytes, oov: str = "error", source: str | None = None):
        if oov not in OOV_POLICIES:
            raise UserError(f"unknown out-of-vocabulary policy {oov!r}; use one of {', '.join(OOV_POLICIES)}")
        spm = _sentencepiece()
        self.model, self.oov, self.oov_counts = model, oov, Counter()
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(model)
        except (RuntimeError, TypeError):
            raise UserError("not a sentencepiece model", source) from None
        self.pieces = [self.sp.IdToPiece(i) for i in range(self.sp.GetPieceSize())]
        self.charset = frozenset(c for i, p in enumerate(self.pieces) if not self.sp.IsUnknown(i)
                                 for c in p.replace(MARKER, " ")) | {" "}

    @classmethod
    def load(cls, path: str | os.PathLike, oov: str = "error") -> BPETokenizer:
        """A tokenizer from a `.model` file written by `ctcasr tokenizer train` or sentencepiece."""
        if not Path(path).is_file():
            raise UserError("sentencepiece model does not exist", path)
        return cls(Path(path).read_bytes(), oov, str(path))

    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(self.model)

    @property
    def vocab(self) -> list[str]:
        return [BLANK, *self.pieces]

    def __len__(self) -> int:
        return len(self.pieces) + 1

    @cached_property
    def spelling(self) -> Spelling:
        pieces = ("", *("" if self.sp.IsUnknown(i) else p.replace(MARKER, "") for i, p in enumerate(self.pieces)))
        starts = (False, *(p.startswith(MARKER) for p in self.pieces))
        return Spelling(pieces, starts)

    def prepare(self, text: str, where: str | None = None) -> str:
        return prepare_text(text, self.charset, self.oov, self.oov_counts, where)

    def ids(self, prepared: str) -> np.ndarray:
        return np.asarray(self.sp.EncodeAsIds(prepared), dtype=np.int32) + 1

    def encode(self, text: str, where: str | None = None) -> list[int]:
        return self.ids(self.prepare(text, where)).tolist()

    def decode(self, ids) -> str:
        return " ".join(self.spelling.words([int(i) for i in ids if int(i) > 0]))

    def spellable(self, word: str) -> str | None:
        bad = sorted({c for c in word if c not in self.charset or c == " "})
        return (bad[0] if bad else "<empty>") if bad or not word else None

    def word(self, ids) -> str:
        return self.spelling.text(ids)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "model": base64.b64encode(self.model).decode("ascii"), "oov": self.oov}

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> BPETokenizer:
        try:
            model = base64.b64decode(data["model"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise UserError("tokenizer settings are damaged (no sentencepiece model)", source) from None
        oov = data.get("oov", "error")
        return cls(model, oov if isinstance(oov, str) else "error", source)


def train_tokenizer_file(texts: list[str], out: str | os.PathLike, kind: str, vocab_size: int) -> BPETokenizer:
    """`ctcasr tokenizer train`: units of the text files (plain, manifests, LJSpeech csv), written to `out`."""
    from ctcasr.decoding.lm_build import read_text_lines, text_files
    from ctcasr.files import check_output_file

    out = check_output_file(out)
    lines = [line for path in text_files(texts) for line in read_text_lines(path)]
    tokenizer = BPETokenizer(train_sentencepiece(lines, vocab_size, kind))
    tokenizer.save(out)
    return tokenizer
