"""ctcasr: CTC speech recognition — prepare corpora, train, decode, evaluate, transcribe."""

from ctcasr.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "load_model", "__version__"]


def __getattr__(name: str):
    if name == "load_model":  # imported lazily: it pulls in torch
        from ctcasr.checkpoint import load_model

        return load_model
    raise AttributeError(name)
