"""Output units: characters, sentencepiece subwords and phones with a lexicon -- round trips, checkpoints, the
lexicon-constrained search choosing between homophones with the LM, and the CLI end to end."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import run_cli

from ctcasr.checkpoint import load_model, read_checkpoint, save_checkpoint
from ctcasr.config import load_recipe
from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.errors import UserError
from ctcasr.training import build_asr_model, explain_config_change, starting_weights
from ctcasr.units import tokenizer_from_dict
from ctcasr.units.bpe import BPETokenizer, train_sentencepiece
from ctcasr.units.char import CharTokenizer
from ctcasr.units.lexicon import read_lexicon
from ctcasr.units.phone import MissingPronunciation, PhoneTokenizer

LEXICON = """\
GO  G OW1
TO  T UW1
TOO  T UW1
TWO  T UW1
WANT  W AA1 N T
WANT(2)  W AO1 N T
I  AY1
"""


@pytest.fixture()
def lexicon_file(tmp_path) -> Path:
    path = tmp_path / "lexicon.txt"
    path.write_text(LEXICON)
    return path


def phones(lexicon_file, **kw) -> PhoneTokenizer:
    return PhoneTokenizer(read_lexicon(lexicon_file), {"two": 5, "to": 1}, **kw)


def test_char_round_trip():
    tok = CharTokenizer()
    assert tok.decode(tok.encode("Hello, World!")) == "hello world"
    assert tokenizer_from_dict(tok.to_dict()).alphabet == tok.alphabet


def test_bpe_round_trip_and_word_boundaries(an4_items, tmp_path):
    texts = [u.text for u in an4_items["train"]]
    tok = BPETokenizer(train_sentencepiece(texts, 48))
    assert len(tok) == 49  # the pieces and the CTC blank
    for text in texts[:50]:
        ids = tok.encode(text)
        assert 0 not in ids and tok.decode(ids) == text
        assert tok.spelling.words(ids) == text.split()
    tok.save(tmp_path / "units.model")
    again = tokenizer_from_dict(BPETokenizer.load(tmp_path / "units.model").to_dict())
    assert again.encode(texts[0]) == tok.encode(texts[0])
    (tmp_path / "bad.model").write_text("not a model")
    with pytest.raises(UserError, match="not a sentencepiece model"):
        BPETokenizer.load(tmp_path / "bad.model")


def test_phone_lexicon_round_trip(lexicon_file):
    tok = phones(lexicon_file)
    assert "W" in tok.phones and "AA" in tok.phones and "AA1" not in tok.phones  # stress dropped by default
    ids = tok.encode("I want to go")
    assert ids[:2] == [tok.vocab.index("AY"), 1]  # '|' between words
    assert tok.decode(ids) == "i want two go"  # homophones: the most frequent training word without an LM
    assert tokenizer_from_dict(json.loads(json.dumps(tok.to_dict()))).encode("go to") == tok.encode("go to")
    stressed = PhoneTokenizer(read_lexicon(lexicon_file, keep_stress=True))
    assert [stressed.vocab[i] for i in stressed.encode("go")] == ["G", "OW1"]


def test_lexicon_errors_name_the_file_and_line(tmp_path, lexicon_file):
    bad = tmp_path / "bad.txt"
    bad.write_text("GO G OW\nTHIS LINE IS 42 WRONG\n")
    with pytest.raises(UserError, match=r"bad.txt: line 2"):
        read_lexicon(bad)
    tok = phones(lexicon_file)
    with pytest.raises(MissingPronunciation, match="'stop'"):
        tok.encode("go stop")


def test_missing_words_skip_utterances_and_are_counted(lexicon_file):
    from ctcasr.data.dataset import SpeechDataset
    from ctcasr.data.manifest import Utterance

    tok = phones(lexicon_file, missing="skip")
    items = [Utterance("a.wav", 1.0, "go to", "a"), Utterance("b.wav", 1.0, "go stop", "b")]
    dataset = SpeechDataset(items, tok, 16000)
    assert len(dataset) == 1 and dataset.skipped == 1 and tok.missing_counts["stop"] == 1
    with pytest.raises(UserError, match="stop"):
        SpeechDataset(items, phones(lexicon_file), 16000)


def spoken(tok, units: list[str]) -> np.ndarray:
    """Sharp log-probs: each unit for two frames with a blank between."""
    rows = []
    for unit in units:
        for _ in range(2):
            row = np.full(len(tok), 1e-4)
            row[tok.vocab.index(unit)] = 1.0
            rows.append(row)
        row = np.full(len(tok), 1e-4)
        row[0] = 1.0
        rows.append(row)
    probs = np.array(rows)
    return np.log(probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def test_lexicon_search_lets_the_lm_choose_between_homophones(lexicon_file, tmp_path):
    from ctcasr.decoding.lm_build import build_lm

    tok = phones(lexicon_file)
    text = tmp_path / "text.txt"
    text.write_text("i want to go\n" * 5 + "two two\n" + "i want two\n")
    build_lm([text], tmp_path / "lm.arpa", order=3, tokenizer=tok)
    log_probs = spoken(tok, ["AY", "|", "W", "AA", "N", "T", "|", "T", "UW", "|", "G", "OW"])
    lengths = np.array([log_probs.shape[0]])
    with_lm = Decoder(DecoderConfig(decoder="beam", lm=str(tmp_path / "lm.arpa"), alpha=1.0, beta=0.0), tok)
    assert with_lm(log_probs[None], lengths) == ["i want to go"]
    plain = Decoder(DecoderConfig(decoder="beam"), tok)
    assert plain(log_probs[None], lengths) == ["i want two go"]
    assert Decoder(DecoderConfig(), tok)(log_probs[None], lengths) == ["i want two go"]  # greedy: lexicon lookup
    # phones that are no word's pronunciation never make a word
    nonsense = spoken(tok, ["G", "UW", "|", "G", "OW"])
    assert plain(nonsense[None], np.array([nonsense.shape[0]])) == ["go"]


def test_lm_sharing_no_word_with_the_lexicon_is_an_error(lexicon_file, tmp_path):
    from ctcasr.decoding.lm import WordLM
    from ctcasr.decoding.lm_build import build_lm

    (tmp_path / "text.txt").write_text("stop now\nnow stop\n")
    build_lm([tmp_path / "text.txt"], tmp_path / "lm.arpa", order=2)
    with pytest.raises(UserError, match="no word in common with the lexicon"):
        WordLM(tmp_path / "lm.arpa", phones(lexicon_file))


@pytest.mark.parametrize("units", ["bpe", "phone"])
def test_checkpoint_keeps_the_tokenizer(units, an4, tmp_path):
    extra = ["text.vocab_size=40"] if units == "bpe" else [f"text.lexicon=[{an4['train'].parent / 'lexicon.dic'}]"]
    recipe = load_recipe(None, ["model.preset=ds2_tiny", f"text.units={units}",
                                f"data.train_manifest={an4['train']}", *extra])
    model = build_asr_model(recipe).eval()
    save_checkpoint(tmp_path / "m.pt", model)
    again = load_model(tmp_path / "m.pt")
    assert again.tokenizer.kind == units and again.tokenizer.to_dict() == model.tokenizer.to_dict()
    with torch.no_grad():
        waves = torch.randn(1, 8000) * 0.1
        assert torch.equal(model(waves, torch.tensor([8000]))[0], again(waves, torch.tensor([8000]))[0])


def test_init_from_a_model_with_other_units_keeps_its_encoder_and_starts_a_fresh_head(an4, tmp_path, capsys):
    lexicon = an4["train"].parent / "lexicon.dic"
    torch.manual_seed(0)
    chars = build_asr_model(load_recipe(None, ["model.preset=ds2_tiny"]))
    save_checkpoint(tmp_path / "chars.pt", chars)
    recipe = load_recipe(None, ["model.preset=ds2_tiny", "text.units=phone", f"text.lexicon=[{lexicon}]",
                                f"data.train_manifest={an4['train']}"])
    phone_model = build_asr_model(recipe)
    fresh_head = {k: v.clone() for k, v in phone_model.head.state_dict().items()}
    weights = starting_weights(read_checkpoint(tmp_path / "chars.pt"), phone_model)
    assert "encoder is loaded, the CTC head starts fresh" in capsys.readouterr().out
    phone_model.load_state_dict(weights)
    for name, tensor in chars.encoder.state_dict().items():
        assert torch.equal(phone_model.encoder.state_dict()[name], tensor), name
    assert all(torch.equal(phone_model.head.state_dict()[k], v) for k, v in fresh_head.items())
    assert phone_model.head.output.out_features == len(phone_model.tokenizer) != chars.head.output.out_features
    same = starting_weights(read_checkpoint(tmp_path / "chars.pt"), chars)  # same units: every tensor, head too
    assert all(torch.equal(same[k], v) for k, v in chars.weights().items())


def test_init_from_a_smaller_phone_set_keeps_the_output_rows_of_the_shared_phones(an4, tmp_path):
    lexicon = an4["train"].parent / "lexicon.dic"
    bigger = tmp_path / "bigger.dic"
    bigger.write_text(lexicon.read_text() + "the DH AH\nshe SH IY\n")
    base = ["model.preset=ds2_tiny", "text.units=phone", f"data.train_manifest={an4['train']}"]
    torch.manual_seed(0)
    small = build_asr_model(load_recipe(None, [*base, f"text.lexicon=[{lexicon}]"]))
    save_checkpoint(tmp_path / "small.pt", small)
    large = build_asr_model(load_recipe(None, [*base, f"text.lexicon=[{bigger}]"]))
    new = [u for u in large.tokenizer.vocab if u not in small.tokenizer.vocab]
    assert sorted(new) == ["DH", "SH"]
    weights = starting_weights(read_checkpoint(tmp_path / "small.pt"), large)
    for i, unit in enumerate(large.tokenizer.vocab):
        source = None if unit in new else small.tokenizer.vocab.index(unit)
        if source is None:  # a new phone starts silent
            assert not weights["head.output.weight"][i].any(), unit
            assert weights["head.output.bias"][i] == small.head.output.bias.min() - 10.0, unit
        else:
            assert torch.equal(weights["head.output.weight"][i], small.head.output.weight[source]), unit
            assert torch.equal(weights["head.output.bias"][i], small.head.output.bias[source]), unit
    large.load_state_dict(weights)
    small.eval(), large.eval()
    with torch.no_grad():  # so the grown model first computes (almost) what the small one did
        waves = torch.randn(1, 8000) * 0.1
        before, after = small(waves, torch.tensor([8000]))[0], large(waves, torch.tensor([8000]))[0]
    shared = [large.tokenizer.vocab.index(u) for u in small.tokenizer.vocab]
    assert torch.allclose(after[..., shared], before, atol=1e-3)


def test_init_from_a_shorter_look_ahead_starts_as_the_same_function(tmp_path):
    streaming = ["model.preset=ds2_tiny", "model.bidirectional=false", "features.normalize=none"]
    torch.manual_seed(0)
    short = build_asr_model(load_recipe(None, [*streaming, "model.lookahead=2"])).eval()
    with torch.no_grad():
        short.encoder.lookahead.conv.weight.normal_()  # a trained row convolution, not the identity start
    save_checkpoint(tmp_path / "short.pt", short)
    recipe = load_recipe(None, [*streaming, "model.lookahead=6", f"trainer.init_from={tmp_path / 'short.pt'}"])
    longer = build_asr_model(recipe).eval()
    explain_config_change(read_checkpoint(tmp_path / "short.pt"), SimpleNamespace(recipe=recipe), "short.pt")
    longer.load_state_dict(starting_weights(read_checkpoint(tmp_path / "short.pt"), longer))
    assert longer.encoder.lookahead.conv.weight.shape[-1] == 7
    waves = torch.randn(2, 12000) * 0.1
    lengths = torch.tensor([12000, 9000])
    with torch.no_grad():
        assert torch.allclose(short(waves, lengths)[0], longer(waves, lengths)[0], atol=1e-6)
    shorter = load_recipe(None, [*streaming, "model.lookahead=1"])
    with pytest.raises(UserError, match="lookahead=2; the recipe asks for lookahead=1"):
        explain_config_change(read_checkpoint(tmp_path / "short.pt"), SimpleNamespace(recipe=shorter), "short.pt")


def test_cli_end_to_end_with_tiny_bpe_and_phone_models(an4, tmp_path):
    lexicon = an4["train"].parent / "lexicon.dic"
    wav = json.loads(an4["test"].read_text().splitlines()[0])["audio_filepath"]
    wav = str(an4["test"].parent / wav)
    small = an4["train"].parent / "train_first16.jsonl"  # beside the manifest: its relative audio paths hold
    small.write_text("".join(an4["train"].read_text().splitlines(keepends=True)[:16]))
    result = run_cli("tokenizer", "train", str(an4["train"]), "--vocab-size", "40", "--out", str(tmp_path / "u.model"))
    assert result.returncode == 0, result.stderr
    for units, extra in (("bpe", [f"text.bpe_model={tmp_path / 'u.model'}"]),
                         ("phone", [f"text.lexicon=[{lexicon}]"])):
        out = tmp_path / units
        result = run_cli("train", "recipes/an4_ds2.yaml", "model.preset=ds2_tiny", "model.rnn_layers=1",
                         "data.corpus=null", f"text.units={units}", *extra,
                         f"data.train_manifest={small}", f"data.dev_manifest={small}", "data.batch_seconds=30",
                         "trainer.epochs=1",
                         f"trainer.out_dir={out}", "trainer.loggers=[]", "data.num_workers=0")
        assert result.returncode == 0, result.stderr[-2000:]
        model = out / "best.pt"
        assert load_model(model).tokenizer.kind == units
        result = run_cli("transcribe", "--model", str(model), "--decoder", "beam", "--format", "json", wav)
        assert result.returncode == 0, result.stderr
        assert "words" in json.loads(result.stdout)
    result = run_cli("lm", "build", str(an4["train"]), "--model", str(tmp_path / "phone" / "best.pt"),
                     "--out", str(tmp_path / "lm.arpa"))
    assert result.returncode == 0, result.stderr
    damaged = torch.load(tmp_path / "phone" / "best.pt", weights_only=True)
    damaged["tokenizer"] = {"kind": "morse"}
    torch.save(damaged, tmp_path / "morse.pt")
    result = run_cli("transcribe", "--model", str(tmp_path / "morse.pt"), wav)
    assert result.returncode == 2 and result.stderr.strip() == \
        f"error: {tmp_path / 'morse.pt'}: unknown tokenizer kind 'morse' (known: char, bpe, phone)"


def test_lm_words_outside_a_phone_lexicon_are_not_warned_about(lexicon_file, tmp_path, capsys):
    from ctcasr.decoding.lm_build import build_lm

    (tmp_path / "text.txt").write_text("i want to go home\n" * 5)  # 'home' has no pronunciation here
    build_lm([tmp_path / "text.txt"], tmp_path / "lm.arpa", order=2)
    Decoder(DecoderConfig(decoder="beam", lm=str(tmp_path / "lm.arpa")), phones(lexicon_file))
    assert "warning" not in capsys.readouterr().err  # a closed vocabulary: the LM may know more words
    Decoder(DecoderConfig(decoder="beam", lm=str(tmp_path / "lm.arpa")), CharTokenizer(alphabet=" agintow"))
    assert "words usable" in capsys.readouterr().err  # characters that cannot spell "home": warned


def test_flashlight_lexicon_decoder_decodes_phones_to_words(lexicon_file, tmp_path):
    pytest.importorskip("flashlight.lib.text")
    from ctcasr.decoding.lm_build import build_lm

    tok = phones(lexicon_file)
    (tmp_path / "text.txt").write_text("i want to go\n" * 5 + "two two\n")
    build_lm([tmp_path / "text.txt"], tmp_path / "lm.arpa", order=3, tokenizer=tok)
    log_probs = spoken(tok, ["AY", "|", "W", "AO", "N", "T", "|", "T", "UW", "|", "G", "OW"])  # WANT's variant
    decoder = Decoder(DecoderConfig(decoder="flashlight", lm=str(tmp_path / "lm.arpa"), alpha=1.0, beta=0.0), tok)
    assert decoder(log_probs[None], np.array([log_probs.shape[0]])) == ["i want to go"]


def test_cmudict_fills_words_the_corpus_lexicon_lacks(lexicon_file):
    from ctcasr.units.lexicon import merge_lexicons

    lexicon = merge_lexicons([str(lexicon_file), "cmudict"])
    assert lexicon["want"] == [("W", "AA", "N", "T"), ("W", "AO", "N", "T")]  # the first source wins
    assert lexicon["hello"][0] == ("HH", "AH", "L", "OW") and len(lexicon) > 100000
