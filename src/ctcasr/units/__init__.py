"""Output units behind one interface: characters, sentencepiece subwords (BPE / unigram), phones with a lexicon.

Every tokenizer has a `kind`, `lexical`, `vocab` (id -> unit; id 0 is the CTC blank),
`prepare`/`encode`/`ids`/`decode`, `spellable(word)`, `spelling` (how ids make words), `word(ids)`, and
`to_dict`; `tokenizer_from_dict` rebuilds one from a checkpoint by kind. Decoders, LM fusion, LM building and
word timing take a tokenizer and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

from ctcasr.errors import UserError

BLANK = "<blank>"


@dataclass(frozen=True)
class Spelling:
    """How token ids make words: `pieces[id]` is the text a token adds to the current word, `starts[id]` whether
    the token begins a new word (completing the previous one). Characters: the space starts a word and adds
    nothing; sentencepiece: pieces with the '▁' marker start one; phones: the word separator '|' starts one."""

    pieces: tuple[str, ...]
    starts: tuple[bool, ...]
    joiner: str = ""  # between the pieces of a word when it is spelled out (phones: a space)

    def segments(self, tokens) -> list[list[int]]:
        """Positions of the tokens of each word (words with no text are left out)."""
        groups, current = [], []
        for i, token in enumerate(tokens):
            if self.starts[token] and current:
                groups.append(current)
                current = []
            if self.pieces[token]:
                current.append(i)
        if current:
            groups.append(current)
        return groups

    def spell(self, tokens, group: list[int]) -> str:
        return self.text(tokens[i] for i in group)

    def text(self, ids) -> str:
        """The pieces of `ids` joined (one word's ids)."""
        return self.joiner.join(self.pieces[i] for i in ids)

    def words(self, tokens) -> list[str]:
        return [self.spell(tokens, g) for g in self.segments(tokens)]


class Tokenizer(Protocol):
    kind: str
    lexical: bool  # words come from a lexicon (looked up), not spelled from the units

    @property
    def vocab(self) -> list[str]: ...
    @property
    def spelling(self) -> Spelling: ...
    def __len__(self) -> int: ...
    def prepare(self, text: str, where: str | None = None) -> str: ...
    def encode(self, text: str, where: str | None = None) -> list[int]: ...
    def ids(self, prepared: str) -> np.ndarray:
        """Token ids of text that `prepare` already returned."""
    def decode(self, ids) -> str: ...
    def spellable(self, word: str) -> str | None: ...
    def word(self, ids) -> str:
        """The word one segment of ids makes ('' when it makes none)."""
    def to_dict(self) -> dict: ...


def tokenizer_from_dict(data: dict, source: str | None = None) -> Tokenizer:
    """Rebuild a tokenizer saved with `to_dict` (checkpoints, export sidecars)."""
    from ctcasr.units.bpe import BPETokenizer
    from ctcasr.units.char import CharTokenizer
    from ctcasr.units.phone import PhoneTokenizer

    kinds = {"char": CharTokenizer, "bpe": BPETokenizer, "phone": PhoneTokenizer}
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        raise UserError(f"unknown tokenizer kind {kind!r} (known: {', '.join(kinds)})", source)
    return kinds[kind].from_dict(data, source)
