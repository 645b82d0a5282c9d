"""CTC forced alignment: the most probable path of a known transcript through a model's log-probs (Viterbi).

Gives each token the frames it occupies, hence word start / end frames. Used to cut single words out of
sentences (isolated-word test sets) and to check word times.
"""

from __future__ import annotations

import numpy as np

from ctcasr.units import Spelling


def forced_align(log_probs: np.ndarray, targets: list[int], blank: int = 0) -> list[int]:
    """Per frame, the index into `targets` that frame emits, or -1 for blank; `log_probs` is (T, V).

    Standard CTC topology: blanks between labels, a label may repeat over frames, two equal labels in a row need
    a blank between them. Raises ValueError when the transcript needs more frames than there are.
    """
    frames, n = log_probs.shape[0], len(targets)
    states = 2 * n + 1  # blank, t0, blank, t1, ..., blank
    labels = np.array([blank if s % 2 == 0 else targets[s // 2] for s in range(states)])
    emit = log_probs[:, labels]  # (T, S)
    neg = -np.inf
    score = np.full(states, neg)
    score[0] = emit[0, 0]
    if states > 1:
        score[1] = emit[0, 1]
    back = np.zeros((frames, states), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    can_skip = np.zeros(states, dtype=bool)
    can_skip[3::2] = labels[3::2] != labels[1:-2:2]
    for t in range(1, frames):
        stay = score
        step = np.concatenate([[neg], score[:-1]])
        skip = np.where(can_skip, np.concatenate([[neg, neg], score[:-2]]), neg)
        choices = np.stack([stay, step, skip])
        back[t] = np.argmax(choices, axis=0)
        score = choices[back[t], np.arange(states)] + emit[t]
    end = states - 1 if states == 1 or score[-1] >= score[-2] else states - 2
    if not np.isfinite(score[end]):
        raise ValueError(f"the transcript ({n} tokens) does not fit in {frames} frames")
    path = np.empty(frames, dtype=np.int64)
    state = end
    for t in range(frames - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    return [int(s // 2) if s % 2 else -1 for s in path]


def word_spans(path: list[int], tokens: list[int], spelling: Spelling) -> list[tuple[int, int]]:
    """(first frame, last frame) of each word of `tokens` (as the tokenizer's `spelling` groups them), from
    `forced_align`'s per-frame token indices."""
    word_of = [-1] * len(tokens)
    groups = spelling.segments(tokens)
    for word, group in enumerate(groups):
        for index in group:
            word_of[index] = word
    spans: dict[int, list[int]] = {}
    for frame, index in enumerate(path):
        if index >= 0 and word_of[index] >= 0:
            span = spans.setdefault(word_of[index], [frame, frame])
            span[1] = frame
    return [tuple(spans[w]) for w in range(len(groups))]
