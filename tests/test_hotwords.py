"""Hotword boosting in the beam search, on constructed log-probs where the acoustics slightly prefer a rival."""

import numpy as np
import pytest

from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.errors import UserError
from ctcasr.units.char import CharTokenizer

TOK = CharTokenizer()


def frames(*spelled: dict[str, float]) -> np.ndarray:
    """One frame per dict {char: prob} (rest of the mass on blank), with a blank frame after each."""
    vocab = len(TOK)
    rows = []
    for probs in spelled:
        row = np.full(vocab, 1e-6)
        for char, p in probs.items():
            row[TOK.encode(char)[0] if char != " " else TOK.alphabet.index(" ") + 1] = p
        row[0] = max(1.0 - sum(probs.values()), 1e-6)
        rows.append(row / row.sum())
        blank = np.full(vocab, 1e-6)
        blank[0] = 1.0
        rows.append(blank / blank.sum())
    return np.log(np.array(rows))[None]


def decode(log_probs, hotwords=None, tmp_path=None):
    config = DecoderConfig(decoder="beam", beam=8)
    if hotwords is not None:
        path = tmp_path / "hot.txt"
        path.write_text(hotwords)
        config.hotwords = str(path)
    import torch

    return Decoder(config, TOK)(torch.from_numpy(log_probs).float(), torch.tensor([log_probs.shape[1]]))[0]


def test_a_hotword_wins_a_close_call(tmp_path):
    lp = frames({"b": 0.9}, {"o": 0.9}, {"p": 0.5, "b": 0.4})
    assert decode(lp) == "bop"
    assert decode(lp, "bob\n", tmp_path) == "bob"


def test_no_bonus_for_a_word_that_only_starts_like_a_hotword(tmp_path):
    lp = frames({"b": 0.9}, {"o": 0.9}, {"b": 0.9}, {"b": 0.45, "s": 0.4})
    assert decode(lp, "bobs 2\n", tmp_path) == "bobs"  # boosted over "bobb"
    import torch

    lp = frames({"b": 0.9}, {"o": 0.9}, {"b": 0.9}, {"y": 0.9})
    path = tmp_path / "bob.txt"
    path.write_text("bob 1.5\n")
    decoder = Decoder(DecoderConfig(decoder="beam", beam=8, nbest=8, hotwords=str(path)), TOK)
    hyps = decoder.nbest(torch.from_numpy(lp).float(), torch.tensor([lp.shape[1]]))[0]
    by_text = {TOK.decode(h.tokens): h for h in hyps}
    assert TOK.decode(hyps[0].tokens) == "boby"
    assert by_text["boby"].score == pytest.approx(by_text["boby"].acoustic)  # "bob" inside "boby" earns nothing
    assert by_text["bob"].score == pytest.approx(by_text["bob"].acoustic + 1.5)  # the whole hotword does


def test_phrases_and_boost_values(tmp_path):
    lp = frames({"n": 0.9}, {"e": 0.9}, {"w": 0.9}, {" ": 0.9}, {"y": 0.9}, {"o": 0.9}, {"r": 0.5, "l": 0.45},
                {"k": 0.9})
    assert decode(lp) == "new york"
    lp2 = frames({"n": 0.9}, {"e": 0.9}, {"w": 0.9}, {" ": 0.9}, {"y": 0.9}, {"o": 0.9}, {"l": 0.5, "r": 0.45},
                 {"k": 0.9})
    assert decode(lp2) == "new yolk"
    assert decode(lp2, "new york 3\n", tmp_path) == "new york"


@pytest.mark.parametrize(("text", "problem"), [("bob lots\nx nan\n", "boost"), ("bob -1\n", "boost"),
                                               ("r2d2 1\n", "cannot spell"), ("\n# nothing\n", "no words"),
                                               ("2\n", "without a word")])
def test_bad_hotword_files(tmp_path, text, problem):
    path = tmp_path / "hot.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=problem):
        Decoder(DecoderConfig(decoder="beam", hotwords=str(path)), TOK)
