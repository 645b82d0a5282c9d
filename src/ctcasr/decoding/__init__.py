"""CTC decoders behind one interface: (B, T, V) log-probs (NumPy or torch) + lengths -> texts (or n-best lists)."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field

from ctcasr.decoding.beam import Fusion, Hypothesis, PrefixBeamSearch, beam_decode
from ctcasr.decoding.greedy import GreedyStream, greedy_decode
from ctcasr.decoding.hotwords import read_hotwords
from ctcasr.decoding.lexicon import LexiconFusion
from ctcasr.decoding.lm import WordLM, load_rescorer
from ctcasr.errors import UserError
from ctcasr.schema import build, limits
from ctcasr.units import Tokenizer
from ctcasr.units.phone import PhoneTokenizer
from ctcasr.words import hypothesis_text

DECODERS = ("greedy", "beam", "flashlight")
PROBABILITY = limits(0, 1, low_open=True)


@dataclass
class DecoderConfig:
    decoder: str = field(default="greedy", metadata=limits(choices=DECODERS))  # greedy | beam (ctcasr's own
    #                                             prefix beam search) | flashlight (flashlight-text)
    beam: int = field(default=10, metadata=limits(1))
    nbest: int = field(default=1, metadata=limits(1))  # hypotheses kept per utterance (rescoring: the beam)
    token_topk: int | None = field(default=12, metadata=limits(1))  # per frame, expand at most this many ...
    token_cum_prob: float = field(default=0.99, metadata=PROBABILITY)  # ... until they hold this much mass
    blank_skip: float | None = field(default=0.999, metadata=PROBABILITY)  # frames this surely blank: skipped
    beam_threshold: float | None = field(default=10.0, metadata=limits(0, low_open=True))  # prune (nats)
    recombine: bool = True  # 1-best: merge prefixes with the same LM state, partial word and last token
    lm: str | None = None  # word n-gram (ARPA, ARPA.gz or KenLM binary) fused into the search
    alpha: float = 0.5  # LM weight
    beta: float = 1.0  # word insertion bonus
    unk_penalty: float = field(default=-10.0, metadata=limits(high=0))
    lexicon: bool = False  # flashlight only: restrict words to the LM's vocabulary
    rescore_lm: str | None = None  # second-pass LM (n-gram or `lm train-neural`): n-best lists rescored
    rescore_weight: float = 0.0
    hotwords: str | None = None  # `word [boost]` lines: words and phrases the beam search favours
    hotword_boost: float = field(default=4.0, metadata=limits(0, 100, low_open=True))  # nats, when a line has none


class DecodingStream:
    """`advance((T, V) log-probs)`, `partial()` -> the best hypothesis so far, `finalize()` -> the n-best list
    (rescored when the decoder has a second-pass LM)."""

    def __init__(self, search, rescorer: Decoder | None):
        self.search, self.rescorer = search, rescorer

    def advance(self, log_probs) -> DecodingStream:
        self.search.advance(log_probs)
        return self

    def partial(self) -> Hypothesis:
        return self.search.partial()

    def finalize(self) -> list[Hypothesis]:
        hyps = self.search.finalize()
        if self.rescorer is not None:
            hyps = self.rescorer.rescore(hyps)[: self.rescorer.config.nbest]
        return hyps


def describe(c: DecoderConfig) -> str:
    """A short name: `greedy`, `beam 32 + lm.arpa`, `flashlight 10`."""
    if c.decoder == "greedy":
        return "greedy"
    return f"{c.decoder} {c.beam}" + (f" + {os.path.basename(c.lm)}" if c.lm else "")


def check_config(c: DecoderConfig, source: str | None = None) -> DecoderConfig:
    """Every value type- and range-checked (flags and settings files alike), then the combinations."""
    c = build(DecoderConfig, dataclasses.asdict(c), "decoding", source, "decoding setting")
    if c.decoder not in DECODERS:
        raise UserError(f"unknown decoder {c.decoder!r}; known: {', '.join(DECODERS)}", source)
    if not isinstance(c.beam, int) or c.beam < 1:
        raise UserError(f"the beam must be a positive whole number, got {c.beam}", source)
    if not isinstance(c.nbest, int) or c.nbest < 1 or c.nbest > c.beam:
        raise UserError(f"the n-best size must be between 1 and the beam ({c.beam}), got {c.nbest}", source)
    if c.beam_threshold is not None and c.beam_threshold <= 0:
        raise UserError(f"the beam threshold must be positive, got {c.beam_threshold}", source)
    if c.lm and c.decoder == "greedy":
        raise UserError("an LM needs --decoder beam or flashlight", source)
    if c.rescore_lm and c.decoder == "greedy":
        raise UserError("n-best rescoring needs --decoder beam or flashlight", source)
    if c.lexicon and c.decoder != "flashlight":
        raise UserError("--lexicon is a flashlight decoder option", source)
    if c.lexicon and not c.lm:
        raise UserError("--lexicon needs --lm (the lexicon is the LM's vocabulary)", source)
    if c.hotwords and c.decoder != "beam":
        raise UserError("--hotwords needs --decoder beam (ctcasr's own beam search)", source)
    return c


class Decoder:
    """Greedy, beam or flashlight decoding of one tokenizer's log-probs, with the configured LMs and hotwords.

    Phone models decode to words: greedy looks each phone segment up in the lexicon, the beam search is
    lexicon-constrained (`decoding.lexicon`)."""

    def __init__(self, config: DecoderConfig, tokenizer: Tokenizer, verbose: bool = True):
        config = check_config(config)
        self.config, self.tokenizer = config, tokenizer
        self.spelling = tokenizer.spelling
        lexical = tokenizer.lexical
        self.lm = self.fusion = self.rescorer = self.backend = None
        if config.lm:
            self.lm = WordLM(config.lm, tokenizer)
            # a warning: some of the LM's words can never be decoded -- unless the only reason is a lexicon that
            # holds fewer words than the LM, which is how a phone model's closed vocabulary works
            reasons = set(self.lm.report.unusable) - ({PhoneTokenizer.NOT_IN_LEXICON} if lexical else set())
            if verbose and reasons:
                print(f"warning: {config.lm}: {self.lm.report.summary()}", file=sys.stderr)
        if config.hotwords and lexical:
            raise UserError("--hotwords needs a character or subword model (this one emits phones)")
        hotwords = read_hotwords(config.hotwords, tokenizer, config.hotword_boost) if config.hotwords else None
        if lexical and config.decoder == "beam":
            self.fusion = LexiconFusion(self.lm, tokenizer, config.alpha, config.beta, config.unk_penalty)
        elif self.lm or hotwords:
            self.fusion = Fusion(self.lm, self.spelling, config.alpha, config.beta, config.unk_penalty, hotwords)
        if config.rescore_lm:
            self.rescorer = load_rescorer(config.rescore_lm, tokenizer)
        if config.decoder == "flashlight":
            from ctcasr.decoding.flashlight import FlashlightBackend

            self.backend = FlashlightBackend(config, tokenizer, self.lm)

    def set_weights(self, alpha: float, beta: float) -> None:
        """New LM weight and word bonus without reloading the LM (used by tune-lm)."""
        self.config.alpha, self.config.beta = alpha, beta
        if self.fusion:
            self.fusion.alpha, self.fusion.beta = alpha, beta
        if self.backend:
            self.backend.set_weights(alpha, beta)

    def nbest(self, log_probs, lengths) -> list[list[Hypothesis]]:
        """Best-first hypotheses per utterance (beam and flashlight decoders), rescored when configured."""
        c = self.config
        keep = c.beam if self.rescorer else c.nbest
        if self.backend:
            lists = self.backend.decode(log_probs, lengths, keep)
        else:
            lists = beam_decode(log_probs, lengths, beam=c.beam, nbest=keep, token_topk=c.token_topk,
                                token_cum_prob=c.token_cum_prob, blank_skip=c.blank_skip, fusion=self.fusion,
                                beam_threshold=c.beam_threshold, spelling=self.spelling, recombine=c.recombine)
        if self.rescorer:
            lists = [self.rescore(hyps)[: c.nbest] for hyps in lists]
        return lists

    def stream(self) -> DecodingStream:
        """A stateful decoder for one utterance arriving in chunks (greedy or ctcasr's beam search, with LM
        fusion and hotwords): the same result as decoding all its log-probs at once."""
        c = self.config
        if c.decoder == "flashlight":
            raise UserError("streaming decodes with --decoder greedy or beam (ctcasr's own beam search)")
        if c.decoder == "greedy":
            return DecodingStream(GreedyStream(), None)
        search = PrefixBeamSearch(c.beam, c.beam if self.rescorer else c.nbest, c.token_topk, c.token_cum_prob,
                                  c.blank_skip, self.fusion, c.beam_threshold, self.spelling, c.recombine)
        return DecodingStream(search, self if self.rescorer else None)

    def rescore(self, hyps: list[Hypothesis]) -> list[Hypothesis]:
        weight = self.config.rescore_weight
        sentences = [[w for w, _, _ in h.words(self.spelling)] for h in hyps]
        for h, score in zip(hyps, self.rescorer.score_sentences(sentences), strict=True):
            h.rescore = score
        return sorted(hyps, key=lambda h: h.score + weight * h.rescore, reverse=True)

    def __call__(self, log_probs, lengths) -> list[str]:
        if self.config.decoder == "greedy":
            return [self.tokenizer.decode(ids) for ids in greedy_decode(log_probs, lengths)]
        return [hypothesis_text(hyps[0], self.tokenizer) for hyps in self.nbest(log_probs, lengths)]
