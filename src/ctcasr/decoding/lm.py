"""Word n-gram language models (KenLM) reconciled with the tokenizer, for shallow fusion in the beam search.

What the original's LM got wrong cannot happen here: the LM's words are matched to the tokenizer's alphabet
through `text.normalise` (so an uppercase LM serves a lowercase model), apostrophes are unified, KenLM's log10
scores are converted to natural logs, and the words that could not be reconciled are counted and reported.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ctcasr.errors import UserError
from ctcasr.files import quiet_stderr
from ctcasr.text import normalise

LN10 = math.log(10.0)
KENLM_BINARY_MAGIC = b"mmap lm "  # how KenLM binary files begin
SPECIAL = {"<s>", "</s>", "<unk>", "<UNK>"}


@dataclass
class VocabularyReport:
    lm_words: int = 0
    usable: int = 0  # words the tokenizer can spell (characters, subwords) or pronounce (lexicon), normalised
    case_folded: int = 0  # words whose spelling changed (case, accents, apostrophes) to match the tokenizer
    unusable: Counter = field(default_factory=Counter)  # why a word cannot be used -> words
    examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"LM vocabulary: {self.usable} of {self.lm_words} words usable, {self.case_folded} case-folded"
        if self.unusable:
            chars = ", ".join(f"{c!r}x{n}" if len(c) == 1 else f"{c}x{n}" for c, n in self.unusable.most_common(5))
            text += f"; {self.lm_words - self.usable} not reconcilable ({chars}; e.g. {', '.join(self.examples[:3])})"
        return text


def read_arpa_vocabulary(path: str | os.PathLike) -> list[str]:
    """The unigrams of an ARPA file (plain or gzipped); UserError when it is not ARPA."""
    opener = gzip.open if str(path).endswith(".gz") else open
    words: list[str] = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            first = ""
            for line in f:
                if line.strip():
                    first = line.strip()
                    break
            if first != "\\data\\":
                raise UserError("not an ARPA or KenLM binary language model (no \\data\\ header)", path)
            in_unigrams = False
            for line in f:
                line = line.strip()
                if line == "\\1-grams:":
                    in_unigrams = True
                elif in_unigrams and line.startswith("\\"):
                    break
                elif in_unigrams and line:
                    parts = line.split("\t")
                    if len(parts) < 2:
                        parts = line.split()
                    if len(parts) < 2:
                        raise UserError(f"malformed unigram line {line[:60]!r}", path)
                    words.append(parts[1])
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read language model ({exc})", path) from None
    if not words:
        raise UserError("ARPA file has no unigrams (truncated?)", path)
    return words


def kenlm_available() -> bool:
    try:
        import kenlm  # noqa: F401
    except ImportError:
        return False
    return True


class WordLM:
    """A KenLM model queried with the tokenizer's words; scores are natural-log probabilities."""

    def __init__(self, path: str | os.PathLike, tokenizer):
        path = Path(path)
        if not path.is_file():
            raise UserError("language model does not exist", path)
        try:
            import kenlm
        except ImportError:
            raise UserError("language-model decoding needs the kenlm package: pip install kenlm") from None
        with open(path, "rb") as f:
            is_binary = f.read(len(KENLM_BINARY_MAGIC)) == KENLM_BINARY_MAGIC
        vocabulary = None if is_binary else read_arpa_vocabulary(path)  # ARPA, plain or gzipped
        config = kenlm.Config()
        config.show_progress = False
        try:
            with quiet_stderr():  # KenLM prints advice ("build a binary file") on stderr while loading ARPA
                self.model = kenlm.Model(str(path), config)
        except (OSError, RuntimeError) as exc:
            first = str(exc).split("threw")[-1].strip()[:160]
            raise UserError(f"cannot load language model ({first})", path) from None
        self.kenlm = kenlm
        self.order = self.model.order
        self.spelling: dict[str, str] = {}  # tokenizer word -> the LM's own spelling
        self.report = VocabularyReport()
        for word in vocabulary or []:
            if word in SPECIAL:
                continue
            self.report.lm_words += 1
            folded = normalise(word)
            why = tokenizer.spellable(folded) if folded and " " not in folded else "<space>"
            if why:
                self.report.unusable[why] += 1
                if len(self.report.examples) < 5:
                    self.report.examples.append(word)
                continue
            self.report.usable += 1
            self.report.case_folded += folded != word
            self.spelling.setdefault(folded, word)
        if vocabulary is not None and not self.spelling:
            units = "the lexicon of this phone model" if tokenizer.lexical else "what the model can spell"
            raise UserError(f"the language model has no word in common with {units} ({self.report.summary()})", path)
        self.prefixes = {w[:i] for w in self.spelling for i in range(1, len(w) + 1)}

    def knows(self, word: str) -> bool:
        return word in self.spelling if self.spelling else self._lm_word(word) in self.model

    def is_prefix(self, partial: str) -> bool:
        return partial in self.prefixes if self.prefixes else True

    def _lm_word(self, word: str) -> str:
        return self.spelling.get(word, word)

    def begin(self):
        state = self.kenlm.State()
        self.model.BeginSentenceWrite(state)
        return state

    def score(self, state, word: str):
        """(ln P(word | state), next state)."""
        out = self.kenlm.State()
        log10 = self.model.BaseScore(state, self._lm_word(word), out)
        return log10 * LN10, out

    def end(self, state) -> float:
        out = self.kenlm.State()
        return self.model.BaseScore(state, "</s>", out) * LN10

    def sentence_score(self, words: list[str]) -> float:
        """ln P(words + </s> | <s>): a whole sentence, for rescoring."""
        state, total = self.begin(), 0.0
        for word in words:
            logp, state = self.score(state, word)
            total += logp
        return total + self.end(state)

    def score_sentences(self, sentences: list[list[str]]) -> list[float]:
        return [self.sentence_score(words) for words in sentences]


def load_rescorer(path: str | os.PathLike, tokenizer):
    """A second-pass LM for n-best rescoring: a ctcasr neural LM (torch file) or a word n-gram (KenLM)."""
    from ctcasr.decoding.neural_lm import is_neural_lm, load_neural_lm

    if Path(path).is_file() and is_neural_lm(path):
        return load_neural_lm(path)
    return WordLM(path, tokenizer)
