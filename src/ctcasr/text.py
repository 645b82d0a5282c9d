"""Text normalisation: one function for transcripts, LM text and scoring (tokenizers live in `ctcasr.units`)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

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


def oov_summary(counts: Counter, examples: Sequence[str] = ()) -> str:
    total = sum(counts.values())
    top = ", ".join(f"{c!r}x{n}" for c, n in counts.most_common(8))
    return f"{total} out-of-vocabulary characters handled ({top})" + (f"; e.g. {examples[0]!r}" if examples else "")


def __getattr__(name: str):
    """`ctcasr.text.CharTokenizer` as before the tokenizer interface (it lives in `ctcasr.units.char`)."""
    if name == "CharTokenizer":
        from ctcasr.units.char import CharTokenizer

        return CharTokenizer
    raise AttributeError(name)
