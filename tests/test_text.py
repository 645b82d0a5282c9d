from collections import Counter

import pytest

from ctcasr.errors import UserError
from ctcasr.text import normalise
from ctcasr.units import BLANK
from ctcasr.units.char import CharTokenizer


@pytest.mark.parametrize(("raw", "expected"), [
    ("HELLO World", "hello world"),
    ("  It’s  a   test.  ", "it's a test"),
    ("Café, naïve—résumé!", "cafe naive resume"),
    ("'quoted' words", "quoted words"),
    ("rock-n-roll / jazz", "rock n roll jazz"),
    ("don't", "don't"),
    ("<s> YES </s>", "yes"),
])
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_normalise_leaves_out_of_vocabulary_characters_for_the_policy():
    assert normalise("Room 101") == "room 101"


def test_vocabulary_has_blank_first_space_apostrophe_and_letters():
    tok = CharTokenizer()
    assert tok.vocab[0] == BLANK
    assert tok.vocab[1:3] == [" ", "'"]
    assert tok.vocab[3:] == list("abcdefghijklmnopqrstuvwxyz")
    assert len(tok) == 29


def test_encode_decode_round_trip():
    tok = CharTokenizer()
    ids = tok.encode("Don't STOP")
    assert 0 not in ids
    assert tok.decode(ids) == "don't stop"


def test_oov_error_names_the_source():
    with pytest.raises(UserError, match=r"train.jsonl:3.*outside the vocabulary.*'1'"):
        CharTokenizer(oov="error").encode("room 101", where="train.jsonl:3")


def test_oov_drop_and_space_count_what_they_handle():
    drop = CharTokenizer(oov="drop")
    assert drop.prepare("room 101 ok") == "room ok"
    assert drop.oov_counts == Counter({"1": 2, "0": 1})
    space = CharTokenizer(oov="space")
    assert space.prepare("a1b") == "a b"
    assert space.oov_counts["1"] == 1


def test_unknown_policy_is_a_user_error():
    with pytest.raises(UserError, match="policy"):
        CharTokenizer(oov="ignore")
