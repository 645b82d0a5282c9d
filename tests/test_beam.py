"""Prefix beam search against brute-force enumeration, greedy, and real AN4 model outputs."""

import itertools
import math

import numpy as np
import pytest
import torch

from ctcasr.audio import load
from ctcasr.decoding.beam import beam_decode, path_score, prefix_beam_search
from ctcasr.decoding.greedy import greedy_decode
from ctcasr.errors import UserError
from ctcasr.units.char import CharTokenizer as _Chars

SPELLING = _Chars().spelling  # the default alphabet: space is id 1


def random_log_probs(rng, frames, vocab, sharpness=2.0):
    logits = rng.normal(size=(frames, vocab)) * sharpness
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def brute_force(log_probs):
    """log P(labelling) for every labelling, summing over every alignment."""
    frames, vocab = log_probs.shape
    totals = {}
    for path in itertools.product(range(vocab), repeat=frames):
        score = sum(log_probs[t, k] for t, k in enumerate(path))
        labels, previous = [], 0
        for k in path:
            if k != 0 and k != previous:
                labels.append(k)
            previous = k
        key = tuple(labels)
        totals[key] = np.logaddexp(totals.get(key, -math.inf), score)
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)


@pytest.mark.parametrize("seed", range(6))
def test_exact_nbest_with_a_wide_beam(seed):
    rng = np.random.default_rng(seed)
    log_probs = random_log_probs(rng, frames=5, vocab=3)
    expected = brute_force(log_probs)[:4]
    got = prefix_beam_search(log_probs, beam=200, nbest=4)
    assert [h.tokens for h in got] == [labels for labels, _ in expected]
    np.testing.assert_allclose([h.score for h in got], [score for _, score in expected], atol=1e-9)
    for labels, score in expected:
        assert path_score(log_probs, labels) == pytest.approx(score, abs=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_never_less_probable_than_greedy(seed):
    rng = np.random.default_rng(100 + seed)
    log_probs = random_log_probs(rng, frames=30, vocab=6, sharpness=1.0)
    greedy = tuple(greedy_decode(torch.from_numpy(log_probs)[None], torch.tensor([30]))[0])
    for beam, recombine in ((1, False), (2, False), (8, False), (2, True), (8, True)):
        best = prefix_beam_search(log_probs, beam=beam, token_topk=3, spelling=SPELLING, recombine=recombine)[0]
        # the labelling returned is, exactly, at least as probable as the greedy one
        assert path_score(log_probs, best.tokens) >= path_score(log_probs, greedy) - 1e-9


def test_pruning_and_blank_skipping_keep_the_answer_on_peaky_outputs():
    rng = np.random.default_rng(7)
    log_probs = random_log_probs(rng, frames=40, vocab=8, sharpness=6.0)
    full = prefix_beam_search(log_probs, beam=16)[0]
    pruned = prefix_beam_search(log_probs, beam=16, token_topk=4, token_cum_prob=0.999, blank_skip=0.999)[0]
    assert pruned.tokens == full.tokens


def test_word_frames():
    # frames: h h _ i _ ' ' _ y o  (alphabet: " 'abc...")
    alphabet = " 'abcdefghijklmnopqrstuvwxyz"
    ids = [alphabet.index(c) + 1 if c != "_" else 0 for c in "hh_i_ _yo"]
    log_probs = np.log(np.full((len(ids), 29), 1e-6))
    for t, k in enumerate(ids):
        log_probs[t, k] = 0.0
    log_probs -= np.logaddexp.reduce(log_probs, axis=1, keepdims=True)
    best = prefix_beam_search(log_probs, beam=4)[0]
    assert best.words(SPELLING) == [("hi", 0, 3), ("yo", 7, 8)]


def test_bad_arguments_and_unnormalised_input():
    log_probs = np.log(np.full((3, 4), 0.25))
    with pytest.raises(UserError, match="beam must be at least 1"):
        prefix_beam_search(log_probs, beam=-1)
    with pytest.raises(UserError, match="nbest must be between 1 and the beam"):
        prefix_beam_search(log_probs, beam=2, nbest=3)
    with pytest.raises(UserError, match="not normalised"):
        prefix_beam_search(np.random.default_rng(0).normal(size=(3, 4)), beam=2)  # logits
    with pytest.raises(UserError, match="not normalised"):
        prefix_beam_search(np.full((3, 4), 0.25), beam=2)  # probabilities


def test_batched_decoding_respects_lengths():
    rng = np.random.default_rng(3)
    batch = np.stack([random_log_probs(rng, 12, 5), random_log_probs(rng, 12, 5)])
    out = beam_decode(torch.from_numpy(batch), torch.tensor([12, 6]), beam=4, nbest=2)
    assert len(out) == 2 and all(len(n) == 2 for n in out)
    assert out[1][0].tokens == prefix_beam_search(batch[1, :6], beam=4)[0].tokens


def test_beam_is_at_least_as_good_as_greedy_on_real_an4_outputs(an4_items):
    from conftest import REPO

    from ctcasr.checkpoint import load_model
    from ctcasr.data.dataset import pad_batch
    from ctcasr.evaluation import word_errors

    model = load_model(REPO / "models" / "an4_ds2.pt")
    items = an4_items["test"][:40]
    waves = [torch.from_numpy(load(u.audio_filepath, 16000)) for u in items]
    with torch.no_grad():
        log_probs, lengths = model(*pad_batch(waves))
    greedy = greedy_decode(log_probs, lengths)
    beams = beam_decode(log_probs, lengths, beam=8, token_topk=12, token_cum_prob=0.999, blank_skip=0.999)
    for i, hyps in enumerate(beams):
        utterance = log_probs[i, : lengths[i]].double().numpy()
        assert path_score(utterance, hyps[0].tokens) >= path_score(utterance, tuple(greedy[i])) - 1e-6
    refs = [u.text for u in items]
    greedy_wer = word_errors(refs, [model.tokenizer.decode(g) for g in greedy]).rate
    beam_wer = word_errors(refs, [model.tokenizer.decode(h[0].tokens) for h in beams]).rate
    assert beam_wer <= greedy_wer + 1.0


def test_recombination_keeps_a_real_hypothesis_and_leaves_nbest_lists_alone():
    rng = np.random.default_rng(3)
    log_probs = random_log_probs(rng, frames=24, vocab=5, sharpness=2.0)
    plain = prefix_beam_search(log_probs, beam=16, nbest=16, spelling=SPELLING)
    merged = prefix_beam_search(log_probs, beam=16, spelling=SPELLING, recombine=True)[0]
    assert merged.tokens in [h.tokens for h in plain]
    with_nbest = prefix_beam_search(log_probs, beam=16, nbest=4, spelling=SPELLING, recombine=True)
    assert [h.tokens for h in with_nbest] == [h.tokens for h in plain[:4]]  # n-best lists are never recombined
