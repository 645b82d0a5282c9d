"""KenLM shallow fusion in the prefix beam search: the LM changes a decision the way it should; case is
reconciled; bad LM files are clear errors."""

import gzip
import os

import numpy as np
import pytest

try:
    import kenlm  # noqa: F401
except ImportError:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise  # CI installs '.[lm]': these tests may not be skipped there
    pytest.skip("kenlm is not installed (pip install '.[lm]'; `make install` does)", allow_module_level=True)

from ctcasr.decoding.beam import Fusion, prefix_beam_search  # noqa: E402
from ctcasr.decoding.lm import WordLM  # noqa: E402
from ctcasr.errors import UserError  # noqa: E402
from ctcasr.text import DEFAULT_ALPHABET  # noqa: E402
from ctcasr.units.char import CharTokenizer as _Chars

SPELLING = _Chars().spelling  # the default alphabet: space is id 1

ARPA = """\\data\\
ngram 1=6
ngram 2=3

\\1-grams:
-1.0\t<s>\t-0.3
-1.0\t</s>
-2.0\t<unk>
-0.3\tbed\t-0.3
-3.0\tbad\t-0.3
-1.0\tb2b\t-0.3

\\2-grams:
-0.1\t<s> bed
-0.2\tbed </s>
-0.5\tbad </s>

\\end\\
"""


def write_lm(folder, upper=False, name="lm.arpa"):
    path = folder / name
    text = ARPA.replace("bed", "BED").replace("bad", "BAD").replace("b2b", "B2B") if upper else ARPA
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def spelled(text_by_frame):
    """Log-probs that spell a word frame by frame; a dict frame means {char: probability}."""
    vocab = 1 + len(DEFAULT_ALPHABET)
    rows = []
    for item in text_by_frame:
        probs = np.full(vocab, 1e-4)
        for char, p in (item.items() if isinstance(item, dict) else [(item, 0.99)]):
            probs[0 if char == "_" else DEFAULT_ALPHABET.index(char) + 1] = p
        rows.append(np.log(probs / probs.sum()))
    return np.array(rows)


def decode(log_probs, fusion=None):
    hyp = prefix_beam_search(log_probs, beam=8, fusion=fusion)[0]
    return "".join(DEFAULT_ALPHABET[t - 1] for t in hyp.tokens), hyp


AMBIGUOUS = ["b", "_", {"a": 0.55, "e": 0.45}, "_", "d", "_"]


def test_lm_changes_the_decision_the_way_it_says(tmp_path):
    lm = WordLM(write_lm(tmp_path), _Chars())
    log_probs = spelled(AMBIGUOUS)
    assert decode(log_probs)[0] == "bad"
    text, hyp = decode(log_probs, Fusion(lm, SPELLING, alpha=1.0, beta=0.0))
    assert text == "bed"
    assert hyp.num_words == 1
    assert hyp.lm == pytest.approx(lm.sentence_score(["bed"]))
    assert decode(log_probs, Fusion(lm, SPELLING, alpha=0.0, beta=0.0))[0] == "bad"


def test_uppercase_and_lowercase_lms_decode_identically(tmp_path):
    lower = WordLM(write_lm(tmp_path, name="lower.arpa"), _Chars())
    upper = WordLM(write_lm(tmp_path, upper=True, name="upper.arpa.gz"), _Chars())
    assert upper.report.case_folded == 2 and lower.report.case_folded == 0
    for frames in (AMBIGUOUS, ["b", "e", "_", "d", " ", "b", "a", "d"]):
        a = decode(spelled(frames), Fusion(lower, SPELLING, alpha=0.8, beta=0.5))[1]
        b = decode(spelled(frames), Fusion(upper, SPELLING, alpha=0.8, beta=0.5))[1]
        assert a.tokens == b.tokens and a.score == pytest.approx(b.score)


def test_vocabulary_report_counts_what_cannot_be_reconciled(tmp_path):
    lm = WordLM(write_lm(tmp_path), _Chars())
    assert lm.report.lm_words == 3 and lm.report.usable == 2
    assert lm.report.unusable["2"] == 1 and lm.report.examples == ["b2b"]
    assert "2 of 3 words usable" in lm.report.summary()


def test_unknown_partial_words_are_penalised(tmp_path):
    lm = WordLM(write_lm(tmp_path), _Chars())
    fusion = Fusion(lm, SPELLING, alpha=0.5, beta=0.0, unk_penalty=-5.0)
    _, known = decode(spelled(["b", "e", "d"]), fusion)
    _, unknown = decode(spelled(["q", "e", "d"]), fusion)
    assert known.score - known.acoustic > unknown.score - unknown.acoustic + 4.0


@pytest.mark.parametrize(("content", "problem"), [
    (None, "does not exist"),
    ("hello world\n", "not an ARPA or KenLM binary language model"),
    ("\\data\\\nngram 1=3\n\n\\1-grams:\n", "no unigrams"),
    (ARPA.replace("bed", "b3d").replace("bad", "b4d"), "no word in common"),
])
def test_bad_language_models(tmp_path, content, problem):
    path = tmp_path / "bad.arpa"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=problem) as err:
        WordLM(path, _Chars())
    assert str(path) in str(err.value)


def test_nbest_rescoring_changes_the_decision_the_way_the_second_lm_says(tmp_path):
    import torch

    from ctcasr.decoding import Decoder, DecoderConfig
    from ctcasr.units.char import CharTokenizer

    log_probs = torch.from_numpy(spelled(AMBIGUOUS)).float()[None]
    lengths = torch.tensor([log_probs.shape[1]])
    tokenizer, lm = CharTokenizer(), str(write_lm(tmp_path))
    plain = Decoder(DecoderConfig(decoder="beam", beam=4, nbest=2), tokenizer)
    assert plain(log_probs, lengths) == ["bad"]
    rescored = Decoder(DecoderConfig(decoder="beam", beam=4, nbest=2, rescore_lm=lm, rescore_weight=1.0), tokenizer)
    best = rescored.nbest(log_probs, lengths)[0]
    assert [tokenizer.decode(h.tokens) for h in best] == ["bed", "bad"]
    assert best[0].rescore == pytest.approx(WordLM(lm, _Chars()).sentence_score(["bed"]))
    unweighted = Decoder(DecoderConfig(decoder="beam", beam=4, rescore_lm=lm, rescore_weight=0.0), tokenizer)
    assert unweighted(log_probs, lengths) == ["bad"]
