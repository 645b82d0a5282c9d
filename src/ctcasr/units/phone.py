"""Phone units from a pronunciation lexicon, with '|' between words.

Targets are each word's first pronunciation with the word separator '|' between words, so a phone model marks
where words end and a lexicon-constrained search (`ctcasr.decoding.lexicon`) turns phones into words. A training
word the lexicon lacks follows `missing`: `error` (one error naming it) or `skip` (the utterance is left out and
counted). Homophones are ordered by how often each word occurs in the training text (`counts`), which decides
between them when no LM does.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import ClassVar

import numpy as np

from ctcasr.errors import UserError
from ctcasr.text import normalise
from ctcasr.units import BLANK, Spelling
from ctcasr.units.lexicon import Lexicon

SEPARATOR = "|"
MISSING_POLICIES = ("error", "skip")


class MissingPronunciation(UserError):
    """A transcript word the lexicon lacks (skipped and counted under the `skip` policy)."""


class PhoneTokenizer:
    kind: ClassVar[str] = "phone"
    lexical: ClassVar[bool] = True

    def __init__(self, lexicon: Lexicon, counts: dict[str, int] | None = None, missing: str = "error",
                 phones: list[str] | None = None):
        if missing not in MISSING_POLICIES:
            raise UserError(f"unknown missing-pronunciation policy {missing!r}; use {' or '.join(MISSING_POLICIES)}")
        if not lexicon:
            raise UserError("a phone tokenizer needs a lexicon with entries")
        self.lexicon, self.missing = lexicon, missing
        self.counts = Counter(counts or {})
        self.missing_counts: Counter = Counter()
        self.phones = phones or sorted({p for prons in lexicon.values() for pron in prons for p in pron})
        self._index = {p: i + 2 for i, p in enumerate(self.phones)}
        unknown = sorted({p for prons in lexicon.values() for pron in prons for p in pron} - set(self._index))
        if unknown:
            raise UserError(f"the lexicon uses phones the model does not have: {', '.join(unknown[:5])}")

    @property
    def vocab(self) -> list[str]:
        return [BLANK, SEPARATOR, *self.phones]

    def __len__(self) -> int:
        return len(self.phones) + 2

    @cached_property
    def spelling(self) -> Spelling:
        return Spelling(("", "", *self.phones), (False, True, *([False] * len(self.phones))), joiner=" ")

    @cached_property
    def homophones(self) -> dict[tuple[int, ...], list[str]]:
        """Pronunciation (phone ids) -> its words, the most frequent in the training text first."""
        table: dict[tuple[int, ...], list[str]] = {}
        for word, prons in self.lexicon.items():
            for pron in prons:
                table.setdefault(tuple(self._index[p] for p in pron), []).append(word)
        for words in table.values():
            words.sort(key=lambda w: -self.counts.get(w, 0))
        return table

    def prepare(self, text: str, where: str | None = None) -> str:
        text = normalise(text)
        lacking = [w for w in text.split() if w not in self.lexicon]
        if lacking:
            self.missing_counts.update(lacking)
            raise MissingPronunciation(f"no pronunciation for {', '.join(repr(w) for w in lacking[:3])} in the "
                                       f"lexicon (text.missing: skip leaves such utterances out)", where)
        return text

    def ids(self, prepared: str) -> np.ndarray:
        out: list[int] = []
        for word in prepared.split():
            if out:
                out.append(1)
            out += [self._index[p] for p in self.lexicon[word][0]]
        return np.asarray(out, dtype=np.int16)

    def encode(self, text: str, where: str | None = None) -> list[int]:
        return self.ids(self.prepare(text, where)).tolist()

    def word_of(self, pron: tuple[int, ...]) -> str | None:
        words = self.homophones.get(pron)
        return words[0] if words else None

    def word(self, ids) -> str:
        return self.word_of(tuple(ids)) or ""

    def decode(self, ids) -> str:
        """Words of a phone sequence: each segment between separators looked up in the lexicon (the most frequent
        homophone); a segment that is no word's pronunciation is left out."""
        ids = [int(i) for i in ids if int(i) > 0]
        words = [self.word_of(tuple(ids[i] for i in g)) for g in self.spelling.segments(ids)]
        return " ".join(w for w in words if w)

    NOT_IN_LEXICON: ClassVar[str] = "not in the lexicon"

    def spellable(self, word: str) -> str | None:
        return None if word in self.lexicon else self.NOT_IN_LEXICON

    def to_dict(self) -> dict:
        return {"kind": self.kind, "phones": self.phones, "missing": self.missing,
                "lexicon": {w: [" ".join(p) for p in prons] for w, prons in self.lexicon.items()},
                "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> PhoneTokenizer:
        try:
            lexicon = {str(w): [tuple(p.split()) for p in prons] for w, prons in data["lexicon"].items()}
            phones = [str(p) for p in data["phones"]]
            counts = {str(w): int(n) for w, n in data.get("counts", {}).items()}
        except (KeyError, AttributeError, TypeError, ValueError):
            raise UserError("tokenizer settings are damaged (phone lexicon)", source) from None
        try:
            return cls(lexicon, counts, str(data.get("missing", "error")), phones)
        except UserError as exc:
            raise UserError(str(exc), source) from None
