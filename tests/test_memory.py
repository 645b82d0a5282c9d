"""Heap fragmentation under changing tensor sizes (training's activations) is bounded by `ctcasr.memory`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, random, sys
import torch
from ctcasr.memory import map_large_allocations

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

mapped = map_large_allocations(int(sys.argv[1]))
random.seed(0)
base = rss()
keep = []
for _ in range(400):
    keep.append(torch.ones(random.randint(1, 96) * 2**16))  # 0.25-24 MiB, as activations of changing shapes
    keep.append(torch.ones(random.randint(1, 4000)))  # small blocks in between pin the heap
    while len(keep) > 16:
        keep.pop(random.randrange(len(keep)))  # freed in any order
live = sum(t.numel() * 4 for t in keep) / 2**20
held = rss() - base
keep.clear()
print(json.dumps({"mapped": mapped, "live": live, "held": held, "after_free": rss() - base}))
"""


def probe(threshold_kb: int) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(threshold_kb)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_allocations_go_back_to_the_system():
    bounded, default = probe(1024), probe(0)
    assert bounded["mapped"] and not default["mapped"]
    # the process holds what is alive (plus small change), and gives everything back when it is freed
    assert bounded["held"] < bounded["live"] + 24, bounded
    assert bounded["after_free"] < 16, bounded
    assert bounded["held"] <= default["held"], (bounded, default)


CHILDREN = """
import subprocess, sys
from ctcasr.memory import peak_rss_children_mb
child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(300 * 2**20); print(1, flush=True); "
                          "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
alive = peak_rss_children_mb()
child.kill()
child.wait()
print(alive, peak_rss_children_mb())
"""


def test_children_peak_counts_live_workers_and_then_finished_ones():
    """Training reports its DataLoader workers' peak: children still running are read from /proc (a fresh
    process has no finished child whose peak could stand in), finished ones from getrusage."""
    out = subprocess.run([sys.executable, "-c", CHILDREN], capture_output=True, text=True, timeout=120, check=True)
    alive, finished = map(float, out.stdout.split())
    assert 300 <= alive < 600
    assert 300 <= finished < 600
