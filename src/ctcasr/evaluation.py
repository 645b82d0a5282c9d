"""Error counting and scoring with jiwer: WER / CER with substitutions, deletions and insertions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jiwer


@dataclass
class ErrorCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """Error rate in percent."""
        return 100.0 * self.errors / max(self.reference_length, 1)

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(self.substitutions + other.substitutions, self.deletions + other.deletions,
                           self.insertions + other.insertions, self.reference_length + other.reference_length)


def _count(refs: Sequence[str], hyps: Sequence[str], chars: bool) -> ErrorCounts:
    """Sum of edit operations; empty references count their hypothesis as insertions."""
    total = ErrorCounts()
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r.strip()]
    for r, h in zip(refs, hyps, strict=True):
        if not r.strip() and h.strip():
            total.insertions += len(h) if chars else len(h.split())
    if not pairs:
        return total
    r, h = zip(*pairs, strict=True)
    out = (jiwer.process_characters if chars else jiwer.process_words)(list(r), list(h))
    return total + ErrorCounts(out.substitutions, out.deletions, out.insertions,
                               out.substitutions + out.deletions + out.hits)


def word_errors(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
    return _count(refs, hyps, chars=False)


def char_errors(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
    return _count(refs, hyps, chars=True)
