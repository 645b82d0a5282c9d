"""Real training on AN4 audio: loss falls, a handful of utterances is learnt, kill -9 + resume, 2-process DDP."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import REPO, run_cli

from ctcasr.checkpoint import load_model
from ctcasr.config import load_recipe
from ctcasr.data.dataset import DurationBatchSampler, SpeechDataset, collate
from ctcasr.data.manifest import write_manifest
from ctcasr.decoding.greedy import greedy_decode
from ctcasr.evaluation import char_errors
from ctcasr.training import CTCTask, RunRecorder, better, train

RECIPE = REPO / "recipes" / "an4_ds2.yaml"


def _batch(items, recipe):
    task = CTCTask(recipe)
    data = SpeechDataset(items, task.model.tokenizer, 16000)
    return task, collate([data[i] for i in range(len(items))])


def test_loss_falls_in_a_few_real_steps(an4_items):
    torch.manual_seed(0)
    recipe = load_recipe(RECIPE, ["model.preset=ds2_tiny", "augment.spec_augment=null"])
    task, batch = _batch(an4_items["train"][:8], recipe)
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss, _, _ = task._loss(batch, train=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


@pytest.mark.slow
def test_overfits_a_handful_of_utterances(an4_items):
    torch.manual_seed(0)
    items = sorted(an4_items["train"], key=lambda u: u.duration)[100:104]
    recipe = load_recipe(RECIPE, ["model.conv_channels=[16, 16]", "model.rnn_hidden=128", "model.rnn_layers=2",
                                  "augment.spec_augment=null"])
    task, batch = _batch(items, recipe)
    optimizer = torch.optim.AdamW(task.parameters(), lr=3e-3)
    for _ in range(250):
        loss, _, _ = task._loss(batch, train=True)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.parameters(), 5.0)
        optimizer.step()
    task.eval()
    with torch.no_grad():
        _, log_probs, lengths = task._loss(batch, train=False)
    hyps = [task.model.tokenizer.decode(ids) for ids in greedy_decode(log_probs, lengths)]
    assert char_errors(batch["texts"], hyps).rate < 5.0, list(zip(batch["texts"], hyps, strict=True))


def test_duration_batches_respect_budget_sortagrad_and_ranks():
    durations = np.random.default_rng(0).uniform(0.5, 8.0, 200)
    sampler = DurationBatchSampler(durations, 20.0, shuffle=True, seed=1, sortagrad=True)
    epoch0 = list(sampler)
    assert sorted(i for b in epoch0 for i in b) == list(range(200))
    assert all(max(durations[b]) * len(b) <= 20.0 for b in epoch0)
    assert [max(durations[b]) for b in epoch0] == sorted(max(durations[b]) for b in epoch0)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    ranks = [list(DurationBatchSampler(durations, 20.0, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1])
    assert {i for b in ranks[0] + ranks[1] for i in b} == set(range(200))


def _small_run(tmp_path, an4_items, n_train=48, n_dev=12):
    write_manifest(tmp_path / "train.jsonl", an4_items["train"][:n_train], relative=False)
    write_manifest(tmp_path / "dev.jsonl", an4_items["dev"][:n_dev], relative=False)
    return [f"data.train_manifest={tmp_path / 'train.jsonl'}", f"data.dev_manifest={tmp_path / 'dev.jsonl'}",
            "data.corpus=null", "data.num_workers=0", "data.batch_seconds=30", "model.preset=ds2_tiny",
            f"trainer.out_dir={tmp_path / 'run'}", "trainer.log_every_n_steps=1"]


@pytest.mark.slow
def test_a_resumed_run_draws_the_batches_of_its_own_epoch(tmp_path, an4_items, monkeypatch):
    """With loader workers, Lightning makes the training iterator (and the workers start drawing batches)
    before it calls set_epoch: the resumed epoch must still get its own shuffled order, not epoch 0's sorted one."""
    drawn = []  # (sampler, its epoch, the batches it yielded) for every training iteration
    plain_iter = DurationBatchSampler.__iter__

    def recording_iter(self):
        batches = []
        if self.shuffle:
            drawn.append((self, self.epoch, batches))
        for batch in plain_iter(self):
            batches.append(batch)
            yield batch

    monkeypatch.setattr(DurationBatchSampler, "__iter__", recording_iter)
    overrides = _small_run(tmp_path, an4_items, n_train=40, n_dev=4) + ["data.num_workers=1", "trainer.threads=1"]
    train(load_recipe(RECIPE, [*overrides, "trainer.epochs=1"]))
    train(load_recipe(RECIPE, [*overrides, "trainer.epochs=2"]), resume=True)
    assert [epoch for _, epoch, _ in drawn] == [0, 1]
    sampler, _, batches = drawn[1]
    expected = DurationBatchSampler(sampler.durations, sampler.batch_seconds, seed=sampler.seed, sortagrad=True,
                                    epoch=1)
    assert batches == [list(b) for b in plain_iter(expected)]
    assert batches != drawn[0][2]  # epoch 0 went shortest first


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_epoch(tmp_path, an4_items):
    overrides = _small_run(tmp_path, an4_items, n_train=160) + ["trainer.epochs=4"]
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "ctcasr.cli", "train", str(RECIPE), *overrides]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        history = run / "history.json"
        if (run / "lightning" / "last.ckpt").is_file() and history.is_file():
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = max(h["epoch"] for h in json.loads((run / "history.json").read_text()))
    assert done_before < 4, "the run got too far before the kill"

    again = run_cli("train", RECIPE, *overrides)
    assert again.returncode == 2 and "--resume" in again.stderr  # no silent restart over a run

    result = run_cli("train", RECIPE, *overrides, "--resume")
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]  # counted from 1, as in the bar, summary and plots
    assert all(h["peak_rss_mb"] > 100 for h in history)  # memory per epoch, to see where it grows
    summary = json.loads((run / "train_summary.json").read_text())
    resumed = summary["resumed_at_epochs"]
    assert len(resumed) == 1 and done_before <= resumed[0] <= done_before + 1  # at most one epoch lost
    for name in ("best.pt", "last.pt", "loss.png", "cer.png", "wer.png"):
        assert (run / name).is_file(), name
    assert load_model(run / "last.pt").metadata["epoch"] == 4
    finished = run_cli("train", RECIPE, *overrides, "--resume")
    assert finished.returncode == 2 and "already finished 4 epochs" in finished.stderr
    # a finished run extended: overrides after --resume, the schedule rebuilt for the new total
    extended = run_cli("train", RECIPE, "--resume", *overrides[:-1], "trainer.epochs=5")
    assert extended.returncode == 0, extended.stderr[-2000:]
    assert "schedule rebuilt" in extended.stdout
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [1, 2, 3, 4, 5]
    assert "TPU available" not in extended.stdout and "Tip:" not in extended.stdout
    assert_tensorboard_has(run / "tensorboard", scalars={"train/loss", "train/grad_norm", "dev/wer", "dev/cer",
                                                        "dev/loss", "lr-AdamW"},
                           others={"dev/spectrogram", "dev/audio", "dev/examples/text_summary"})


def assert_tensorboard_has(folder, scalars, others):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: dict = {}
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"images": 0, "audio": 0, "tensors": 0}).Reload()
        for kind, names in acc.Tags().items():
            if isinstance(names, list):
                tags.setdefault(kind, set()).update(names)
    assert scalars <= tags.get("scalars", set()), tags
    present = tags.get("images", set()) | tags.get("audio", set()) | tags.get("tensors", set())
    assert others <= present, tags


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path, an4_items):
    overrides = _small_run(tmp_path, an4_items, n_train=32, n_dev=8) + [
        "trainer.devices=2", "trainer.accelerator=cpu", "trainer.strategy=ddp", "trainer.epochs=1",
        "trainer.threads=1"]
    result = run_cli("train", RECIPE, *overrides, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["step"] >= 1
    assert load_model(tmp_path / "run" / "best.pt").metadata["world_size"] == 2
    assert "trained 1 epochs" in result.stdout


def test_memory_settings_leave_the_losses_unchanged(tmp_path, an4_items):
    """The training defaults map large blocks (trainer.mmap_threshold_kb) into huge pages (THP_MEM_ALLOC_ENABLE)
    and keep few oneDNN primitives (ONEDNN_PRIMITIVE_CACHE_CAPACITY, set by the CLI); the same seeded run with
    glibc's and torch's plain allocation and oneDNN's own cache size gives the same losses."""
    losses = {}
    for name, threshold, env in (("plain", 0, {"THP_MEM_ALLOC_ENABLE": "0", "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"}),
                                 ("default", None, {"THP_MEM_ALLOC_ENABLE": "1"})):
        out = tmp_path / name
        out.mkdir()
        overrides = [*_small_run(out, an4_items, n_train=24, n_dev=4), "trainer.epochs=2", "augment.noise_prob=0"]
        if threshold is not None:
            overrides.append(f"trainer.mmap_threshold_kb={threshold}")
        result = run_cli("train", RECIPE, *overrides, env=env, timeout=400)
        assert result.returncode == 0, result.stderr[-2000:]
        losses[name] = [h["train_loss"] for h in json.loads((out / "run" / "history.json").read_text())]
    assert len(losses["plain"]) == 2
    np.testing.assert_allclose(losses["default"], losses["plain"], rtol=1e-5)


def test_cosine_and_noam_schedules_warm_up_then_decay():
    from ctcasr.training import lr_factor

    cosine, noam = lr_factor("cosine", 10, 100, 0.01), lr_factor("noam", 10, 100, 0.01)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(55) == pytest.approx(0.505, abs=0.01) and cosine(100) == pytest.approx(0.01)
    assert noam(9) == pytest.approx(1.0) and noam(39) == pytest.approx(0.5)
    assert all(cosine(s) >= cosine(s + 1) for s in range(10, 100))


def test_best_epoch_is_the_lowest_dev_wer_and_ties_go_to_the_lower_dev_loss():
    assert better(58.0, 1.3, 58.47, 1.25)  # lower WER wins whatever the loss
    assert not better(59.0, 1.0, 58.47, 1.25)
    assert better(58.47, 1.236, 58.47, 1.25)  # a tie: the lower loss
    assert not better(58.47, 1.26, 58.47, 1.25)
    assert not better(None, 1.0, 58.47, 1.25)  # no dev WER: never best
    assert better(99.0, None, float("inf"), float("inf"))  # the first epoch always is


def test_a_resumed_fine_tune_still_names_the_checkpoint_it_started_from(tmp_path):
    recorder = RunRecorder(tmp_path, load_recipe(None, []), "ctcasr train r.yaml")
    recorder.init_from = {"path": "models/an4_stream.pt", "sha256": "f2d4"}
    resumed = RunRecorder(tmp_path, load_recipe(None, []), "ctcasr train r.yaml --resume")
    resumed.load_state_dict(recorder.state_dict())  # what Lightning's checkpoint carries across a resume
    assert resumed.init_from == recorder.init_from
