"""benchmarks/speed.py's FLOP count: recurrent layers that torch's FlopCounterMode cannot see are counted
analytically, with the formula that matches what the counter finds where it can see them."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from speed import forward_flops, recurrent_flops  # noqa: E402


class Stack(torch.nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(8, 16, num_layers=2, bidirectional=True, batch_first=True)
        self.out = torch.nn.Linear(32, 5)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return self.out(self.rnn(x)[0])


def test_analytic_count_matches_the_counter_for_the_gru() -> None:
    """The GRU runs as matmuls the counter sees: our formula must give the same number, and nothing is added."""
    from torch.utils.flop_counter import FlopCounterMode

    model, x = Stack("GRU"), torch.randn(3, 50, 8)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.rnn(x)
    assert recurrent_flops(model.rnn, (x,)) == counter.get_total_flops() > 0
    linear = 2 * 3 * 50 * 32 * 5
    assert forward_flops(model, x, None) == counter.get_total_flops() + linear


def test_fused_lstm_is_counted() -> None:
    """The fused LSTM is invisible to the counter; the total holds its 4-gate count beside the linear layer."""
    model, x = Stack("LSTM"), torch.randn(3, 50, 8)
    lstm = 2 * 3 * 50 * 2 * 4 * 16 * ((8 + 16) + (32 + 16))
    assert forward_flops(model, x, None) == lstm + 2 * 3 * 50 * 32 * 5
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([50, 20, 10]), batch_first=True)
    assert recurrent_flops(model.rnn, (packed,)) == lstm * 80 / 150
