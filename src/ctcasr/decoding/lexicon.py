"""Lexicon-constrained decoding of phone models inside ctcasr's prefix beam search.

A prefix may only spell pronunciations of the lexicon: phones walk a trie of pronunciations, and the word
separator '|' (or the end) completes a word only where the trie holds one. A pronunciation can belong to several
words (homophones: `two`, `to`, `too`); each prefix keeps the best `homophones` word histories, scored by the word
LM (shallow fusion as for characters: alpha * ln P_lm + beta * words), so the LM -- with the words that follow --
chooses between them. Without an LM, the most frequent training word wins. Words come out as `Hypothesis.texts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ctcasr.decoding import trie
from ctcasr.errors import UserError


@dataclass(frozen=True)
class _History:
    score: float  # alpha * lm + beta * words
    state: object  # LM state after the words
    words: tuple[str, ...]
    lm: float = 0.0


@dataclass
class LexiconFusion:
    lm: object | None  # ctcasr.decoding.lm.WordLM
    tokenizer: object  # ctcasr.units.phone.PhoneTokenizer
    alpha: float = 0.5
    beta: float = 0.0
    unk_penalty: float = -10.0  # an utterance that ends inside a pronunciation
    homophones: int = 4  # word histories kept per prefix
    children: list[dict[int, int]] = field(default_factory=lambda: [{}], init=False)
    words_at: dict[int, list[str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for pron, words in self.tokenizer.homophones.items():
            if self.lm is not None and self.lm.spelling:  # words the LM knows first, then the rest
                words = sorted(words, key=lambda w: not self.lm.knows(w))
            self.words_at[(trie.insert(self.children, pron) or [0])[-1]] = words
        if not self.words_at:
            raise UserError("the lexicon has no pronunciations")
        self.separator = 1

    @property
    def spelling(self):
        return self.tokenizer.spelling

    def root(self) -> LexiconContext:
        return LexiconContext(0, (_History(0.0, self.lm.begin() if self.lm else None, ()),))

    def add_word(self, history: _History, word: str) -> _History:
        if self.lm is None:
            return _History(history.score + self.beta, None, (*history.words, word))
        logp, state = self.lm.score(history.state, word)
        return _History(history.score + self.alpha * logp + self.beta, state, (*history.words, word), history.lm + logp)


@dataclass(frozen=True)
class LexiconContext:
    node: int  # trie node of the word in progress (0: between words)
    histories: tuple[_History, ...]  # best first
    penalty: float = 0.0

    def bonus(self, f: LexiconFusion) -> float:
        return self.histories[0].score + self.penalty

    def key(self) -> tuple:
        return self.node, tuple(h.state if h.state is not None else h.words[-1:] for h in self.histories)

    @property
    def texts(self) -> tuple[str, ...]:
        return self.histories[0].words

    @property
    def lm(self) -> float:
        return self.histories[0].lm

    @property
    def words(self) -> int:
        return len(self.histories[0].words)

    def extend(self, f: LexiconFusion, token: int) -> LexiconContext | None:
        if token == f.separator:
            return self.finish_word(f)
        nxt = f.children[self.node].get(token)
        return None if nxt is None else LexiconContext(nxt, self.histories, self.penalty)

    def finish_word(self, f: LexiconFusion) -> LexiconContext | None:
        """The word in progress completed (None when its phones are no word's pronunciation)."""
        if self.node == 0:
            return self
        words = f.words_at.get(self.node)
        if words is None:
            return None
        grown = [f.add_word(h, w) for h in self.histories for w in words]
        grown.sort(key=lambda h: h.score, reverse=True)
        return LexiconContext(0, tuple(grown[: f.homophones]), self.penalty)

    def finish(self, f: LexiconFusion) -> LexiconContext:
        done = self.finish_word(f)
        if done is None:  # ended inside a pronunciation: penalised, the partial word left out
            done = LexiconContext(0, tuple(_History(h.score, h.state, (*h.words, ""), h.lm) for h in self.histories),
                                  self.penalty + f.unk_penalty)
        if f.lm is None:
            return done
        ended = [_History(h.score + f.alpha * end, h.state, h.words, h.lm + end)
                 for h, end in ((h, f.lm.end(h.state)) for h in done.histories)]
        ended.sort(key=lambda h: h.score, reverse=True)
        return LexiconContext(0, tuple(ended), done.penalty)
