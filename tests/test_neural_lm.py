"""The LSTM LM for n-best rescoring: it learns (dev perplexity falls), round-trips, and steers rescoring."""

import pytest
import torch
from conftest import assert_user_error, run_cli

from ctcasr.decoding.beam import Hypothesis
from ctcasr.decoding.lm import load_rescorer
from ctcasr.decoding.neural_lm import NeuralLMConfig, load_neural_lm, train_neural_lm
from ctcasr.errors import UserError
from ctcasr.units.char import CharTokenizer as _Chars

SENTENCES = ["the cat sat on the mat", "the dog sat on the rug", "a cat ate the fish", "the dog ate a bone",
             "my cat sat on my lap", "the bird sat on the tree"] * 12


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("nlm") / "lm.pt"
    report = train_neural_lm(SENTENCES, path, NeuralLMConfig(embedding=32, hidden=32, dropout=0.0), epochs=25,
                             lr=1e-2, log=lambda m: None)
    assert report["dev_perplexity"] < 0.5 * report["initial_dev_perplexity"]
    return path


def test_training_lowers_perplexity_and_round_trips(lm_path):
    lm = load_neural_lm(lm_path)
    good, bad = "the cat sat on the mat", "mat the on sat cat the"
    assert lm.sentence_score(good.split(" ")) > lm.sentence_score(bad.split(" "))
    assert isinstance(load_rescorer(lm_path, _Chars()), type(lm))


def test_unknown_words_cost_more_than_known_ones(lm_path):
    lm = load_neural_lm(lm_path)
    assert lm.sentence_score(["the", "cat"]) > lm.sentence_score(["the", "zzzqx"])


def test_rescoring_picks_what_the_lm_prefers(lm_path):
    """Two hypotheses the acoustic model nearly ties on: the LM's choice wins after rescoring."""
    from ctcasr.decoding import Decoder, DecoderConfig
    from ctcasr.units.char import CharTokenizer

    tok = CharTokenizer()
    decoder = Decoder(DecoderConfig(decoder="beam", rescore_lm=str(lm_path), rescore_weight=1.0), tok)

    def hyp(text, score):
        return Hypothesis(tokens=tuple(tok.encode(text)), score=score, acoustic=score, lm=0.0,
                          frames=tuple(range(len(text))))

    good, bad = hyp("the cat sat on the mat", -5.1), hyp("the cat sad on the mat", -5.0)
    assert decoder.rescore([bad, good])[0] is good
    decoder.config.rescore_weight = 0.0
    assert decoder.rescore([bad, good])[0] is bad


def test_bad_files_are_user_errors(tmp_path):
    fake = tmp_path / "fake.pt"
    torch.save({"format": "something-else"}, fake)
    with pytest.raises(UserError, match="not a ctcasr neural LM"):
        load_neural_lm(fake)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match="not a ctcasr neural LM"):
        load_neural_lm(garbage)


def test_cli_empty_text_and_bad_rescorer(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert_user_error(run_cli("lm", "train-neural", empty, "--out", tmp_path / "lm.pt"), "empty")
    assert not (tmp_path / "lm.pt").exists()
    assert_user_error(run_cli("lm", "train-neural", empty, "--out", tmp_path / "lm.pt", "--epochs", "0"),
                      "--epochs")
