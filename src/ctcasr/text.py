"""Text normalisation (one function for transcripts, LM text and scoring) and the character tokenizer."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ctcasr.errors import UserError

BLANK = "<blank>"
DEFAULT_ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"
OOV_POLICIES = ("error", "drop", "space")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'"})
_SEPARATORS = re.compile(r"[-\u2010-\u2015_/\\]+")
_PUNCTUATION = re.compile(r"[.,!?;:\"()\[\]{}<>\u201c\u201d\u00ab\u00bb\u2026*#~]+")
_SPACES = re.compile(r"\s+")
_TAGS = re.compile(r"</?[a-z]+>", re.IGNORECASE)  # <s>, </s>, <unk>, <noise>


def normalise(text: str) -> str:
    """Drop <tags>, lower-case, fold accents, unify apostrophes, drop punctuation, dashes to spaces, squeeze spaces.

    Characters that survive but are outside a tokenizer's alphabet (digits, symbols) are left in place so the
    tokenizer's out-of-vocabulary policy can count and handle them.
    """
    text = _TAGS.sub(" ", unicodedata.normalize("NFKD", text))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(_APOSTROPHES).lower()
    text = _SEPARATORS.sub(" ", text)
    text = _PUNCTUATION.sub("", text)
    text = re.sub(r"(^|\s)'+|'+(\s|$)", r"\1\2", text)  # quotes, not apostrophes inside words
    return _SPACES.sub(" ", text).strip()


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

    @property
    def vocab(self) -> list[str]:
        return [BLANK, *self.alphabet]

    def __len__(self) -> int:
        return len(self.alphabet) + 1

    def prepare(self, text: str, where: str | None = None) -> str:
        """Normalise `text` and apply the out-of-vocabulary policy; `where` names the source in errors."""
        text = normalise(text)
        bad = [c for c in text if c not in self._index]
        if not bad:
            return text
        if self.oov == "error":
            raise UserError(
                f"transcript has characters outside the vocabulary {sorted(set(bad))!r}: {text!r} "
                "(set text.oov=drop or text.oov=space to accept)",
                where,
            )
        self.oov_counts.update(bad)
        replacement = " " if self.oov == "space" else ""
        text = "".join(c if c in self._index else replacement for c in text)
        return _SPACES.sub(" ", text).strip()

    def encode(self, text: str, where: str | None = None) -> list[int]:
        return [self._index[c] for c in self.prepare(text, where)]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids to text (blanks dropped; repeats are not collapsed here, that is the decoder's job)."""
        return "".join(self.alphabet[i - 1] for i in ids if i > 0)

    def to_dict(self) -> dict:
        return {"kind": "char", "alphabet": self.alphabet, "oov": self.oov}

    @classmethod
    def from_dict(cls, data: dict) -> CharTokenizer:
        if data.get("kind") != "char":
            raise UserError(f"unknown tokenizer kind {data.get('kind')!r}")
        return cls(alphabet=data["alphabet"], oov=data.get("oov", "error"))


def oov_summary(counts: Counter, examples: Sequence[str] = ()) -> str:
    total = sum(counts.values())
    top = ", ".join(f"{c!r}x{n}" for c, n in counts.most_common(8))
    return f"{total} out-of-vocabulary characters handled ({top})" + (f"; e.g. {examples[0]!r}" if examples else "")
