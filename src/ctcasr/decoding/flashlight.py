"""flashlight-text's beam-search decoders (C++) with ctcasr's KenLM word LM (or none), same results format as `beam.py`.

PyPI's flashlight-text wheels are built without their KenLM class, so the LM is given to the decoders as a
subclass of `flashlight.lib.text.decoder.LM` that calls `WordLM` (the same reconciled vocabulary the own beam
search uses). Lexicon-constrained: words come from the LM's vocabulary (a trie of spellings); the LM is asked
once per word. Lexicon-free: any spelling; the LM sees characters, scores a word when a space (or the end)
completes it and charges `unk_penalty` once when a partial word leaves the LM's vocabulary. Phone models always
decode with the lexicon decoder: a trie of the lexicon's pronunciations, '|' as the word separator.
"""

from __future__ import annotations

import math

import numpy as np

from ctcasr.decoding.beam import Hypothesis, check_log_probs
from ctcasr.decoding.greedy import as_array, collapse_path
from ctcasr.errors import UserError

LOG_ADD = True  # merge hypotheses with log-sum-exp (as a CTC prefix search does), not max


def _flashlight():
    try:
        from flashlight.lib.text import decoder
    except ImportError:
        raise UserError("--decoder flashlight needs flashlight-text: pip install flashlight-text") from None
    return decoder


class _WordLMAdapter:
    """Factory for the LM subclass (built lazily so importing this module does not need flashlight)."""

    @staticmethod
    def build(fl, word_lm, spelling, space: int, unk_penalty: float, words: list[str] | None):
        class WordLMForFlashlight(fl.LM):
            def __init__(self):
                super().__init__()
                self.states: dict = {}

            def start(self, start_with_nothing: bool):
                self.states = {}
                state = fl.LMState()
                self.states[state] = (word_lm.begin(), "", False)
                return state

            def _child(self, state, index: int, value):
                child = state.child(index)
                if child not in self.states:
                    self.states[child] = value
                return child

            def score(self, state, index: int):
                lm_state, partial, flagged = self.states[state]
                if words is not None:  # lexicon decoder: index is a word of `words`
                    logp, nxt = word_lm.score(lm_state, words[index])
                    return self._child(state, index, (nxt, "", False)), logp
                if index == space:
                    if not partial:
                        return self._child(state, index, (lm_state, "", False)), 0.0
                    logp, nxt = word_lm.score(lm_state, partial)
                    penalty = unk_penalty if (not flagged and not word_lm.knows(partial)) else 0.0
                    return self._child(state, index, (nxt, "", False)), logp + penalty
                partial = partial + spelling.pieces[index]
                leaves = not flagged and not word_lm.is_prefix(partial)
                child = self._child(state, index, (lm_state, partial, flagged or leaves))
                return child, unk_penalty if leaves else 0.0

            def finish(self, state):
                lm_state, partial, flagged = self.states[state]
                total = 0.0
                if partial and words is None:
                    logp, lm_state = word_lm.score(lm_state, partial)
                    total += logp + (unk_penalty if (not flagged and not word_lm.knows(partial)) else 0.0)
                return self._child(state, -1, (lm_state, "", False)), total + word_lm.end(lm_state)

        return WordLMForFlashlight()


class FlashlightBackend:
    def __init__(self, config, tokenizer, word_lm):
        fl = _flashlight()
        self.fl, self.config, self.tokenizer = fl, config, tokenizer
        self.phones = tokenizer.lexical
        if tokenizer.kind not in ("char", "phone"):
            raise UserError(f"--decoder flashlight decodes character and phone models; this one has "
                            f"{tokenizer.kind} units (use --decoder beam)")
        spelling = tokenizer.spelling
        self.space = 1 if self.phones else spelling.starts.index(True)  # the word separator
        self.lexicon = config.lexicon or self.phones
        if self.phones:
            self.words = sorted(tokenizer.lexicon)
        else:
            self.words = sorted(word_lm.spelling) if self.lexicon and word_lm else None
        if self.lexicon and not self.words:
            raise UserError("--lexicon needs an ARPA LM (its vocabulary is the lexicon)")
        if word_lm is None:
            self.lm = fl.ZeroLM()
        else:
            self.lm = _WordLMAdapter.build(fl, word_lm, spelling, self.space, config.unk_penalty, self.words)
        self.trie = None
        if self.lexicon:
            self.trie = fl.Trie(len(tokenizer), self.space)
            start = self.lm.start(False)
            for i, word in enumerate(self.words):
                _, score = self.lm.score(start, i)
                for tokens in self._spellings(word):
                    self.trie.insert(tokens, i, score)
            self.trie.smear(fl.SmearingMode.MAX)
        self.set_weights(config.alpha, config.beta)

    def _spellings(self, word: str) -> list[list[int]]:
        """Token sequences of a word: its pronunciations (phones) or its characters."""
        if self.phones:
            return [self.tokenizer.encode(word)]  + [
                [self.tokenizer.vocab.index(p) for p in pron] for pron in self.tokenizer.lexicon[word][1:]]
        return [self.tokenizer.encode(word)]

    def set_weights(self, alpha: float, beta: float) -> None:
        fl, c = self.fl, self.config
        if isinstance(self.lm, fl.ZeroLM):  # as in the own beam search, the word bonus comes with an LM only
            alpha = beta = 0.0
        token_beam = min(c.token_topk or len(self.tokenizer), len(self.tokenizer))
        threshold = c.beam_threshold if c.beam_threshold is not None else 1e9
        if self.lexicon:
            options = fl.LexiconDecoderOptions(beam_size=c.beam, beam_size_token=token_beam, beam_threshold=threshold,
                                               lm_weight=alpha, word_score=beta, unk_score=-math.inf,
                                               sil_score=0.0, log_add=LOG_ADD, criterion_type=fl.CriterionType.CTC)
            self.decoder = fl.LexiconDecoder(options, self.trie, self.lm, self.space, 0, -1, [], False)
        else:
            options = fl.LexiconFreeDecoderOptions(beam_size=c.beam, beam_size_token=token_beam,
                                                   beam_threshold=threshold, lm_weight=alpha, sil_score=beta,
                                                   log_add=LOG_ADD, criterion_type=fl.CriterionType.CTC)
            self.decoder = fl.LexiconFreeDecoder(options, self.lm, self.space, 0, [])

    def decode(self, log_probs, lengths, nbest: int) -> list[list[Hypothesis]]:
        array = as_array(log_probs).astype(np.float32, copy=False)
        lengths = as_array(lengths).reshape(-1)
        out = []
        for i in range(array.shape[0]):
            emissions = np.ascontiguousarray(array[i, : int(lengths[i])])
            check_log_probs(emissions)
            frames, vocab = emissions.shape
            results = self.decoder.decode(emissions.ctypes.data, frames, vocab)[:nbest]
            out.append([self._hypothesis(r) for r in results] or [Hypothesis((), 0.0, ())])
        return out

    def _hypothesis(self, result) -> Hypothesis:
        vocab = len(self.tokenizer)  # anything outside the vocabulary (padding) counts as a blank
        tokens, frames = map(list, collapse_path(t if t < vocab else 0 for t in result.tokens))
        texts = None
        if self.phones:  # the words found, one per phone segment
            texts = tuple(self.words[w] for w in result.words if w >= 0)
        elif self.words is not None:  # lexicon decoding: the words are authoritative
            spelled = " ".join(self.words[w] for w in result.words if w >= 0)
            tokens = self.tokenizer.encode(spelled) if spelled else []
            frames = frames[: len(tokens)] + [frames[-1] if frames else 0] * (len(tokens) - len(frames))
        while tokens and tokens[0] == self.space:
            tokens.pop(0)
            frames.pop(0)
        return Hypothesis(tuple(tokens), float(result.score), tuple(frames), float(result.emittingModelScore),
                          float(result.lmScore), sum(1 for w in result.words if w >= 0), texts=texts)

