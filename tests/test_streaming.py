"""Streaming: stateful decoders equal offline decoding for any chunking; the streaming acoustic model equals the
offline forward pass; sessions, endpoints and `transcribe --stream` give the offline transcript."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import REPO, assert_user_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.decoding.beam import PrefixBeamSearch, prefix_beam_search
from ctcasr.decoding.greedy import GreedyStream, greedy_decode
from ctcasr.units.char import CharTokenizer
from ctcasr.units.char import CharTokenizer as _Chars

SPELLING = _Chars().spelling  # the default alphabet: space is id 1

TOKENIZER = CharTokenizer()


def random_log_probs(seed: int, frames: int, peaky: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, peaky, size=(frames, len(TOKENIZER)))
    logits[:, 0] += rng.uniform(0, 2 * peaky, size=frames)  # blanks dominate, as in a trained model
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def chunks(array: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    edges = sorted({0, array.shape[0], *[c % (array.shape[0] + 1) for c in cuts]})
    return [array[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), frames=st.integers(0, 60), peaky=st.floats(0.5, 4.0),
       cuts=st.lists(st.integers(0, 60), max_size=8), beam=st.integers(1, 12), recombine=st.booleans())
def test_beam_search_in_chunks_equals_one_call(seed, frames, peaky, cuts, beam, recombine):
    log_probs = random_log_probs(seed, frames, peaky)
    nbest = 1 if recombine else min(3, beam)
    offline = prefix_beam_search(log_probs, beam, nbest, token_topk=8, token_cum_prob=0.99, blank_skip=0.99,
                                 beam_threshold=12.0, spelling=SPELLING, recombine=recombine)
    search = PrefixBeamSearch(beam, nbest, 8, 0.99, 0.99, None, 12.0, SPELLING, recombine)
    for piece in chunks(log_probs, cuts):
        search.advance(piece)
        assert search.partial() is not None
    streamed = search.finalize()
    assert [(h.tokens, h.frames) for h in streamed] == [(h.tokens, h.frames) for h in offline]
    assert [h.score for h in streamed] == pytest.approx([h.score for h in offline])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), frames=st.integers(0, 80), cuts=st.lists(st.integers(0, 80), max_size=8))
def test_greedy_in_chunks_equals_one_call(seed, frames, cuts):
    log_probs = random_log_probs(seed, frames, 2.0)
    stream = GreedyStream()
    for piece in chunks(log_probs, cuts):
        stream.advance(piece)
    assert list(stream.finalize()[0].tokens) == greedy_decode(log_probs[None], [frames])[0]


def test_fused_beam_with_lm_and_hotwords_streams_exactly(tmp_path):
    pytest.importorskip("kenlm")
    from test_lm_fusion import write_lm

    (tmp_path / "hot.txt").write_text("bad 3\n")
    decoder = Decoder(DecoderConfig(decoder="beam", beam=8, lm=str(write_lm(tmp_path)), alpha=0.8, beta=0.5,
                                    hotwords=str(tmp_path / "hot.txt")), TOKENIZER)
    for seed in range(12):
        log_probs = random_log_probs(seed, 50, 3.0)
        offline = decoder.nbest(log_probs[None], [50])[0][0]
        stream = decoder.stream()
        for piece in chunks(log_probs, [seed * 7 % 50, 13, 31 + seed]):
            stream.advance(piece)
        got = stream.finalize()[0]
        assert got.tokens == offline.tokens and got.score == pytest.approx(offline.score)


def tiny_streaming_model(*overrides: str):
    from ctcasr.config import load_recipe
    from ctcasr.training import build_asr_model

    torch.manual_seed(0)
    model = build_asr_model(load_recipe(None, ["model.preset=ds2_tiny", "model.bidirectional=false",
                                               "features.normalize=none", "model.rnn_layers=2", *overrides])).eval()
    for module in model.modules():  # trained-looking statistics, so the test is not trivially about zeros
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    if model.encoder.lookahead is not None:
        torch.nn.init.normal_(model.encoder.lookahead.conv.weight)
    return model


@pytest.mark.parametrize("overrides", [["model.lookahead=3"], [],
                                       ["model.conv_strides=[[2,3],[2,1]]", "model.conv_kernels=[[41,5],[21,3]]",
                                        "model.lookahead=1", "model.rnn_type=lstm"],
                                       ["model.bidirectional=true", "model.chunk=4", "model.right_context=3"],
                                       ["model.bidirectional=true", "model.chunk=5", "model.lookahead=2"]])
def test_acoustic_stream_equals_the_offline_pass(overrides):
    from ctcasr.acoustic import TorchAcoustic
    from ctcasr.streaming import AcousticStream

    model = tiny_streaming_model(*overrides)
    rng = np.random.default_rng(0)
    for samples in (16000, 12345, 300, 4999):
        wave = rng.normal(0, 0.1, samples).astype(np.float32)
        reference, frames = TorchAcoustic(model).log_probs([wave])
        for size in (160, 777, 4000, 10**6):
            stream = AcousticStream(model)
            out = [stream.accept(wave[i:i + size]) for i in range(0, samples, size)] + [stream.finish()]
            got = np.concatenate(out)
            assert got.shape == (frames[0], reference.shape[2])
            assert np.abs(got - reference[0, : frames[0]]).max() <= 1e-5


def test_bidirectional_or_normalised_models_refuse_to_stream():
    from ctcasr import load
    from ctcasr.errors import UserError

    with pytest.raises(UserError, match="unidirectional"):
        load(REPO / "models" / "an4_ds2.pt").stream()
    recognizer_model = tiny_streaming_model()
    recognizer_model.features.config.normalize = "utterance"
    from ctcasr.recognizer import Recognizer

    with pytest.raises(UserError, match="normalize: none"):
        Recognizer(recognizer_model).stream()


@pytest.fixture(scope="module")
def streaming_checkpoint(tmp_path_factory):
    from ctcasr.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("stream") / "tiny_stream.pt"
    save_checkpoint(path, tiny_streaming_model("model.lookahead=2"))
    return path


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_session_text_equals_offline_and_resamples(streaming_checkpoint, an4_items, decoder):
    from ctcasr import load
    from ctcasr.audio import load as load_audio

    recognizer = load(streaming_checkpoint, decoder=decoder, beam=6)
    wave = load_audio(an4_items["test"][3].audio_filepath, 16000)
    offline = recognizer.transcribe(wave, sample_rate=16000)
    session = recognizer.stream(endpoint_seconds=None)
    events = []
    for i in range(0, wave.size, 1111):
        events += session.accept(wave[i:i + 1111])
    events += session.finish()
    assert session.text == offline.text
    assert [e.kind for e in events][-1] == "final" and all(e.kind == "partial" for e in events[:-1])
    assert [w.word for w in events[-1].words] == [w.word for w in offline.words]
    # 8 kHz int16 input is resampled on the fly
    pcm8k = (load_audio(an4_items["test"][3].audio_filepath, 8000) * 32767).astype(np.int16)
    session = recognizer.stream(8000, endpoint_seconds=None)
    for i in range(0, pcm8k.size, 800):
        session.accept(pcm8k[i:i + 800])
    session.finish()
    assert session.finals and session.finals[-1].end == pytest.approx(wave.size / 16000, abs=0.1)


def test_the_shipped_chunked_model_streams_what_it_transcribes(an4_items):
    """an4_chunked (latency-controlled BRNN) with its beam search + LM: streamed in 100 ms pieces = offline."""
    from ctcasr import load
    from ctcasr.audio import load as load_audio

    recognizer = load(REPO / "models" / "an4_chunked.pt")
    for item in an4_items["test"][:3]:
        wave = load_audio(item.audio_filepath, 16000)
        session = recognizer.stream(endpoint_seconds=None)
        for i in range(0, wave.size, 1600):
            session.accept(wave[i:i + 1600])
        session.finish()
        assert session.text == recognizer.transcribe(wave, sample_rate=16000).text != ""


def test_endpoints_split_segments_at_pauses(streaming_checkpoint):
    """A model that hears only blank after a word ends the segment: forced by a log-prob stream."""
    from ctcasr import load
    from ctcasr.session import StreamSession

    recognizer = load(streaming_checkpoint)
    session = StreamSession(recognizer, endpoint_seconds=0.2)
    speech = np.log(np.full((5, len(TOKENIZER)), 1e-4))
    speech[:, TOKENIZER.encode("b")[0]] = 0.0
    silence = np.log(np.full((20, len(TOKENIZER)), 1e-4))
    silence[:, 0] = 0.0
    events = session._consume(np.concatenate([speech, silence]), end=False)
    events += session._consume(np.concatenate([speech, silence]), end=False)
    events += session._consume(np.zeros((0, len(TOKENIZER))), end=True)
    finals = [e for e in events if e.kind == "final"]
    assert [e.text for e in finals] == ["b", "b"]
    assert finals[1].start == pytest.approx(25 * recognizer.acoustic.frame_seconds)


def test_cli_stream_prints_partials_and_the_offline_final(streaming_checkpoint, an4_items):
    audio = an4_items["test"][5].audio_filepath
    streamed = run_cli("transcribe", "--model", streaming_checkpoint, "--stream", "--no-realtime", "--format",
                       "json", "--endpoint-seconds", "0", audio)
    assert streamed.returncode == 0, streamed.stderr
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    offline = run_cli("transcribe", "--model", streaming_checkpoint, "--format", "json", audio)
    assert events[-1]["type"] == "final" and events[-1]["text"] == json.loads(offline.stdout)["text"]
    plain = run_cli("transcribe", "--model", streaming_checkpoint, "--stream", "--no-realtime", audio)
    assert plain.stdout.splitlines()[-1].startswith("final\t")


def test_cli_stream_bad_input(streaming_checkpoint, an4_items):
    audio = an4_items["test"][5].audio_filepath
    assert_user_error(run_cli("transcribe", "--model", REPO / "models" / "an4_ds2.pt", "--stream", audio),
                      "unidirectional")
    assert_user_error(run_cli("transcribe", "--model", streaming_checkpoint, "--stream", audio, audio),
                      "one audio file")
    assert_user_error(run_cli("transcribe", "--model", streaming_checkpoint, "--stream", "--chunk-ms", "0",
                              audio), "--chunk-ms")
