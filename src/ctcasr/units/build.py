"""The tokenizer a recipe asks for (`text.units`), built from its settings and, for subwords and phone-word
counts, the training transcripts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from ctcasr.errors import UserError
from ctcasr.text import normalise
from ctcasr.units import Tokenizer

UNITS = ("char", "bpe", "phone")


def build_tokenizer(text, training_texts: Callable[[], Iterable[str]], source: str | None = None) -> Tokenizer:
    """`text` is the recipe's TextConfig; `training_texts` yields the training transcripts (read only if needed)."""
    from ctcasr.units.bpe import BPETokenizer, train_sentencepiece
    from ctcasr.units.char import CharTokenizer
    from ctcasr.units.lexicon import merge_lexicons
    from ctcasr.units.phone import PhoneTokenizer

    if text.units == "char":
        return CharTokenizer(text.alphabet, text.oov)
    if text.units == "bpe":
        if text.bpe_model:
            return BPETokenizer.load(text.bpe_model, text.oov)
        return BPETokenizer(train_sentencepiece(training_texts(), text.vocab_size, text.bpe_type), text.oov)
    if text.units == "phone":
        if not text.lexicon:
            raise UserError("text.units: phone needs text.lexicon (lexicon files, or cmudict)", source)
        counts = Counter(w for line in training_texts() for w in normalise(line).split())
        lexicon = merge_lexicons(text.lexicon, text.keep_stress)
        return PhoneTokenizer(lexicon, dict(counts), text.missing)
    raise UserError(f"unknown text.units {text.units!r}; known: {', '.join(UNITS)}", source)
