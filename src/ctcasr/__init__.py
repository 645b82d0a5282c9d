"""ctcasr: CTC speech recognition — prepare corpora, train, decode, evaluate, transcribe.

    import ctcasr
    recognizer = ctcasr.load("models/en_small.pt")      # or a registered name: ctcasr.load("en_small")
    transcript = recognizer.transcribe("audio.wav")     # a path, a NumPy array (+ sample_rate) or bytes
    print(transcript.text, [(w.word, w.start, w.end, w.confidence) for w in transcript.words])
"""

from ctcasr.errors import UserError

__version__ = "0.2.0"
__all__ = ["Recognizer", "Transcript", "UserError", "load", "load_model", "__version__"]

_LAZY = {"load": "ctcasr.recognizer", "Recognizer": "ctcasr.recognizer", "Transcript": "ctcasr.recognizer",
         "load_model": "ctcasr.checkpoint"}


def __getattr__(name: str):
    if name in _LAZY:  # imported lazily: they pull in torch, which `ctcasr --help` does not need
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
