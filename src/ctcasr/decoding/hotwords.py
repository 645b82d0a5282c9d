"""Hotword boosting for the beam search: a trie of listed words and phrases, scored as partial words grow.

A file has one hotword or phrase per line, optionally followed by its boost in nats (`word [boost]`); text is
normalised like transcripts. While a prefix spells the beginning of a hotword, each character earns
`boost / len(hotword)`; when the hotword is complete (followed by a space or the end), the bonus is kept; when the
prefix leaves the trie or the word goes on past the hotword (`bob` in `bobby`), the bonus earned so far is taken
back. So a hotword competes with its acoustic rivals only once, never through half-words.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ctcasr.decoding import trie
from ctcasr.errors import UserError
from ctcasr.files import utf8_lines
from ctcasr.text import normalise

DEFAULT_BOOST = 4.0  # nats for a whole hotword


@dataclass
class Hotwords:
    children: list[dict[str, int]] = field(default_factory=lambda: [{}])  # trie over characters; node 0 = root
    step: list[float] = field(default_factory=lambda: [0.0])  # bonus for reaching each node
    terminal: set[int] = field(default_factory=set)
    words: dict[str, float] = field(default_factory=dict)

    def add(self, phrase: str, boost: float) -> None:
        nodes = trie.insert(self.children, phrase)
        self.step += [0.0] * (len(self.children) - len(self.step))
        for node in nodes:
            self.step[node] = max(self.step[node], boost / len(phrase))
        self.terminal.add(nodes[-1] if nodes else 0)
        self.words[phrase] = boost

    def advance(self, node: int, char: str, at_word_start: bool) -> int:
        """The trie node after `char`, or -1 when the prefix is not (any longer) a hotword's beginning.
        Matching starts only at the beginning of a word."""
        if node < 0:
            if not at_word_start:
                return -1
            node = 0
        return self.children[node].get(char, -1)


def read_hotwords(path: str | os.PathLike, tokenizer, default_boost: float = DEFAULT_BOOST) -> Hotwords:
    """Parse `word [boost]` lines; text is normalised, every word must be one the model can spell."""
    path = Path(path)
    if not path.is_file():
        raise UserError("hotwords file does not exist", path)
    hot = Hotwords()
    for number, line in enumerate(utf8_lines(path), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        boost = default_boost
        try:
            boost = float(parts[-1])
            parts = parts[:-1]
        except ValueError:
            pass
        if not parts:
            raise UserError(f"line {number}: a boost without a word", path)
        if not math.isfinite(boost) or boost <= 0 or boost > 100:
            raise UserError(f"line {number}: the boost must be a number in (0, 100], got {line.split()[-1]!r}", path)
        phrase = normalise(" ".join(parts))
        bad = [why for why in map(tokenizer.spellable, phrase.split()) if why]
        if not phrase or bad:
            raise UserError(f"line {number}: the model cannot spell {' '.join(parts)!r} ({bad[0] if bad else 'empty'})",
                            path)
        hot.add(phrase, boost)
    if not hot.words:
        raise UserError("hotwords file lists no words", path)
    return hot
