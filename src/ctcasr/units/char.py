"""The character tokenizer: id 0 is the CTC blank, then the alphabet in order (the space separates words)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np

from ctcasr.errors import UserError
from ctcasr.text import DEFAULT_ALPHABET, OOV_POLICIES, normalise
from ctcasr.units import BLANK, Spelling


@dataclass
class CharTokenizer:
    """Characters to ids and back. Id 0 is the CTC blank; the rest is `alphabet` in order.

    `oov` decides what happens to a character outside the alphabet: `error` raises, `drop` removes it,
    `space` replaces it by a space. Dropped or replaced characters are counted in `oov_counts`.
    """

    kind: ClassVar[str] = "char"
    lexical: ClassVar[bool] = False
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

    @cached_property
    def spelling(self) -> Spelling:
        return Spelling(("", *(c if c != " " else "" for c in self.alphabet)),
                        (False, *(c == " " for c in self.alphabet)))

    def spellable(self, word: str) -> str | None:
        """None when the tokenizer can spell `word` (normalised), else why not (a character it lacks)."""
        bad = sorted({c for c in word if c not in self._charset or c == " "})
        return (bad[0] if bad else "<empty>") if bad or not word else None

    def __len__(self) -> int:
        return len(self.alphabet) + 1

    def prepare(self, text: str, where: str | None = None) -> str:
        """Normalise `text` and apply the out-of-vocabulary policy; `where` names the source in errors."""
        return prepare_text(text, self._charset, self.oov, self.oov_counts, where)

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

    def word(self, ids) -> str:
        return self.spelling.text(ids)

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




def prepare_text(text: str, charset: frozenset, oov: str, counts: Counter, where: str | None) -> str:
    """Normalised `text` with characters outside `charset` handled by the `oov` policy (error, drop, space) and
    counted in `counts`."""
    text = normalise(text)
    if charset.issuperset(text):
        return text
    bad = [c for c in text if c not in charset]
    if oov == "error":
        raise UserError(f"transcript has characters outside the vocabulary {sorted(set(bad))!r}: {text!r} "
                        "(set text.oov=drop or text.oov=space to accept)", where)
    counts.update(bad)
    replacement = " " if oov == "space" else ""
    return " ".join("".join(c if c in charset else replacement for c in text).split())
