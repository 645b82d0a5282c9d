import json

import pytest

from ctcasr.data.manifest import Utterance, read_manifest, write_manifest
from ctcasr.errors import UserError


def test_round_trip_with_relative_paths(tmp_path):
    (tmp_path / "wav").mkdir()
    items = [Utterance(str(tmp_path / "wav" / "a.flac"), 1.5, "hello", "a", "spk1"),
             Utterance("/elsewhere/b.flac", 2.0, "world")]
    write_manifest(tmp_path / "m.jsonl", items)
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert rows[0] == {"audio_filepath": "wav/a.flac", "duration": 1.5, "text": "hello", "id": "a", "speaker": "spk1"}
    assert rows[1] == {"audio_filepath": "/elsewhere/b.flac", "duration": 2.0, "text": "world"}
    back = read_manifest(tmp_path / "m.jsonl")
    assert back[0].audio_filepath == str(tmp_path / "wav" / "a.flac")
    assert back[1].audio_filepath == "/elsewhere/b.flac"
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize(("content", "problem"), [
    (b'{"audio_filepath": "a.wav", "duration": 1, "text": "x"}\n\xff bad\n', ":2: manifest line is not valid UTF-8"),
    (b'{"audio_filepath": "a.wav", "duration": 1, "text": "x"}\n{not json\n', ":2: manifest line is not valid JSON"),
    (b'{"audio_filepath": "a.wav", "text": "x"}\n', ":1: manifest line needs the keys"),
    (b'{"audio_filepath": "a.wav", "duration": "long", "text": "x"}\n', ":1: duration is not a number"),
    (b"\n\n", "manifest has no utterances"),
    (b'{"audio_filepath": "a.wav", "duration": 1, "text": "x", "words": [0.1, 0.5]}\n',
     ":1: words must be a list of [start, end] seconds"),
    (b'{"audio_filepath": "a.wav", "duration": 1, "text": "x y", "words": [[0.5, 0.6], [0.1, 0.2]]}\n',
     ":1: words: [0.1, 0.2] is out of order"),
    (b'{"audio_filepath": "a.wav", "duration": 1, "text": "x", "words": [[0.5, 3.0]]}\n',
     ":1: words: [0.5, 3.0] is out of order or outside the 1 s utterance"),
    (b'{"audio_filepath": "a.wav", "duration": 1, "text": "x", "words": [[0.1, NaN]]}\n',
     ":1: words must be a list of [start, end] seconds"),
])
def test_bad_manifest_lines_name_file_and_line(tmp_path, content, problem):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        read_manifest(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_word_times_round_trip(tmp_path):
    items = [Utterance(str(tmp_path / "a.flac"), 1.5, "hello world", "a", words=[[0.1, 0.5], [0.7, 1.2]])]
    write_manifest(tmp_path / "m.jsonl", items)
    assert read_manifest(tmp_path / "m.jsonl")[0].words == [[0.1, 0.5], [0.7, 1.2]]


def test_missing_manifest(tmp_path):
    with pytest.raises(UserError, match="manifest does not exist"):
        read_manifest(tmp_path / "nope.jsonl")
