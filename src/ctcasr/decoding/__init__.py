"""CTC decoders behind one interface: (B, T, V) log-probs + lengths -> texts."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from ctcasr.decoding.beam import Fusion, beam_decode
from ctcasr.decoding.greedy import greedy_decode
from ctcasr.decoding.lm import WordLM
from ctcasr.errors import UserError
from ctcasr.text import CharTokenizer

DECODERS = ("greedy", "beam")


@dataclass
class DecoderConfig:
    decoder: str = "greedy"
    beam: int = 10
    token_topk: int | None = 12
    token_cum_prob: float = 0.999
    blank_skip: float | None = 0.999
    lm: str | None = None  # word n-gram (ARPA, ARPA.gz or KenLM binary) fused into the beam search
    alpha: float = 0.5  # LM weight
    beta: float = 1.0  # word insertion bonus
    unk_penalty: float = -10.0


class Decoder:
    def __init__(self, config: DecoderConfig, tokenizer: CharTokenizer):
        if config.decoder not in DECODERS:
            raise UserError(f"unknown decoder {config.decoder!r}; known: {', '.join(DECODERS)}")
        if config.lm and config.decoder != "beam":
            raise UserError("--lm needs --decoder beam")
        self.config, self.tokenizer = config, tokenizer
        self.fusion = None
        if config.lm:
            lm = WordLM(config.lm, tokenizer.alphabet)
            print(lm.report.summary(), file=sys.stderr)
            self.fusion = Fusion(lm, tokenizer.alphabet, tokenizer.alphabet.index(" ") + 1, config.alpha,
                                 config.beta, config.unk_penalty)

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        c = self.config
        if c.decoder == "greedy":
            return [self.tokenizer.decode(ids) for ids in greedy_decode(log_probs, lengths)]
        nbest = beam_decode(log_probs, lengths, beam=c.beam, token_topk=c.token_topk,
                            token_cum_prob=c.token_cum_prob, blank_skip=c.blank_skip, fusion=self.fusion)
        return [self.tokenizer.decode(hyps[0].tokens) for hyps in nbest]
