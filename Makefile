# ctcasr — the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU wheel that this project's machines hold on disk (no CUDA download).
TORCH ?= torch==2.13.0
# Official archives are taken from this folder when it exists, else downloaded from their official URLs.
MIRROR ?= $(wildcard ../shared/data)
MIRROR_ARG := $(if $(MIRROR),--mirror $(MIRROR))
MODEL ?= models/an4_ds2.pt
# The AN4 phone model (DeepSpeech2 emitting phones, words through AN4's lexicon), fine-tuned for single words and phone lines.
DEMO_MODEL ?= models/an4_phone.pt
PHONE_MODEL ?= models/an4_phone.pt
GENERAL_MODEL ?= models/en_small.pt

.PHONY: system-packages kenlm-tools bench-lm bench-decoders bench-en-small bench-pretraining bench-threads bench-export bench-streaming \
	bench-server bench-models bench-speed bench-train-speedup bench-train-settings train-an4-stream tune-an4-stream train-an4-chunked tune-an4-chunked train-an4-fast tune-an4-fast train-an4-lstm tune-an4-lstm train-an4-lstm-words tune-an4-lstm-words train-en-small-stream train-an4-phone tune-an4-phone install demo test lint train-an4 \
	train-en-small results smoke-two-stage

$(BIN)/ctcasr: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH) -e '.[dev,lm,export,serve]'
	@touch $@

# KenLM's lmplz / build_binary (for `ctcasr lm build`), compiled from the kenlm source release (~1 min).
$(BIN)/lmplz: | $(BIN)/ctcasr
	scripts/build_kenlm_tools.sh $(BIN)

kenlm-tools: $(BIN)/lmplz

install: $(BIN)/ctcasr $(BIN)/lmplz

# System packages the tests need (ffmpeg); installed with apt when run as root.
system-packages:
	scripts/ci_system_packages.sh

# Prepare AN4, evaluate the shipped AN4 model on AN4 test (greedy, then with its own decoding file: beam + its tuned
# AN4 3-gram), transcribe a few AN4 files, and one as subtitles with the general model.
demo: install
	$(BIN)/ctcasr data an4 --out data $(MIRROR_ARG)
	$(BIN)/ctcasr evaluate --model $(DEMO_MODEL) --manifest data/an4/test.jsonl --decoder greedy --out runs/demo/an4_test.json
	$(BIN)/ctcasr evaluate --model $(DEMO_MODEL) --manifest data/an4/test.jsonl --out runs/demo/an4_test_lm.json
	$(BIN)/ctcasr transcribe --model $(DEMO_MODEL) data/an4/wav/an406-fcaw-b.flac data/an4/wav/an407-fcaw-b.flac \
		data/an4/wav/an408-fcaw-b.flac
	$(BIN)/ctcasr transcribe --model $(GENERAL_MODEL) --format srt data/an4/wav/an406-fcaw-b.flac

lint: install
	$(BIN)/ruff check src tests benchmarks

# pytest exits 5 when it collects no tests: that is a failure too.
test: install lint system-packages
	CTCASR_TEST_MIRROR=$(if $(MIRROR),$(abspath $(MIRROR)),) $(BIN)/python -m pytest -q; \
	status=$$?; [ $$status -ne 5 ] || echo "error: pytest collected no tests" >&2; exit $$status

# Train the shipped AN4 model (about an hour on a 2-core CPU), then evaluate it into results/.
train-an4: install
	$(BIN)/ctcasr train recipes/an4_ds2.yaml
	cp runs/an4_ds2/best.pt $(MODEL)
	$(MAKE) results

# Evaluate the shipped model on AN4 dev and test, record its training cost, regenerate the README table.
results: install
	$(BIN)/python benchmarks/an4_ds2.py --model $(MODEL) --data data --results results

# The original's two-stage recipe end to end on the mirror's LJSpeech and LibriSpeech archives, tiny model.
smoke-two-stage: install
	rm -rf runs/smoke
	CTCASR=$(BIN)/ctcasr scripts/smoke_two_stage.sh runs/smoke $(if $(MIRROR),$(abspath $(MIRROR)),)

# AN4-train 3-gram, alpha/beta tuned on AN4 dev, AN4 test decoded once (+ the uppercase-LM check).
bench-lm: install
	$(BIN)/python benchmarks/an4_lm.py --model $(MODEL) --data data --results results

# Greedy / own beam / flashlight-text / pyctcdecode on identical log-probs. pyctcdecode is a benchmark-only
# dependency, installed without its numpy<2 pin (it runs on numpy 2).
bench-decoders: install
	$(BIN)/pip install -q --disable-pip-version-check --no-deps pyctcdecode==0.5.0 pygtrie==2.6.2
	$(BIN)/python benchmarks/decoders.py --model $(MODEL)

# The general model, four runs on AN4 + speechocean762 with channel augmentation: characters (12 epochs, about
# 2.5 h on a 2-core CPU), phones starting from that model's encoder (8 epochs, about 100 min), the phone model
# fine-tuned with word-aligned crops (5 epochs, about 50 min; word times from the phone model's alignment), then
# 3 epochs with lighter augmentation (about 17 min; word times from the crop model's alignment).
CHAR_GENERAL_MODEL ?= models/en_small_char.pt
train-en-small: install
	$(BIN)/ctcasr train recipes/en_small.yaml
	cp runs/en_small/best.pt $(CHAR_GENERAL_MODEL)
	mkdir -p $(basename $(CHAR_GENERAL_MODEL))
	cp runs/en_small/train_summary.json runs/en_small/history.json runs/en_small/*.png $(basename $(CHAR_GENERAL_MODEL))/
	$(BIN)/ctcasr train recipes/en_small_phone.yaml trainer.init_from=$(CHAR_GENERAL_MODEL)
	mkdir -p $(basename $(GENERAL_MODEL))/phone_stage
	cp runs/en_small_phone/train_summary.json runs/en_small_phone/history.json runs/en_small_phone/*.png \
		runs/en_small_phone/recipe.json $(basename $(GENERAL_MODEL))/phone_stage/
	for corpus in an4 speechocean762; do $(BIN)/ctcasr align --model runs/en_small_phone/best.pt \
		--manifest data/$$corpus/train.jsonl --out data/$$corpus/train_aligned.jsonl || exit 1; done
	$(BIN)/ctcasr train recipes/en_small_words.yaml trainer.init_from=runs/en_small_phone/best.pt
	mkdir -p $(basename $(GENERAL_MODEL))/words_stage
	cp runs/en_small_words/train_summary.json runs/en_small_words/history.json runs/en_small_words/*.png \
		runs/en_small_words/recipe.json $(basename $(GENERAL_MODEL))/words_stage/
	for corpus in an4 speechocean762; do $(BIN)/ctcasr align --model runs/en_small_words/best.pt \
		--manifest data/$$corpus/train.jsonl --out data/$$corpus/train_aligned.jsonl || exit 1; done
	$(BIN)/ctcasr train recipes/en_small_light.yaml trainer.init_from=runs/en_small_words/best.pt
	$(call ship_run,runs/en_small_light,$(GENERAL_MODEL))
	$(MAKE) bench-en-small

# Its LMs (3-gram + LSTM) tuned on the pooled dev sets, AN4 and speechocean762 test once, robustness sets.
bench-en-small: install
	$(BIN)/ctcasr data speechocean762 --out data $(MIRROR_ARG)
	$(BIN)/python benchmarks/en_small.py --model $(GENERAL_MODEL) --data data --results results \
		--init-summary $(basename $(CHAR_GENERAL_MODEL))/train_summary.json \
		--init-summary $(basename $(GENERAL_MODEL))/phone_stage/train_summary.json \
		--init-summary $(basename $(GENERAL_MODEL))/words_stage/train_summary.json --alphas 0.25,0.5,0.8 --betas=-1,0,1

# The general streaming model (about 50 minutes + 15 of measuring): en_small fine-tuned into latency-controlled
# bidirectional GRUs (recipes/en_small_stream.yaml; word times for the crops from en_small's alignment), then the
# same measurements as en_small with en_small's LMs (alpha / beta tuned on the pooled dev sets), and the stream
# against en_small offline on AN4 test.
STREAM_GENERAL_MODEL ?= models/en_small_stream.pt
train-en-small-stream: install data/an4/train_aligned.jsonl data/speechocean762/train_aligned.jsonl
	$(BIN)/ctcasr train recipes/en_small_stream.yaml
	cp runs/en_small_stream/best.pt $(STREAM_GENERAL_MODEL)
	mkdir -p $(basename $(STREAM_GENERAL_MODEL))
	cp runs/en_small_stream/train_summary.json runs/en_small_stream/history.json runs/en_small_stream/*.png \
		runs/en_small_stream/recipe.json $(basename $(STREAM_GENERAL_MODEL))/
	$(BIN)/python benchmarks/en_small.py --model $(STREAM_GENERAL_MODEL) --lm-dir $(basename $(GENERAL_MODEL)) \
		--compare $(MODEL) --alphas 0.25,0.5,0.8 --betas=-1,0,1 \
		--init-summary $(basename $(CHAR_GENERAL_MODEL))/train_summary.json \
		--init-summary $(basename $(GENERAL_MODEL))/phone_stage/train_summary.json \
		--init-summary $(basename $(GENERAL_MODEL))/words_stage/train_summary.json \
		--init-summary $(basename $(GENERAL_MODEL))/train_summary.json
	$(BIN)/python benchmarks/streaming.py --model $(STREAM_GENERAL_MODEL) --offline $(GENERAL_MODEL) \
		--out results/en_small_stream_streaming.json

data/speechocean762/train_aligned.jsonl:
	$(BIN)/ctcasr data speechocean762 --out data $(MIRROR_ARG)
	$(BIN)/ctcasr align --model $(GENERAL_MODEL) --manifest data/speechocean762/train.jsonl --out $@

# AN4 first, then AN4 + speechocean762, against both at once: same network, same training audio (about 40 minutes).
bench-pretraining: install data/an4/train_aligned.jsonl data/speechocean762/train_aligned.jsonl
	$(BIN)/ctcasr data speechocean762 --out data $(MIRROR_ARG)
	$(BIN)/python benchmarks/pretraining.py

# Word times for AN4 train (the crops of the two-stage AN4 recipes), from en_small's forced alignment.
data/an4/train_aligned.jsonl:
	$(BIN)/ctcasr align --model $(GENERAL_MODEL) --manifest data/an4/train.jsonl --out $@

# A finished run's best-dev checkpoint (or $(3): last for the last epoch) shipped as $(2), its summary, history,
# curves and recipe beside it.
define ship_run
	cp $(1)/$(or $(3),best).pt $(2)
	mkdir -p $(basename $(2))
	cp $(1)/train_summary.json $(1)/history.json $(1)/*.png $(1)/recipe.json $(basename $(2))/
endef

# Train recipes/$(1).yaml, ship its best-dev epoch (or $(3), as ship_run) as $(2) with its run files, then run its
# tune-<name> target.
define train_and_ship
	$(BIN)/ctcasr train recipes/$(1).yaml
	$(call ship_run,runs/$(1),$(2),$(3))
	+$(MAKE) tune-$(subst _,-,$(1))
endef

# A character AN4 model's decoding file: beam 32 + the AN4-train 3-gram, alpha / beta tuned on AN4 dev; then AN4
# test once, greedy and with it (results/$(2)_test.json, results/$(2)_test_lm.json).
define tune_an4_chars
	$(BIN)/ctcasr tune-lm --model $(1) --manifest data/an4/dev.jsonl \
		--lm models/an4_ds2/an4_train_3gram.arpa --out $(basename $(1)).decoding.yaml \
		--beam 32 --alphas=0,0.25,0.5,0.75,1,1.25,1.5,2 --betas=-1,0,1,2,3,4,5
	$(BIN)/ctcasr evaluate --model $(1) --manifest data/an4/test.jsonl --decoder greedy --out results/$(2)_test.json
	$(BIN)/ctcasr evaluate --model $(1) --manifest data/an4/test.jsonl --out results/$(2)_test_lm.json
endef

# An AN4 model's decoding file: lexicon search + a 3-gram of AN4's training transcripts and their word runs
# (lm build --crops) beside the model, alpha / beta tuned on AN4 dev + the single words cut from it.
define tune_an4_crops
	$(BIN)/ctcasr lm build data/an4/train.jsonl --crops data/an4/train.jsonl \
		--out $(basename $(1))/an4_train_crops_3gram.arpa
	$(BIN)/python benchmarks/derived_sets.py --aligner $(MODEL) --dev data/an4/dev.jsonl --out runs/an4_derived
	$(BIN)/ctcasr tune-lm --model $(1) --manifest runs/an4_derived/an4_dev_and_words.jsonl \
		--lm $(basename $(1))/an4_train_crops_3gram.arpa --out $(basename $(1)).decoding.yaml \
		--beam 32 --alphas=0.25,0.5,0.75,1,1.5 --betas=-1,0,1,2,3
endef

# The streaming AN4 model in two runs (about 40 + 50 minutes on a 2-core CPU): unidirectional GRUs + look-ahead
# emitting characters (recipes/an4_stream.yaml), then its encoder fine-tuned to emit phones with a longer look-ahead,
# channel augmentation and word-aligned crops (recipes/an4_stream_phone.yaml; word times from en_small's alignment).
# The last epoch is shipped: its LM-decoded dev WER is lower than the greedy-best epoch's.
STREAM_MODEL ?= models/an4_stream.pt
train-an4-stream: install data/an4/train_aligned.jsonl
	$(BIN)/ctcasr train recipes/an4_stream.yaml
	mkdir -p $(basename $(STREAM_MODEL))/char_stage
	cp runs/an4_stream/train_summary.json runs/an4_stream/history.json runs/an4_stream/*.png \
		$(basename $(STREAM_MODEL))/char_stage/
	$(BIN)/ctcasr train recipes/an4_stream_phone.yaml
	cp runs/an4_stream_phone/last.pt $(STREAM_MODEL)
	cp runs/an4_stream_phone/train_summary.json runs/an4_stream_phone/history.json runs/an4_stream_phone/*.png \
		$(basename $(STREAM_MODEL))/

# Its decoding file: lexicon search + a 3-gram of AN4's training transcripts and their one-to-three-word runs
# (lm build --crops), alpha / beta tuned on AN4 dev + single words cut from it (the stream uses it too).
tune-an4-stream: install
	mkdir -p $(basename $(STREAM_MODEL))
	$(call tune_an4_crops,$(STREAM_MODEL))

# The accurate AN4 streaming model (about 40 minutes): an4_ds2 fine-tuned into latency-controlled bidirectional GRUs
# (320 ms chunks + 160 ms right context) with features that need no future (recipes/an4_chunked.yaml); the
# best-dev epoch is shipped. Its decoding file: beam 32 + the AN4-train 3-gram, alpha / beta tuned on AN4 dev (the
# tuning chose alpha 0: the n-gram's vocabulary and a word bonus, not its probabilities); then AN4 test once.
CHUNKED_MODEL ?= models/an4_chunked.pt
train-an4-chunked: install
	$(call train_and_ship,an4_chunked,$(CHUNKED_MODEL))

tune-an4-chunked: install
	$(call tune_an4_chars,$(CHUNKED_MODEL),an4_chunked)
	$(BIN)/python benchmarks/streaming.py --model $(CHUNKED_MODEL) --offline $(MODEL) \
		--out results/an4_chunked_streaming.json

# AN4 DeepSpeech2 at half the compute (about 50 minutes): recipes/an4_ds2.yaml with 30 ms output frames and a
# 5-frame time kernel in the second convolution, the same seed and epochs; the best-dev epoch is shipped. Decoding:
# beam 32 + the AN4-train 3-gram, alpha / beta tuned on AN4 dev; then AN4 test once, greedy and with the LM.
FAST_MODEL ?= models/an4_fast.pt
train-an4-fast: install
	$(call train_and_ship,an4_fast,$(FAST_MODEL))

tune-an4-fast: install
	$(call tune_an4_chars,$(FAST_MODEL),an4_fast)

# AN4 with LSTM layers (oneDNN's fused kernels): 2.7x the speed issue's training speed, 30 min here.
LSTM_MODEL ?= models/an4_lstm.pt
train-an4-lstm: install
	$(call train_and_ship,an4_lstm,$(LSTM_MODEL))

tune-an4-lstm: install
	$(call tune_an4_chars,$(LSTM_MODEL),an4_lstm)

# an4_lstm fine-tuned with channel augmentation and word-aligned crops (recipes/an4_lstm_words.yaml, 10 epochs,
# about 5 min; the last epoch is shipped, as for an4_phone), then its decoding file: beam 32 + the AN4-train 3-gram
# with word runs, alpha / beta tuned on AN4 dev + its single words; AN4 test once and the robustness sets.
LSTM_WORDS_MODEL ?= models/an4_lstm_words.pt
train-an4-lstm-words: install data/an4/train_aligned.jsonl
	$(call train_and_ship,an4_lstm_words,$(LSTM_WORDS_MODEL),last)

tune-an4-lstm-words: install
	$(call tune_an4_crops,$(LSTM_WORDS_MODEL))
	$(BIN)/ctcasr evaluate --model $(LSTM_WORDS_MODEL) --manifest data/an4/test.jsonl \
		--out results/an4_lstm_words_test_lm.json
	$(BIN)/ctcasr evaluate --model $(LSTM_WORDS_MODEL) --manifest data/an4/test.jsonl --decoder greedy \
		--out results/an4_lstm_words_test.json
	$(BIN)/python benchmarks/robustness.py --model $(LSTM_WORDS_MODEL) --model an4_lstm=$(LSTM_MODEL) \
		--model an4_phone=$(PHONE_MODEL) --out results/an4_lstm_words_robustness.json

# ONNX export: parity with PyTorch on AN4 test, onnxruntime vs PyTorch speed, the int8 model's size and WER.
bench-export: install
	$(BIN)/python benchmarks/export.py --model $(MODEL)

# Streaming vs offline WER, look-ahead, word delays, compute RTF per chunk (AN4 test).
bench-streaming: install
	$(BIN)/python benchmarks/streaming.py --model $(STREAM_MODEL) --offline $(MODEL)

# `ctcasr serve` under 16 and 64 concurrent clients and 8 real-time WebSocket streams.
bench-server: install
	$(BIN)/python benchmarks/server_load.py --model $(STREAM_MODEL)

# The shipped AN4 phone model in two runs: the phone model (60 min budget, measured in
# results/an4_deepspeech2_phone.json; its curves and summary go to models/an4_phone/base_stage/), then fine-tuned
# with channel augmentation and word-aligned crops (recipes/an4_phone_words.yaml, 30 min; the last epoch is
# shipped), then its decoding file (tune-an4-phone).
train-an4-phone: install data/an4/train_aligned.jsonl
	$(BIN)/python benchmarks/models.py deepspeech2_phone --train
	mkdir -p $(basename $(PHONE_MODEL))/base_stage
	cp runs/an4_ds2_phone/train_summary.json runs/an4_ds2_phone/history.json runs/an4_ds2_phone/*.png \
		$(basename $(PHONE_MODEL))/base_stage/
	$(BIN)/ctcasr train recipes/an4_phone_words.yaml
	$(call ship_run,runs/an4_phone_words,$(PHONE_MODEL),last)
	$(MAKE) tune-an4-phone

# Its decoding file: lexicon search + the AN4-train 3-gram with word runs, alpha / beta tuned on AN4 dev + its
# single words; then AN4 test once and the dev-derived robustness sets.
tune-an4-phone: install
	$(call tune_an4_crops,$(PHONE_MODEL))
	$(BIN)/ctcasr evaluate --model $(PHONE_MODEL) --manifest data/an4/test.jsonl --out results/an4_phone_test_lm.json
	$(BIN)/ctcasr evaluate --model $(PHONE_MODEL) --manifest data/an4/test.jsonl --decoder greedy \
		--out results/an4_phone_test.json
	$(BIN)/python benchmarks/robustness.py --model $(PHONE_MODEL) --out results/an4_phone_robustness.json

# Model families and units on AN4, each trained with the same wall-clock budget (<= 60 min; one or two per session,
# some two at a time with one thread each): results/an4_<arch>_<units>.json.
bench-models: install
	$(BIN)/python benchmarks/models.py quartznet_char conformer_char --train --together
	$(BIN)/python benchmarks/models.py deepspeech2_phone deepspeech2_bpe --train
	$(BIN)/python benchmarks/models.py deepspeech2_char
	$(BIN)/ctcasr report --results results --readme README.md

# Where the time goes: training phases, FLOPs vs the matmul peak, evaluate x real time, start-up.
bench-speed: install
	$(BIN)/python benchmarks/speed.py --recipes recipes/an4_ds2.yaml recipes/an4_fast.yaml recipes/an4_conformer.yaml \
		recipes/an4_lstm.yaml --models models/an4_ds2.pt models/an4_fast.pt models/an4_lstm.pt

# recipes/an4_fast.yaml at this commit vs recipes/an4_ds2.yaml at the commit the speed issue measured (7bbba6f),
# 1-epoch runs alternating; with the two shipped models' full-run dev WERs.
bench-train-speedup: install
	$(BIN)/python benchmarks/train_speedup.py --baseline 7bbba6f:recipes/an4_ds2.yaml --recipe recipes/an4_fast.yaml \
		--full-runs models/an4_ds2/train_summary.json models/an4_fast/train_summary.json

# One recipe's training throughput, peak memory and dev WER by thread / DDP / allocator setting, 1 epoch each.
bench-train-settings: install
	$(BIN)/python benchmarks/train_settings.py --recipe recipes/an4_ds2.yaml

# Default threads vs one thread for `evaluate`, on a quiet machine and beside a busy process.
bench-threads: install
	$(BIN)/python benchmarks/threads.py --model $(MODEL)
