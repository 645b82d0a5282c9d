"""CTC decoders behind one interface: (B, T, V) log-probs + lengths -> texts."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ctcasr.decoding.beam import beam_decode
from ctcasr.decoding.greedy import greedy_decode
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


class Decoder:
    def __init__(self, config: DecoderConfig, tokenizer: CharTokenizer):
        if config.decoder not in DECODERS:
            raise UserError(f"unknown decoder {config.decoder!r}; known: {', '.join(DECODERS)}")
        self.config, self.tokenizer = config, tokenizer

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        c = self.config
        if c.decoder == "greedy":
            return [self.tokenizer.decode(ids) for ids in greedy_decode(log_probs, lengths)]
        nbest = beam_decode(log_probs, lengths, beam=c.beam, token_topk=c.token_topk,
                            token_cum_prob=c.token_cum_prob, blank_skip=c.blank_skip)
        return [self.tokenizer.decode(hyps[0].tokens) for hyps in nbest]
