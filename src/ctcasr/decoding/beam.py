"""CTC prefix beam search (Graves 2012; Hannun et al. 2014) over log-probabilities, written for ctcasr.

Per frame only the most likely tokens are expanded (`token_topk`, and the smallest set holding
`token_cum_prob` of the frame's mass); frames where blank is near certain (`blank_skip`) only carry the
existing prefixes forward. Returns n-best hypotheses with their log scores and each word's start / end frame.
Without an LM the result is never less probable than the greedy path: that path's labelling is scored exactly
and kept when the beam lost it. With `Fusion`, a word LM scores each word as it is completed (and the end of
the utterance), partial words that leave the LM's vocabulary are penalised at once, and beta rewards words.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from ctcasr.decoding.greedy import as_array, collapse_path
from ctcasr.errors import UserError
from ctcasr.units import Spelling

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

    texts: tuple[str, ...] | None = None  # the words, when a lexicon search chose them (phones do not spell)

    def words(self, spelling: Spelling) -> list[tuple[str, int, int]]:
        """(word, start frame, end frame) for each word of the token sequence."""
        out = []
        for n, group in enumerate(spelling.segments(self.tokens)):
            text = self.texts[n] if self.texts is not None and n < len(self.texts) else \
                spelling.spell(self.tokens, group)
            if text:
                out.append((text, self.frames[group[0]], self.frames[group[-1]]))
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
    deviation = np.abs(np.exp(log_probs).sum(axis=1) - 1.0).max()
    if not (log_probs.max() <= atol and deviation <= atol):  # NaN fails both
        raise UserError("log-probs are not normalised per frame (pass log_softmax outputs, not logits or "
                        "probabilities)")


def path_score(log_probs: np.ndarray, tokens: tuple[int, ...]) -> float:
    """Exact log P(tokens | audio), summed over all CTC alignments (blank = 0): the forward algorithm over the
    blank-interleaved label sequence, in log space, vectorised over its states."""
    emissions = np.asarray(log_probs, dtype=np.float64)
    labels = np.zeros(2 * len(tokens) + 1, dtype=np.int64)
    labels[1::2] = tokens
    if emissions.shape[0] == 0:
        return 0.0 if not tokens else NEG_INF
    # a state may also come from two back: a token after a blank, unless it repeats the token before it
    skip = np.zeros(labels.size, dtype=bool)
    skip[3::2] = labels[3::2] != labels[1:-2:2]
    alpha = np.full(labels.size, NEG_INF)
    alpha[:2] = emissions[0, labels[:2]]
    with np.errstate(divide="ignore"):
        for t in range(1, emissions.shape[0]):
            step = alpha.copy()
            step[1:] = np.logaddexp(step[1:], alpha[:-1])
            step[2:] = np.where(skip[2:], np.logaddexp(step[2:], alpha[:-2]), step[2:])
            alpha = step + emissions[t, labels]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if labels.size > 1 else alpha[-1])


def frame_candidates(log_probs: np.ndarray, token_topk: int | None, token_cum_prob: float,
                     blank_skip: float | None) -> list[list[int]]:
    """Per frame, the non-blank tokens worth expanding: the most likely ones, at most `token_topk`, until they
    hold `token_cum_prob` of the frame's mass; none where blank is at least `blank_skip` likely."""
    frames, vocab = log_probs.shape
    topk = min(token_topk or vocab, vocab)
    order = np.argsort(-log_probs, axis=1, kind="stable")[:, :topk]
    mass = np.cumsum(np.exp(np.take_along_axis(log_probs, order, axis=1)), axis=1)
    counts = np.minimum((mass < token_cum_prob).sum(axis=1) + 1, topk).tolist()
    skipped = (log_probs[:, 0] >= math.log(blank_skip)).tolist() if blank_skip else [False] * frames
    rows = order.tolist()
    return [[] if skipped[t] else [k for k in rows[t][: counts[t]] if k != 0] for t in range(frames)]


@dataclass
class Fusion:
    """Shallow fusion: score = acoustic + alpha * ln P_lm + beta * words + unk_penalty * unknown + hotword bonus.
    `lm` may be None when only hotwords are boosted."""

    lm: object | None  # ctcasr.decoding.lm.WordLM
    spelling: Spelling
    alpha: float = 0.5
    beta: float = 1.0
    unk_penalty: float = -10.0
    hotwords: object | None = None  # ctcasr.decoding.hotwords.Hotwords

    def root(self) -> _Context:
        return _Context(self.lm.begin() if self.lm else None)


@dataclass
class _Context:
    """The LM and hotword side of a prefix: a function of the prefix alone, computed once when it is created."""

    state: object
    lm: float = 0.0
    words: int = 0
    partial: str = ""
    penalty: float = 0.0
    flagged: bool = False  # the partial word already left the LM's vocabulary (penalised once)
    hot: int = -1  # hotword trie node of the current match, -1 when none
    hot_gain: float = 0.0  # bonus earned by the match in progress (taken back if it fails)
    hot_total: float = 0.0  # bonus of completed hotwords

    def bonus(self, f: Fusion) -> float:
        lm = f.alpha * self.lm + f.beta * self.words if f.lm is not None else 0.0
        return lm + self.penalty + self.hot_total + self.hot_gain

    def key(self) -> tuple:
        """Prefixes with equal keys (and last token) have the same future scores: recombination merges them."""
        return self.state, self.partial, self.hot, self.hot_gain

    def extend(self, f: Fusion, token: int) -> _Context:
        ctx = self.finish_word(f, at_space=True) if f.spelling.starts[token] else self
        piece = f.spelling.pieces[token]
        if not piece:
            return ctx
        partial = ctx.partial + piece
        leaves = f.lm is not None and not ctx.flagged and not f.lm.is_prefix(partial)
        hot, gain = ctx._hot_step(f, piece)
        return _Context(ctx.state, ctx.lm, ctx.words, partial, ctx.penalty + (f.unk_penalty if leaves else 0.0),
                        ctx.flagged or leaves, hot, gain, ctx.hot_total)

    def _hot_step(self, f: Fusion, piece: str) -> tuple[int, float]:
        """The hotword trie node and bonus after the characters of `piece`; a match starts at a word's beginning."""
        hot = f.hotwords
        if hot is None:
            return -1, 0.0
        node, gain, at_start = self.hot, self.hot_gain, not self.partial
        for char in piece:
            nxt = hot.children[node].get(char, -1) if node >= 0 else -1
            if nxt < 0 and at_start:
                nxt, gain = hot.children[0].get(char, -1), 0.0
            if nxt < 0:
                return -1, 0.0
            node, gain, at_start = nxt, gain + hot.step[nxt], False
        return node, gain

    def finish_word(self, f: Fusion, at_space: bool = False) -> _Context:
        if not self.partial:
            return self
        state, lm, words, penalty = self.state, self.lm, self.words + 1, self.penalty
        if f.lm is not None:
            logp, state = f.lm.score(self.state, self.partial)
            lm += logp
            if not self.flagged and not f.lm.knows(self.partial):
                penalty += f.unk_penalty
        hot, gain, total = -1, 0.0, self.hot_total
        if self.hot >= 0:
            hw = f.hotwords
            follow = hw.children[self.hot].get(" ", -1) if at_space else -1
            if follow >= 0:  # a phrase goes on past this word
                hot, gain = follow, self.hot_gain + hw.step[follow]
            elif self.hot in hw.terminal:  # a whole hotword: its bonus is kept
                total += self.hot_gain
        return _Context(state, lm, words, "", penalty, False, hot, gain, total)

    def finish(self, f: Fusion) -> _Context:
        done = self.finish_word(f)
        end = f.lm.end(done.state) if f.lm is not None else 0.0
        return _Context(done.state, done.lm + end, done.words, "", done.penalty, False, -1, 0.0, done.hot_total)


def prefix_beam_search(log_probs: np.ndarray, beam: int = 10, nbest: int = 1, token_topk: int | None = None,
                       token_cum_prob: float = 1.0, blank_skip: float | None = None,
                       fusion: Fusion | None = None, beam_threshold: float | None = None,
                       spelling: Spelling | None = None, recombine: bool = False) -> list[Hypothesis]:
    """Decode one utterance's (T, V) log-probs; returns up to `nbest` hypotheses, best first (see
    `PrefixBeamSearch`, which also decodes a stream chunk by chunk with the same result)."""
    search = PrefixBeamSearch(beam, nbest, token_topk, token_cum_prob, blank_skip, fusion, beam_threshold,
                              spelling, recombine)
    search.advance(log_probs)
    return search.finalize()


class PrefixBeamSearch:
    """The prefix beam search as a state machine: `advance(chunk)` with the next (T, V) log-probs, `partial()`
    for the best prefix so far, `finalize()` for the n-best list. Any chunking gives exactly the hypotheses of
    one call on the whole utterance (each frame is processed alike, whichever chunk holds it).

    Prefixes are nodes of a trie (node 0 is the empty prefix) and emission frames a linked list
    (frame, previous), so extending and hashing a prefix costs O(1) whatever its length. With `recombine`
    (1-best only), prefixes whose futures score alike -- the same LM state, partial word and last token; without
    an LM the same last word, partial word and last token (`spelling` needed) -- are merged into the best of them.
    A fusion whose context refuses a token (a lexicon search: no word is spelled so) never creates that prefix.
    """

    def __init__(self, beam: int = 10, nbest: int = 1, token_topk: int | None = None, token_cum_prob: float = 1.0,
                 blank_skip: float | None = None, fusion: Fusion | None = None, beam_threshold: float | None = None,
                 spelling: Spelling | None = None, recombine: bool = False):
        if beam < 1:
            raise UserError(f"beam must be at least 1, got {beam}")
        if nbest < 1 or nbest > beam:
            raise UserError(f"nbest must be between 1 and the beam ({beam}), got {nbest}")
        self.beam, self.nbest, self.fusion, self.spelling = beam, nbest, fusion, spelling
        self.token_topk, self.token_cum_prob, self.blank_skip = token_topk, token_cum_prob, blank_skip
        self.beam_threshold = beam_threshold
        self.recombine = recombine and nbest == 1 and (fusion is not None or spelling is not None)
        self.parent, self.last_token = [-1], [0]
        self.word_part, self.last_word, self.part_ids = [0], [0], {}  # interned words per node (recombine, no LM)
        self.children: dict[tuple[int, int], int] = {}
        self.contexts: dict = {0: fusion.root()} if fusion else {}
        # node -> [log P(ends in blank), log P(ends in its last token), frames, best single contribution];
        # never both -inf (impossible extensions are not added), so the inline log-sum-exps below are safe
        self.beams: dict[int, list] = {0: [0.0, NEG_INF, None, 0.0]}
        self.frames = 0  # frames consumed so far
        self.greedy: list[int] = []  # the best path, frame by frame (the no-LM guarantee in `finalize`)
        self.seen: list[np.ndarray] = []  # the log-probs consumed (the guarantee may need the exact path score)

    def advance(self, log_probs: np.ndarray) -> PrefixBeamSearch:
        """Consume the next frames, (T, V) log-probs."""
        log_probs = np.asarray(log_probs, dtype=np.float64)
        check_log_probs(log_probs)
        if log_probs.shape[0] == 0:
            return self
        candidates = frame_candidates(log_probs, self.token_topk, self.token_cum_prob, self.blank_skip)
        if not self.fusion:
            self.greedy += log_probs.argmax(axis=1).tolist()
            self.seen.append(log_probs)
        flat = memoryview(np.ascontiguousarray(log_probs).reshape(-1))  # scalar reads, no list of every row
        total_frames, t = log_probs.shape[0], 0
        while t < total_frames:
            if not candidates[t]:  # skipped frames: prefixes only continue (blank or repeat), none is created
                end = t + 1
                while end < total_frames and not candidates[end]:
                    end += 1
                self._carry(flat, log_probs.shape[1], t, end)
                t = end
            else:
                self._expand(flat, log_probs.shape[1], t, candidates[t])
                t += 1
        self.frames += total_frames
        return self

    def _carry(self, flat, vocab: int, t: int, end: int) -> None:
        log, exp = math.log1p, math.exp
        for node, entry in self.beams.items():
            p_b, p_nb, last = entry[0], entry[1], self.last_token[node]
            for u in range(t, end):
                total = p_b + log(exp(p_nb - p_b)) if p_b >= p_nb else p_nb + log(exp(p_b - p_nb))
                p_nb = p_nb + flat[u * vocab + last] if node else NEG_INF
                p_b = total + flat[u * vocab]
            entry[0], entry[1] = p_b, p_nb

    def _child(self, node: int, k: int) -> int:
        """The trie node of prefix `node` + token `k`, created now; -1 when the fusion refuses the token."""
        if self.fusion:
            context = self.contexts[node].extend(self.fusion, k)
            if context is None:
                self.children[node, k] = -1
                return -1
        child = self.children[node, k] = len(self.parent)
        self.parent.append(node)
        self.last_token.append(k)
        if self.fusion:
            self.contexts[child] = context
        elif self.recombine:
            spelling = self.spelling
            starts = spelling.starts[k]
            previous = self.word_part[node] if not starts else 0
            part = self.part_ids.setdefault((previous, k), len(self.part_ids) + 1) if spelling.pieces[k] \
                else previous
            self.word_part.append(part)
            self.last_word.append(self.word_part[node] or self.last_word[node] if starts else self.last_word[node])
        return child

    def _expand(self, flat, vocab: int, t: int, tokens: list[int]) -> None:
        """One frame that may emit `tokens`: each path's probability is added to its prefix's entry, whose frames
        are those of the most probable contributing path. The hot loop: the log-sum-exp is written out in place (a
        function call per path costs more than the arithmetic), and a path's emission frames are only linked
        when it becomes its prefix's best contribution."""
        log1p, exp, ninf = math.log1p, math.exp, NEG_INF
        base, at = t * vocab, self.frames + t  # `at`: the frame's index in the whole stream
        blank, children, last_token = flat[base], self.children, self.last_token
        nxt: dict[int, list] = {}
        get = nxt.get
        for node, (p_b, p_nb, frames, _) in self.beams.items():
            total = p_b + log1p(exp(p_nb - p_b)) if p_b >= p_nb else p_nb + log1p(exp(p_b - p_nb))
            s = total + blank  # blank keeps the prefix
            entry = get(node)
            if entry is None:
                entry = nxt[node] = [s, ninf, frames, s]
            else:  # the prefix was reached already as a longer beam's parent + token
                a = entry[0]
                entry[0] = s if a == ninf else (a if a > s else s) + log1p(exp(-abs(a - s)))
                if s > entry[3]:
                    entry[2], entry[3] = frames, s
            last = last_token[node]
            if node and p_nb != ninf:  # repeated token, collapsed
                s = p_nb + flat[base + last]
                a = entry[1]
                entry[1] = s if a == ninf else (a if a > s else s) + log1p(exp(-abs(a - s)))
                if s > entry[3]:
                    entry[2], entry[3] = frames, s
            for k in tokens:
                child = children.get((node, k))
                if child is None:
                    child = self._child(node, k)
                if child < 0:
                    continue
                if k == last:  # a repeated token starts a new one only after a blank
                    if p_b == ninf:
                        continue
                    s = p_b + flat[base + k]
                else:
                    s = total + flat[base + k]
                entry = get(child)
                if entry is None:
                    nxt[child] = [ninf, s, (at, frames), s]
                    continue
                a = entry[1]
                entry[1] = s if a == ninf else (a if a > s else s) + log1p(exp(-abs(a - s)))
                if s > entry[3]:
                    entry[2], entry[3] = (at, frames), s
        self.beams = self._prune(nxt)

    def _prune(self, nxt: dict[int, list]) -> dict[int, list]:
        beam, fusion, contexts = self.beam, self.fusion, self.contexts
        if len(nxt) <= 1 or not (len(nxt) > beam or self.beam_threshold is not None or self.recombine):
            return nxt
        log1p, exp = math.log1p, math.exp  # log-sum-exp of the two endings, inline (never both -inf)
        scores = {n: (e[0] if e[0] > e[1] else e[1]) + log1p(exp(-abs(e[0] - e[1]))) for n, e in nxt.items()}
        if fusion:
            for n in scores:
                scores[n] += contexts[n].bonus(fusion)
        if self.recombine:
            keep, seen = [], set()
            last_token, last_word, word_part = self.last_token, self.last_word, self.word_part
            for n in sorted(scores, key=scores.__getitem__, reverse=True):
                key = (contexts[n].key(), last_token[n]) if fusion else (last_word[n], word_part[n], last_token[n])
                if key not in seen:
                    seen.add(key)
                    keep.append(n)
                    if len(keep) == beam:
                        break
        else:
            keep = heapq.nlargest(beam, scores, key=scores.__getitem__) if len(nxt) > beam else list(nxt)
        if self.beam_threshold is not None:  # also drop prefixes far below the best one
            floor = max(scores.values()) - self.beam_threshold
            keep = [n for n in keep if scores[n] >= floor]
        return {n: nxt[n] for n in keep}

    def _spell(self, node: int, frames) -> tuple[tuple[int, ...], tuple[int, ...]]:
        tokens, times = [], []
        while node:
            tokens.append(self.last_token[node])
            node = self.parent[node]
        while frames is not None:
            times.append(frames[0])
            frames = frames[1]
        return tuple(reversed(tokens)), tuple(reversed(times))

    def _hypotheses(self, finish: bool) -> list[Hypothesis]:
        hyps, fusion = [], self.fusion
        for node, (p_b, p_nb, frames, _) in self.beams.items():
            acoustic = _logsumexp(p_b, p_nb)
            tokens, times = self._spell(node, frames)
            if fusion:
                done = self.contexts[node].finish(fusion) if finish else self.contexts[node]
                hyps.append(Hypothesis(tokens, acoustic + done.bonus(fusion), times, acoustic, done.lm, done.words,
                                       texts=getattr(done, "texts", None)))
            else:
                hyps.append(Hypothesis(tokens, acoustic, times, acoustic))
        hyps.sort(key=lambda h: h.score, reverse=True)
        return hyps

    def partial(self) -> Hypothesis:
        """The best prefix so far (its last word may still grow; no end-of-sentence score)."""
        return self._hypotheses(finish=False)[0]

    def finalize(self) -> list[Hypothesis]:
        """The n-best list of everything consumed, best first: words completed, end of sentence scored. Without
        an LM never less probable than the greedy path: that labelling is scored exactly and kept when the beam
        lost it."""
        hyps = self._hypotheses(finish=True)
        if self.frames and not self.fusion:
            greedy, greedy_frames = collapse_path(self.greedy)
            if greedy != hyps[0].tokens:
                exact = path_score(np.concatenate(self.seen), greedy)
                if exact > hyps[0].score:  # the beam lost (or under-counted) a labelling more probable than its best
                    hyps = [Hypothesis(greedy, exact, greedy_frames, exact)] + [h for h in hyps if h.tokens != greedy]
        return hyps[: self.nbest]


def beam_decode(log_probs, lengths, beam: int = 10, nbest: int = 1, **options) -> list[list[Hypothesis]]:
    """Batched: (B, T, V) log-probs (torch or numpy) with valid lengths -> n-best lists per utterance."""
    array = as_array(log_probs)
    lengths = [int(n) for n in as_array(lengths).reshape(-1)]
    return [prefix_beam_search(array[i, : lengths[i]], beam, nbest, **options) for i in range(array.shape[0])]
