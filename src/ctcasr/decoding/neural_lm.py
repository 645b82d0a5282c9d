"""A small word-level LSTM language model for second-pass n-best rescoring (the original's "two-stage" LM).

`ctcasr lm train-neural TEXT... --out lm.pt` trains it on the CPU from the same text sources as `lm build`
(normalised by `text.normalise`), holding out every 20th sentence to pick the epoch with the lowest perplexity.
The checkpoint is one self-contained file (format marker, vocabulary, sizes, weights; loaded `weights_only`).
Scores are natural-log sentence probabilities, like `WordLM.sentence_score`, so either can rescore an n-best list.
Words outside the vocabulary score as `<unk>` plus a per-character penalty (a spelling model of uniform letters),
so an unknown word is never cheaper than a known one of its length.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ctcasr.errors import UserError
from ctcasr.files import atomic_path
from ctcasr.text import normalise
from ctcasr.torch_files import load_marked

FORMAT = "ctcasr-neural-lm"
VERSION = 1
EOS, UNK = "</s>", "<unk>"  # </s> also starts every sentence


@dataclass
class NeuralLMConfig:
    embedding: int = 256
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.2
    min_count: int = 1  # words seen fewer times map to <unk>
    max_vocab: int = 20000
    char_penalty: float = math.log(27.0)  # nats per character of a word outside the vocabulary


class LSTMLM(nn.Module):
    def __init__(self, vocab_size: int, c: NeuralLMConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, c.embedding)
        self.lstm = nn.LSTM(c.embedding, c.hidden, c.layers, batch_first=True,
                            dropout=c.dropout if c.layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        self.project = nn.Linear(c.hidden, c.embedding)
        self.out = nn.Linear(c.embedding, vocab_size)
        self.out.weight = self.embed.weight  # tied input and output embeddings

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, V) log-probabilities of the next word."""
        hidden, _ = self.lstm(self.drop(self.embed(ids)))
        return self.out(self.project(self.drop(hidden))).log_softmax(-1)


class NeuralLM:
    """Vocabulary + LSTMLM; `sentence_score(words)` and batched `score_sentences`."""

    def __init__(self, vocabulary: list[str], config: NeuralLMConfig, state_dict: dict | None = None):
        self.vocabulary, self.config = vocabulary, config
        self.index = {w: i for i, w in enumerate(vocabulary)}
        self.model = LSTMLM(len(vocabulary), config)
        if state_dict is not None:
            self.model.load_state_dict(state_dict)
        self.model.eval()

    def ids(self, words: Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(w, unk) for w in words]

    def _batch(self, sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        eos = self.index[EOS]
        seqs = [[eos, *self.ids(s), eos] for s in sentences]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), eos, dtype=torch.long)
        mask = torch.zeros(len(seqs), width - 1, dtype=torch.bool)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s) - 1] = True
        return ids[:, :-1], ids[:, 1:], mask

    @torch.inference_mode()
    def score_sentences(self, sentences: list[list[str]]) -> list[float]:
        """ln P(words + </s>) for each sentence, one batched forward pass."""
        if not sentences:
            return []
        inputs, targets, mask = self._batch(sentences)
        logp = self.model(inputs).gather(-1, targets[:, :, None])[:, :, 0]
        totals = (logp * mask).sum(1)
        penalty = [self.config.char_penalty * sum(len(w) for w in s if w not in self.index) for s in sentences]
        return [float(t) - p for t, p in zip(totals, penalty, strict=True)]

    def sentence_score(self, words: list[str]) -> float:
        return self.score_sentences([words])[0]

    def perplexity(self, sentences: list[list[str]], batch: int = 64) -> float:
        total, count = 0.0, 0
        for start in range(0, len(sentences), batch):
            chunk = sentences[start : start + batch]
            inputs, targets, mask = self._batch(chunk)
            with torch.inference_mode():
                logp = self.model(inputs).gather(-1, targets[:, :, None])[:, :, 0]
            total += float((logp * mask).sum())
            count += int(mask.sum())
        return math.exp(-total / max(count, 1))

    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> None:
        data = {"format": FORMAT, "version": VERSION, "vocabulary": self.vocabulary, "config": asdict(self.config),
                "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "metadata": metadata or {}}
        with atomic_path(path) as tmp:
            torch.save(data, tmp)


def is_neural_lm(path: str | os.PathLike) -> bool:
    """True for files that look like a torch checkpoint (zip); ARPA and KenLM binaries never do."""
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def load_neural_lm(path: str | os.PathLike) -> NeuralLM:
    path = Path(path)
    if not path.is_file():
        raise UserError("neural language model does not exist", path)
    data = load_marked(path, FORMAT, "not a ctcasr neural LM")
    try:
        return NeuralLM(list(data["vocabulary"]), NeuralLMConfig(**data["config"]), data["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise UserError(f"neural LM file is damaged ({str(exc).splitlines()[0][:120]})", path) from None


def build_vocabulary(sentences: list[list[str]], config: NeuralLMConfig) -> list[str]:
    counts = Counter(w for s in sentences for w in s)
    kept = [w for w, n in counts.most_common(config.max_vocab) if n >= config.min_count]
    return [EOS, UNK, *sorted(kept)]


def train_neural_lm(sentences: list[str], out: str | os.PathLike, config: NeuralLMConfig | None = None,
                    epochs: int = 8, lr: float = 2e-3, batch: int = 32, seed: int = 0,
                    log=print) -> dict:
    """Train on normalised `sentences`; every 20th is held out for perplexity. Writes the best epoch to `out`."""
    config = config or NeuralLMConfig()
    torch.manual_seed(seed)
    words = [normalise(s).split() for s in sentences]
    words = [w for w in words if w]
    if len(words) < 2:
        raise UserError("the training text has fewer than 2 non-empty sentences")
    dev = words[::20] if len(words) >= 20 else words[:1]
    train = [w for i, w in enumerate(words) if i % 20] if len(words) >= 20 else words[1:]
    lm = NeuralLM(build_vocabulary(train, config), config)
    optimizer = torch.optim.AdamW(lm.model.parameters(), lr=lr, weight_decay=1e-5)
    order = sorted(range(len(train)), key=lambda i: len(train[i]))  # similar lengths per batch: little padding
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    history, best, started = [], math.inf, time.time()
    initial = lm.perplexity(dev)
    rng = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        lm.model.train()
        for b in torch.randperm(len(batches), generator=rng).tolist():
            inputs, targets, mask = lm._batch([train[i] for i in batches[b]])
            logp = lm.model(inputs).gather(-1, targets[:, :, None])[:, :, 0]
            loss = -(logp * mask).sum() / mask.sum()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(lm.model.parameters(), 1.0)
            optimizer.step()
        lm.model.eval()
        ppl = lm.perplexity(dev)
        history.append({"epoch": epoch + 1, "dev_perplexity": round(ppl, 2)})
        log(f"epoch {epoch + 1}: dev perplexity {ppl:.1f}")
        if ppl < best:
            best = ppl
            lm.save(out, {"history": history, "train_sentences": len(train), "dev_sentences": len(dev)})
    return {"vocabulary": len(lm.vocabulary), "train_sentences": len(train), "dev_sentences": len(dev),
            "initial_dev_perplexity": round(initial, 2), "dev_perplexity": round(best, 2), "history": history,
            "train_s": round(time.time() - started, 1)}
