"""CTC prefix beam search (Graves 2012; Hannun et al. 2014) over log-probabilities, written for ctcasr.

Per frame only the most likely tokens are expanded (`token_topk`, and the smallest set holding
`token_cum_prob` of the frame's mass); frames where blank is near certain (`blank_skip`) only carry the
existing prefixes forward. Returns n-best hypotheses with their log scores and each word's start / end frame.
Without an LM the result is never less probable than the greedy path: that path's labelling is scored exactly
and kept when the beam lost it. With `Fusion`, a word LM scores each word as it is completed (and the end of
the utterance), partial words that leave the LM's vocabulary are penalised at once, and beta rewards words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ctcasr.errors import UserError

NEG_INF = -math.inf


@dataclass
class Hypothesis:
    tokens: tuple[int, ...]
    score: float  # acoustic + alpha * lm + beta * words + penalties (= acoustic without an LM)
    frames: tuple[int, ...]  # the frame at which each token was first emitted
    acoustic: float = 0.0  # log P(labelling | audio) under the model (summed over the beam's alignments)
    lm: float = 0.0  # ln P(words) under the LM, end of sentence included
    num_words: int = 0
    rescore: float = 0.0  # ln P(words) under a second-pass LM, when the n-best list was rescored

    def words(self, alphabet: str, space: int) -> list[tuple[str, int, int]]:
        """(word, start frame, end frame) for each space-separated word."""
        out, chars, start, end = [], [], -1, -1
        for token, frame in zip(self.tokens, self.frames, strict=True):
            if token == space:
                if chars:
                    out.append(("".join(chars), start, end))
                chars = []
                continue
            if not chars:
                start = frame
            chars.append(alphabet[token - 1])
            end = frame
        if chars:
            out.append(("".join(chars), start, end))
        return out


def _logsumexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def check_log_probs(log_probs: np.ndarray, atol: float = 1e-3) -> None:
    """Reject input that is not per-frame normalised log-probabilities (e.g. logits or probabilities)."""
    if log_probs.ndim != 2 or log_probs.shape[1] < 2:
        raise UserError(f"expected log-probs of shape (frames, vocabulary), got {tuple(log_probs.shape)}")
    if log_probs.size == 0:
        return
    if np.any(log_probs > atol) or not np.allclose(np.exp(log_probs).sum(axis=1), 1.0, atol=atol):
        raise UserError("log-probs are not normalised per frame (pass log_softmax outputs, not logits or "
                        "probabilities)")


def path_score(log_probs: np.ndarray, tokens: tuple[int, ...]) -> float:
    """Exact log P(tokens | audio): the CTC forward algorithm (blank = 0)."""
    extended = [0]
    for t in tokens:
        extended += [t, 0]
    s = len(extended)
    alpha = np.full(s, NEG_INF)
    alpha[0] = log_probs[0, 0]
    if s > 1:
        alpha[1] = log_probs[0, extended[1]]
    for t in range(1, log_probs.shape[0]):
        prev = alpha.copy()
        for i in range(s):
            total = prev[i]
            if i >= 1:
                total = _logsumexp(total, prev[i - 1])
            if i >= 2 and extended[i] != 0 and extended[i] != extended[i - 2]:
                total = _logsumexp(total, prev[i - 2])
            alpha[i] = total + log_probs[t, extended[i]]
    return _logsumexp(alpha[-1], alpha[-2]) if s > 1 else float(alpha[-1])


def _add(table: dict, prefix: tuple[int, ...], p_b: float, p_nb: float, frames: tuple[int, ...]) -> None:
    entry = table.get(prefix)
    if entry is None:
        table[prefix] = [p_b, p_nb, frames]
    else:
        entry[0] = _logsumexp(entry[0], p_b)
        entry[1] = _logsumexp(entry[1], p_nb)


def greedy_tokens(log_probs: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    best = log_probs.argmax(axis=1)
    tokens, frames, previous = [], [], 0
    for t, k in enumerate(best):
        if k != 0 and k != previous:
            tokens.append(int(k))
            frames.append(t)
        previous = k
    return tuple(tokens), tuple(frames)


@dataclass
class Fusion:
    """Shallow fusion of a word LM: score = acoustic + alpha * ln P_lm + beta * words + unk_penalty * unknown."""

    lm: object  # ctcasr.decoding.lm.WordLM
    alphabet: str
    space: int
    alpha: float = 0.5
    beta: float = 1.0
    unk_penalty: float = -10.0


@dataclass
class _Context:
    """The LM side of a prefix: a function of the prefix alone, computed once when the prefix is created."""

    state: object
    lm: float = 0.0
    words: int = 0
    partial: str = ""
    penalty: float = 0.0
    flagged: bool = False  # the partial word already left the LM's vocabulary (penalised once)

    def bonus(self, f: Fusion) -> float:
        return f.alpha * self.lm + f.beta * self.words + self.penalty

    def extend(self, f: Fusion, token: int) -> _Context:
        if token != f.space:
            partial = self.partial + f.alphabet[token - 1]
            leaves = not self.flagged and not f.lm.is_prefix(partial)
            return _Context(self.state, self.lm, self.words, partial, self.penalty + (f.unk_penalty if leaves else 0.0),
                            self.flagged or leaves)
        return self.finish_word(f)

    def finish_word(self, f: Fusion) -> _Context:
        if not self.partial:
            return self
        logp, state = f.lm.score(self.state, self.partial)
        unknown = not self.flagged and not f.lm.knows(self.partial)
        return _Context(state, self.lm + logp, self.words + 1, "", self.penalty + (f.unk_penalty if unknown else 0.0))

    def finish(self, f: Fusion) -> _Context:
        done = self.finish_word(f)
        return _Context(done.state, done.lm + f.lm.end(done.state), done.words, "", done.penalty)


def prefix_beam_search(log_probs: np.ndarray, beam: int = 10, nbest: int = 1, token_topk: int | None = None,
                       token_cum_prob: float = 1.0, blank_skip: float | None = None,
                       fusion: Fusion | None = None) -> list[Hypothesis]:
    """Decode one utterance's (T, V) log-probs; returns up to `nbest` hypotheses, best first."""
    if beam < 1:
        raise UserError(f"beam must be at least 1, got {beam}")
    if nbest < 1 or nbest > beam:
        raise UserError(f"nbest must be between 1 and the beam ({beam}), got {nbest}")
    log_probs = np.asarray(log_probs, dtype=np.float64)
    check_log_probs(log_probs)
    frames_total, vocab = log_probs.shape
    topk = min(token_topk or vocab, vocab)
    skip_logp = math.log(blank_skip) if blank_skip else None
    # prefix -> [log P(ending in blank), log P(ending in its last token), emission frames]
    beams: dict[tuple[int, ...], list] = {(): [0.0, NEG_INF, ()]}
    contexts: dict[tuple[int, ...], _Context] = {(): _Context(fusion.lm.begin())} if fusion else {}
    for t in range(frames_total):
        row = log_probs[t]
        blank = row[0]
        nxt: dict[tuple[int, ...], list] = {}

        if skip_logp is not None and blank >= skip_logp:
            candidates: list[int] = []
        else:
            order = np.argsort(row)[::-1][:topk]
            candidates, mass = [], 0.0
            for k in order:
                candidates.append(int(k))
                mass += math.exp(row[k])
                if mass >= token_cum_prob:
                    break
        for prefix, (p_b, p_nb, frames) in beams.items():
            total = _logsumexp(p_b, p_nb)
            _add(nxt, prefix, total + blank, NEG_INF, frames)  # blank keeps the prefix
            last = prefix[-1] if prefix else None
            if last is not None:
                _add(nxt, prefix, NEG_INF, p_nb + row[last], frames)  # repeated token, collapsed
            for k in candidates:
                if k == 0:
                    continue
                if k == last:  # a repeat counts as a new token only after a blank
                    _add(nxt, prefix + (k,), NEG_INF, p_b + row[k], frames + (t,))
                else:
                    _add(nxt, prefix + (k,), NEG_INF, total + row[k], frames + (t,))
        if fusion:
            for prefix in nxt:
                if prefix not in contexts:
                    contexts[prefix] = contexts[prefix[:-1]].extend(fusion, prefix[-1])
        scores = {prefix: _logsumexp(p_b, p_nb) + (contexts[prefix].bonus(fusion) if fusion else 0.0)
                  for prefix, (p_b, p_nb, _) in nxt.items()}
        beams = {prefix: nxt[prefix] for prefix in sorted(scores, key=scores.__getitem__, reverse=True)[:beam]}
        if fusion:
            contexts = {prefix: contexts[prefix] for prefix in beams}
    hyps = []
    for prefix, (p_b, p_nb, frames) in beams.items():
        acoustic = _logsumexp(p_b, p_nb)
        if fusion:
            done = contexts[prefix].finish(fusion)
            hyps.append(Hypothesis(prefix, acoustic + done.bonus(fusion), frames, acoustic, done.lm, done.words))
        else:
            hyps.append(Hypothesis(prefix, acoustic, frames, acoustic))
    hyps.sort(key=lambda h: h.score, reverse=True)
    if frames_total and not fusion:
        greedy, greedy_frames = greedy_tokens(log_probs)
        exact = path_score(log_probs, greedy)
        if exact > hyps[0].score:  # the beam lost (or under-counted) a labelling better than all it kept
            hyps = [Hypothesis(greedy, exact, greedy_frames, exact)] + [h for h in hyps if h.tokens != greedy]
    return hyps[:nbest]


def beam_decode(log_probs, lengths, beam: int = 10, nbest: int = 1, **options) -> list[list[Hypothesis]]:
    """Batched: (B, T, V) log-probs (torch or numpy) with valid lengths -> n-best lists per utterance."""
    array = log_probs.detach().float().cpu().numpy() if hasattr(log_probs, "detach") else np.asarray(log_probs)
    lengths = [int(n) for n in lengths]
    return [prefix_beam_search(array[i, : lengths[i]], beam, nbest, **options) for i in range(array.shape[0])]
