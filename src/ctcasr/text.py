"""Text normalisation (one function for transcripts, LM text and scoring) and the character tokenizer."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ctcasr.errors import UserError

BLANK = "<blank>"
DEFAULT_ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"
OOV_POLICIES = ("error", "drop", "space")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'"})
_SEPARATORS = "-_/\\" + "".join(chr(c) for c in range(0x2010, 0x2016))  # become spaces
_PUNCTUATION = '.,!?;:"()[]{}<>*#~\u201c\u201d\u00ab\u00bb\u2026'  # are dropped
_TABLE = str.maketrans({**{c: " " for c in _SEPARATORS}, **{c: None for c in _PUNCTUATION}})
_TAGS = re.compile(r"</?[a-z]+>", re.IGNORECASE)  # <s>, </s>, <unk>, <noise>
_QUOTES = re.compile(r"(^|\s)'+|'+(\s|$)")  # quotation marks, not apostrophes inside words


def normalise(text: str) -> str:
    """Drop <tags>, lower-case, fold accents, unify apostrophes, drop punctuation, dashes to spaces, squeeze spaces.

    Characters that survive but are outside a tokenizer's alphabet (digits, symbols) are left in place so the
    tokenizer's out-of-vocabulary policy can count and handle them.
    """
    if not text.isascii():  # fold accents; ASCII text (most corpora) skips the per-character work
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c)).translate(_APOSTROPHES)
    if "<" in text:
        text = _TAGS.sub(" ", text)
    text = text.lower().translate(_TABLE)
    if "'" in text:
        text = _QUOTES.sub(r"\1\2", text)
    return " ".join(text.split())


@dataclass
class CharTokenizer:
    """Characters to ids and back. Id 0 is the CTC blank; the rest is `alphabet` in order.

    `oov` decides what happens to a character outside the alphabet: `error` raises, `drop` removes it,
    `space` replaces it by a space. Dropped or replaced characters are counted in `oov_counts`.
    """

    alphabet: str = DEFAULT_ALPHABET
    oov: str = "error"
    oov_counts: Counter = field(default_factory=Counter, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.oov not in OOV_POLICIES:
            raise UserError(f"unknown out-of-vocabulary policy {self.oov!r}; use one of {', '.join(OOV_POLICIES)}")
        if len(set(self.alphabet)) != len(self.alphabet):
            raise UserError(f"alphabet has repeated characters: {self.alphabet!r}")
        self._index = {c: i + 1 for i, c in enumerate(self.alphabet)}
        self._charset = frozenset(self.alphabet)
        self._ascii_ids = np.zeros(128, dtype=np.int16)  # lookup table for the common, ASCII case
        for c, i in self._index.items():
            if c.isascii():
                self._ascii_ids[ord(c)] = i

    @property
    def vocab(self) -> list[str]:
        return [BLANK, *self.alphabet]

    def __len__(self) -> int:
        return len(self.alphabet) + 1

    def prepare(self, text: str, where: str | None = None) -> str:
        """Normalise `text` and apply the out-of-vocabulary policy; `where` names the source in errors."""
        text = normalise(text)
        if self._charset.issuperset(text):
            return text
        bad = [c for c in text if c not in self._index]
        if self.oov == "error":
            raise UserError(
                f"transcript has characters outside the vocabulary {sorted(set(bad))!r}: {text!r} "
                "(set text.oov=drop or text.oov=space to accept)",
                where,
            )
        self.oov_counts.update(bad)
        replacement = " " if self.oov == "space" else ""
        text = "".join(c if c in self._index else replacement for c in text)
        return " ".join(text.split())

    def encode(self, text: str, where: str | None = None) -> list[int]:
        return self.ids(self.prepare(text, where)).tolist()

    def ids(self, prepared: str) -> np.ndarray:
        """Token ids (int16) of text that `prepare` already returned."""
        if prepared.isascii():
            return self._ascii_ids[np.frombuffer(prepared.encode("ascii"), dtype=np.uint8)]
        return np.array([self._index[c] for c in prepared], dtype=np.int16)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids to text: blanks dropped, runs of spaces squeezed (collapsing repeats is the decoder's job)."""
        return " ".join("".join(self.alphabet[i - 1] for i in ids if i > 0).split())

    def to_dict(self) -> dict:
        return {"kind": "char", "alphabet": self.alphabet, "oov": self.oov}

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> CharTokenizer:
        if data.get("kind") != "char":
            raise UserError(f"unknown tokenizer kind {data.get('kind')!r} (known: char)", source)
        alphabet, oov = data.get("alphabet"), data.get("oov", "error")
        if not isinstance(alphabet, str) or not alphabet or not isinstance(oov, str):
            raise UserError("tokenizer settings are damaged (alphabet must be a non-empty string)", source)
        try:
            return cls(alphabet=alphabet, oov=oov)
        except UserError as exc:
            raise UserError(str(exc), source) from None


def oov_summary(counts: Counter, examples: Sequence[str] = ()) -> str:
    total = sum(counts.values())
    top = ", ".join(f"{c!r}x{n}" for c, n in counts.most_common(8))
    return f"{total} out-of-vocabulary characters handled ({top})" + (f"; e.g. {examples[0]!r}" if examples else "")
