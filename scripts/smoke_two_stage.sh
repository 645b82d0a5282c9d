#!/usr/bin/env bash
# The original's two stages end to end, offline, with a tiny model: LJSpeech (stage 1) -> LibriSpeech (stage 2,
# init_from stage 1) -> test-clean report. It proves the plumbing, not the quality.
#   scripts/smoke_two_stage.sh OUT_DIR MIRROR        (CTCASR: the command to run, default `ctcasr`)
set -euo pipefail
out=${1:?usage: smoke_two_stage.sh OUT_DIR MIRROR}
mirror=${2:?usage: smoke_two_stage.sh OUT_DIR MIRROR}
ctcasr=${CTCASR:-ctcasr}
here=$(cd "$(dirname "$0")/.." && pwd)
tiny=(model.preset=ds2_tiny data.num_workers=0 data.batch_seconds=60 trainer.epochs=2 data.root="$out/data"
      data.mirror="$mirror" trainer.log_every_n_steps=1)

$ctcasr train "$here/recipes/ljspeech_pretrain.yaml" "${tiny[@]}" trainer.out_dir="$out/stage1" \
  data.train_manifest="$out/data/ljspeech/train.jsonl" data.dev_manifest="$out/data/ljspeech/dev.jsonl" \
  data.test_manifests=[] data.max_duration=12

# The mirror holds only dev-clean and test-clean: stage 2 trains on dev-clean here (train-clean-360 online).
$ctcasr train "$here/recipes/librispeech_finetune.yaml" "${tiny[@]}" trainer.out_dir="$out/stage2" \
  trainer.init_from="$out/stage1/best.pt" data.parts=[dev-clean,test-clean] \
  data.train_manifest="$out/data/librispeech/dev-clean.jsonl" data.dev_manifest="$out/data/librispeech/dev-clean.jsonl" \
  data.test_manifests=["$out/data/librispeech/test-clean.jsonl"]
echo "two-stage smoke run done: $out/stage2/eval_test-clean.json"
