"""The `ctcasr` command: parse arguments, call one function, print. User errors become one line and exit 2."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ctcasr import __version__
from ctcasr.data.corpora import CORPORA
from ctcasr.errors import UserError, one_line
from ctcasr.outputs import FORMATS

DEFAULT_MIRROR_ENV = "CTCASR_MIRROR"



def set_runtime_env(command: str) -> None:
    """Settings torch reads once when it loads, so they must be set before it is imported; a user's own wins.

    Inference: OpenMP threads waiting for work sleep instead of spinning, since on a busy 2-core machine spinning
    threads steal the cores that do the work (greedy evaluate beside one busy process: 32.9 s spinning, 3.8 s
    passive). Training keeps OpenMP's default (spin a while, then sleep): passive costs it 25 % of its speed on a
    quiet machine; its large blocks are 2 MiB-aligned and advised into transparent huge pages (torch's
    THP_MEM_ALLOC_ENABLE), which takes most of the page-fault cost out of `trainer.mmap_threshold_kb`
    (results/train_settings_an4_ds2.json). oneDNN keeps up to 1024 compiled primitives, each with its buffers, and
    every new batch shape adds some: 8 kept bound training's memory at the same speed (an4_lstm's peak RSS after
    4 epochs 984 vs 1356 MB at 100 vs 99 audio-s/s; an4_fast 784 vs 842 MB at 48 vs 47)."""
    if command == "train":
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cmd_data(args: argparse.Namespace) -> None:
    from ctcasr.data.corpora import prepare_corpus
    from ctcasr.data.manifest import read_manifest, summarize
    from ctcasr.files import check_output_dir

    mirror = args.mirror or os.environ.get(DEFAULT_MIRROR_ENV)
    options: dict = {}
    if args.corpus == "custom":
        if not args.folder:
            raise UserError("ctcasr data custom needs the folder to read: ctcasr data custom DIR")
        options = {"folder": args.folder, "name": args.name, "allow_missing": args.allow_missing,
                   "dev_fraction": args.dev_fraction}
    elif args.folder:
        raise UserError(f"unexpected argument {args.folder!r} (only `custom` takes a folder)")
    elif args.corpus == "librispeech":
        options = {"parts": _split_list(args.parts), "merge": _split_list(args.merge or "")}
    elif args.corpus == "libritts":
        options = {"parts": _split_list(args.parts)}
    check_output_dir(args.out)
    manifests = prepare_corpus(args.corpus, args.out, mirror, **options)
    parts = [f"{split}: {summarize(read_manifest(path))} -> {path}" for split, path in manifests.items()]
    print(f"{args.corpus} in {args.out} — " + "; ".join(parts))


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def cmd_train(args: argparse.Namespace) -> None:
    from ctcasr.config import load_recipe
    from ctcasr.training import train

    recipe = load_recipe(args.recipe, args.overrides)
    train(recipe, resume=args.resume, command=shlex.join(["ctcasr", *sys.argv[1:]]))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from ctcasr.evaluate import evaluate_manifest
    from ctcasr.recognizer import resolve_model

    report = evaluate_manifest(str(resolve_model(args.model)), args.manifest, out=args.out,
                               batch_seconds=args.batch_seconds, device=args.device, runtime=args.runtime,
                               command=shlex.join(["ctcasr", *sys.argv[1:]]), decoding=_decoding(args),
                               chunk_seconds=args.chunk_seconds)
    print(f"{args.manifest}: WER {report['wer']:.2f} %  CER {report['cer']:.2f} %  "
          f"({report['num_utterances']} utterances, {report['real_time_factor_inverse']:.0f}x real time)"
          + (f"; report {args.out}" if args.out else ""))


DECODING_FLAGS = ("decoder", "beam", "nbest", "lm", "alpha", "beta", "lexicon", "rescore_lm", "rescore_weight",
                  "hotwords", "hotword_boost")


def _decoding(args: argparse.Namespace):
    """Decoding settings: command-line flags over --decoding FILE over the model's own decoding file."""
    from ctcasr.recognizer import decoding_for, resolve_model

    flags = {name: getattr(args, name) for name in DECODING_FLAGS}
    return decoding_for(resolve_model(args.model), args.decoding, **flags)


def _runtime_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=("auto", "onnx", "torch"),
                   help="how a checkpoint runs on the CPU: auto (default; $CTCASR_RUNTIME overrides it) exports it "
                        "once to ONNX in ctcasr's cache and runs it with onnxruntime, which starts and runs faster "
                        "than PyTorch, or with PyTorch where it cannot; torch always uses PyTorch")


def _decoder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoding", help="decoding settings YAML (as `ctcasr tune-lm` writes); flags override it")
    p.add_argument("--decoder", choices=("greedy", "beam", "flashlight"),
                   help="greedy, beam (own CTC prefix beam search) or flashlight (flashlight-text); default: the "
                        "settings in MODEL.decoding.yaml beside the model when it has one (the shipped models: "
                        "beam search with their tuned LM), else greedy")
    p.add_argument("--beam", type=int, help="beam width (default 10)")
    p.add_argument("--nbest", type=int, help="hypotheses to keep per utterance (default 1)")
    p.add_argument("--lm", help="word n-gram LM (ARPA, .arpa.gz or KenLM binary) fused into the search")
    p.add_argument("--alpha", type=float, help="LM weight (default 0.5)")
    p.add_argument("--beta", type=float, help="word insertion bonus (default 1.0)")
    p.add_argument("--lexicon", action="store_true", default=None,
                   help="flashlight: only words of the LM's vocabulary")
    p.add_argument("--rescore-lm", help="second-pass LM that rescores the n-best list")
    p.add_argument("--rescore-weight", type=float, help="weight of the second-pass LM")
    p.add_argument("--hotwords", help="file of `word [boost]` lines the beam search favours (names, commands)")
    p.add_argument("--hotword-boost", type=float, help="boost in nats for lines without one (default 4)")


def cmd_align(args: argparse.Namespace) -> None:
    from ctcasr.recognizer import resolve_model
    from ctcasr.word_alignment import align_manifest

    print(align_manifest(str(resolve_model(args.model)), args.manifest, args.out, args.batch_seconds))


def cmd_average(args: argparse.Namespace) -> None:
    from ctcasr.averaging import average_checkpoints

    print(average_checkpoints(args.checkpoints, args.out, args.weights))


def _weights(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_score(args: argparse.Namespace) -> None:
    from ctcasr.evaluate import score_files

    report = score_files(args.ref, args.hyp, out=args.out)
    print(f"WER {report['wer']:.2f} %  CER {report['cer']:.2f} %  ({report['num_utterances']} utterances)")


def cmd_transcribe(args: argparse.Namespace) -> int:
    from ctcasr.acoustic import open_acoustic
    from ctcasr.recognizer import Recognizer, resolve_model
    from ctcasr.transcribe import transcribe_inputs

    decoding = _decoding(args)
    runtime = "torch" if args.stream else args.runtime  # streaming carries the network's state: PyTorch only
    recognizer = Recognizer(open_acoustic(resolve_model(args.model), args.device, runtime), decoding,
                            args.chunk_seconds)
    if args.stream:
        return _stream(recognizer, args)
    summary = transcribe_inputs(recognizer, args.paths, args.format, args.output_dir,
                                emit=lambda text: print(text, flush=True))
    if len(summary.failed) or summary.ok > 1:
        print(summary.line(), file=sys.stderr if summary.failed else sys.stdout if args.output_dir else sys.stderr)
    return 1 if summary.failed else 0


def _stream(recognizer, args: argparse.Namespace) -> int:
    """`transcribe --stream FILE`: partials as they change (rewritten in place on a terminal), finals per line."""
    import json

    from ctcasr.session import replay

    if len(args.paths) != 1 or args.paths[0] == "-" or args.output_dir:
        raise UserError("--stream replays one audio file (no folders, stdin or --output-dir)")
    tty = sys.stdout.isatty()

    def emit(event) -> None:
        if args.format == "json":
            print(json.dumps(event.to_dict()), flush=True)
        elif tty:
            end = "\n" if event.kind == "final" else ""
            print(f"\r\x1b[K{event.text}", end=end, flush=True)
        elif event.kind == "final":
            print(f"final\t{event.start:.2f}\t{event.end:.2f}\t{event.text}", flush=True)
        else:
            print(f"partial\t{event.end:.2f}\t{event.text}", flush=True)

    endpoint = args.endpoint_seconds if args.endpoint_seconds > 0 else None
    replay(recognizer, args.paths[0], not args.no_realtime, args.chunk_ms, endpoint, emit)
    return 0


def cmd_serve(args: argparse.Namespace) -> None:
    from ctcasr.recognizer import resolve_model
    from ctcasr.schema import build
    from ctcasr.server import ServerLimits, serve

    settings = {"max_upload_bytes": int(args.max_upload_mb * 2**20) if args.max_upload_mb > 0 else 0,
                "max_audio_seconds": args.max_audio_seconds, "max_concurrent": args.max_concurrent,
                "max_queue": args.max_queue, "max_streams": args.max_streams,
                "request_timeout": args.request_timeout, "idle_timeout": args.idle_timeout,
                "endpoint_seconds": args.endpoint_seconds,
                "api_key": args.api_key or os.environ.get("CTCASR_API_KEY") or None}
    limits = build(ServerLimits, settings, "", None, "server setting")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    serve(str(resolve_model(args.model)), args.host, args.port, limits, args.device, args.decoding)


def cmd_export(args: argparse.Namespace) -> None:
    from ctcasr.export import export_model
    from ctcasr.recognizer import resolve_model

    sidecar = export_model(resolve_model(args.model), args.format, args.out, args.quantize)
    size = (Path(args.out) / sidecar["file"]).stat().st_size / 2**20
    print(f"{args.out}: {sidecar['file']} ({sidecar['runtime']}{', int8' if args.quantize else ''}, {size:.1f} MB) "
          f"in {sidecar['export_seconds']:.1f} s; run it with --model {args.out}")


def cmd_download(args: argparse.Namespace) -> None:
    from ctcasr.artifacts import copy_model, describe, fetch_artifact, load_registry
    from ctcasr.data.download import file_digest

    if args.list or not args.name:
        print(describe(load_registry(args.registry)))
        return
    path = fetch_artifact(args.name, args.out or "artifacts", args.registry)
    if args.out and path.parent.resolve() != Path(args.out).resolve() and load_registry(args.registry)[
            args.name].local:
        path = copy_model(path, args.out)  # a shipped model: copied where it was asked for, with its LMs
    print(f"{path}  sha256:{file_digest(path, 'sha256')}")


def cmd_lm_build(args: argparse.Namespace) -> None:
    from ctcasr.decoding.lm_build import build_lm
    from ctcasr.recognizer import resolve_model
    from ctcasr.tune_lm import open_tokenizer
    from ctcasr.units.char import CharTokenizer

    if args.model and args.alphabet:
        raise UserError("--model and --alphabet both name the tokenizer; give one")
    tokenizer = open_tokenizer(resolve_model(args.model)) if args.model else CharTokenizer(args.alphabet) \
        if args.alphabet else None
    try:
        prune = tuple(int(p) for p in _split_list(args.prune or ""))
    except ValueError:
        raise UserError(f"--prune takes comma-separated whole numbers, e.g. 0,1,1; got {args.prune!r}") from None
    stats = build_lm(args.texts, args.out, order=args.order, prune=prune, tokenizer=tokenizer, crops=args.crops,
                     crop_words=args.crop_words)
    counts = " ".join(f"{n}-grams={c}" for n, c in stats.counts.items())
    print(f"{args.out}: {args.order}-gram Kneser-Ney LM of {stats.summary()}; {counts}")


def cmd_tokenizer_train(args: argparse.Namespace) -> None:
    from ctcasr.units.bpe import train_tokenizer_file

    tokenizer = train_tokenizer_file(args.texts, args.out, args.kind, args.vocab_size)
    print(f"{args.out}: {args.kind} units, {len(tokenizer) - 1} pieces (+ the CTC blank) from "
          f"{', '.join(args.texts)}")


def cmd_lm_train_neural(args: argparse.Namespace) -> None:
    from ctcasr.decoding.lm_build import read_text_lines
    from ctcasr.decoding.neural_lm import NeuralLMConfig, train_neural_lm
    from ctcasr.files import check_output_file

    check_output_file(args.out)
    sentences = [line for path in args.texts for line in read_text_lines(path) if line.strip()]
    if not sentences:
        raise UserError("the training text is empty", args.texts[0])
    config = NeuralLMConfig(embedding=args.embedding, hidden=args.hidden, layers=args.layers,
                            min_count=args.min_count)
    report = train_neural_lm(sentences, args.out, config, epochs=args.epochs, log=lambda m: print(m, flush=True))
    print(f"{args.out}: LSTM LM, {report['vocabulary']} words, dev perplexity {report['initial_dev_perplexity']:.1f}"
          f" -> {report['dev_perplexity']:.1f} ({report['train_sentences']} training sentences, "
          f"{report['train_s']:.0f} s)")


def cmd_lm_download(args: argparse.Namespace) -> None:
    from ctcasr.artifacts import describe, fetch_artifact, load_registry
    from ctcasr.data.download import file_digest

    lms = {name: a for name, a in load_registry(args.registry).items() if a.kind in ("lm", "text")}
    if not args.name:
        print(describe(lms))
        return
    if args.name not in lms:
        raise UserError(f"unknown language model {args.name!r}; known: {', '.join(lms)}")
    path = fetch_artifact(args.name, args.out, args.registry)
    print(f"{path}  sha256:{file_digest(path, 'sha256')}")


def cmd_tune_lm(args: argparse.Namespace) -> None:
    from ctcasr.tune_lm import parse_grid, tune_lm

    result = tune_lm(args.model, args.manifest, args.lm, args.out, parse_grid(args.alphas, "alphas"),
                     parse_grid(args.betas, "betas"), beam=args.beam, decoder=args.decoder,
                     rescore_lm=args.rescore_lm, rescore_weights=parse_grid(args.rescore_weights, "rescore-weights"),
                     cache_dir=args.cache_dir, device=args.device, command=shlex.join(["ctcasr", *sys.argv[1:]]))
    d = result["decoding"]
    rescore = f", rescore weight {d['rescore_weight']:g}" if d["rescore_lm"] else ""
    print(f"best on {args.manifest}: alpha {d['alpha']:g}, beta {d['beta']:g}{rescore}: WER {result['wer']:.2f} "
          f"(greedy {result['greedy_wer']:.2f}); settings in {args.out}")


def cmd_report(args: argparse.Namespace) -> None:
    from ctcasr.report import update_readme

    update_readme(args.results, args.readme)
    print(f"results table in {args.readme} regenerated from {args.results}/*.json")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with the project's error format: one `error:` line, exit code 2 (no usage block)."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ctcasr", description="CTC speech recognition toolkit")
    parser.add_argument("--version", action="version", version=f"ctcasr {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=_positive_int, default=None,
                        help="CPU threads for computation (default: all cores; waiting threads sleep, so a busy "
                             "machine is not slowed down)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", parents=[common],
                        help="download / take from a mirror, convert and write manifests for a corpus")
    p.add_argument("corpus", choices=CORPORA)
    p.add_argument("folder", nargs="?", help="custom only: DIR with audio/ and transcriptions/, or just audio")
    p.add_argument("--out", default="data", help="folder for prepared corpora (default: data)")
    p.add_argument("--parts", default="dev-clean,test-clean",
                   help="librispeech / libritts: comma-separated parts, e.g. train-clean-360,dev-clean,test-clean")
    p.add_argument("--merge", help="librispeech: also write merged manifests, e.g. train-960 or train-460")
    p.add_argument("--name", help="custom: manifest name (default: the folder's name)")
    p.add_argument("--allow-missing", action="store_true", help="custom: skip audio without a transcription")
    p.add_argument("--dev-fraction", type=float, default=0.0,
                   help="custom: hold out about this fraction as NAME-dev.jsonl, whole speakers when the files "
                        "are in per-speaker folders (default 0: one manifest)")
    p.add_argument("--mirror", help=f"local folder holding the official archives (default: ${DEFAULT_MIRROR_ENV})")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", parents=[common], help="train a model from a YAML recipe")
    p.add_argument("recipe", help="recipe YAML (recipes/*.yaml)")
    p.add_argument("overrides", nargs="*", help="recipe overrides: section.key=value")
    p.add_argument("--resume", action="store_true", help="continue the run in trainer.out_dir from its last epoch")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="WER / CER of a model on a manifest")
    p.add_argument("--model", required=True,
                   help="ctcasr checkpoint (.pt), exported model folder (ctcasr export) or a registered model name")
    p.add_argument("--manifest", required=True, help="JSONL manifest")
    p.add_argument("--out", help="write a JSON report here")
    p.add_argument("--batch-seconds", type=float, default=120.0, help="audio per batch (default: %(default)s)")
    p.add_argument("--chunk-seconds", type=float, default=20.0,
                   help="longer utterances are decoded in chunks cut at pauses, as transcribe does (default: "
                        "%(default)s)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: auto)")
    _runtime_option(p)
    _decoder_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("align", parents=[common],
                        help="word times by forced alignment: a copy of a manifest with each word's [start, end] "
                             "seconds (for augment.crop_prob)")
    p.add_argument("--model", required=True, help="ctcasr checkpoint (.pt) or a registered model name")
    p.add_argument("--manifest", required=True, help="JSONL manifest with transcripts")
    p.add_argument("--out", required=True, help="the aligned manifest to write")
    p.add_argument("--batch-seconds", type=float, default=100.0, help="audio per batch (default: %(default)s)")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("average", parents=[common],
                        help="the mean of checkpoints of one network (the last epochs of a run, two fine-tunes of "
                             "one model) as one checkpoint")
    p.add_argument("checkpoints", nargs="+", help="ctcasr checkpoints (.pt) of the same network and units")
    p.add_argument("--out", required=True, help="the averaged checkpoint to write")
    p.add_argument("--weights", type=_weights, help="comma-separated weights, one per checkpoint (default: equal)")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("score", parents=[common],
                        help="WER / CER of a hypothesis file against a reference file (`id text` lines)")
    p.add_argument("ref")
    p.add_argument("hyp")
    p.add_argument("--out", help="write a JSON report here")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("transcribe", parents=[common], help="transcribe audio files or folders")
    p.add_argument("--model", required=True,
                   help="ctcasr checkpoint (.pt), exported model folder (ctcasr export) or a registered model name")
    p.add_argument("paths", nargs="+", help="audio files, folders, or - for audio bytes on standard input")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text, json (words with times and confidence), srt / vtt subtitles, tsv word table "
                        "(default: text)")
    p.add_argument("--output-dir", help="write one file per input here (OUT/<name>.<format>) instead of printing")
    p.add_argument("--stream", action="store_true",
                   help="replay one file as a live stream through a streaming model, printing partial results")
    p.add_argument("--no-realtime", action="store_true", help="--stream: as fast as possible, not in real time")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="--stream: audio per piece (default: 100 ms)")
    p.add_argument("--endpoint-seconds", type=float, default=0.8,
                   help="--stream: a pause this long after words ends a segment (0: never; default 0.8)")
    p.add_argument("--chunk-seconds", type=float, default=20.0,
                   help="long files are decoded in chunks this long, cut at pauses (default: %(default)s)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: auto)")
    _runtime_option(p)
    _decoder_options(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("serve", parents=[common], help="HTTP + WebSocket server with a web page (FastAPI/uvicorn)")
    p.add_argument("--model", required=True, help="checkpoint, exported folder or registered model name")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default: 8000")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--decoding", help="decoding settings YAML (default: the model's own)")
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="larger uploads get 413 (default: 25)")
    p.add_argument("--max-audio-seconds", type=float, default=600.0, help="longer audio gets 413 (default: 600)")
    p.add_argument("--max-concurrent", type=int, default=2, help="recognitions at once (default: 2)")
    p.add_argument("--max-queue", type=int, default=16, help="requests waiting beyond those; more get 503 (16)")
    p.add_argument("--max-streams", type=int, default=16, help="open WebSocket streams (default: 16)")
    p.add_argument("--request-timeout", type=float, default=60.0, help="upload + recognition, seconds (60)")
    p.add_argument("--idle-timeout", type=float, default=10.0, help="a stream silent this long is closed (10)")
    p.add_argument("--endpoint-seconds", type=float, default=0.8, help="streams: pause ending a segment (0.8)")
    p.add_argument("--api-key", help="require this key (Authorization: Bearer, X-API-Key or ?api_key=); "
                                     "default: $CTCASR_API_KEY, else none")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", parents=[common],
                       help="write a model as ONNX or TorchScript into a folder that --model DIR runs")
    p.add_argument("--model", required=True, help="ctcasr checkpoint (.pt) or a registered model name")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default: onnx")
    p.add_argument("--out", required=True, help="the folder to write (model file, sidecar, decoding settings)")
    p.add_argument("--quantize", choices=("int8",), help="onnx: int8 weights (dynamic quantisation)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("download", parents=[common], help="fetch a registered artifact (model, LM); --list shows them")
    p.add_argument("name", nargs="?")
    p.add_argument("--list", action="store_true")
    p.add_argument("--out", help="where downloads go (default: artifacts); a shipped model is copied there with its "
                                  "decoding file and LMs (without --out its path in the installation is printed)")
    p.add_argument("--registry", help="another registry YAML (default: the one shipped with ctcasr)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("tokenizer", help="train subword units (sentencepiece) for `text.bpe_model`")
    tok_sub = p.add_subparsers(dest="tokenizer_command", required=True)
    q = tok_sub.add_parser("train", parents=[common], help="train a sentencepiece model on normalised text")
    q.add_argument("texts", nargs="+", help="text files: plain lines (.txt, .gz), manifests (.jsonl), LJSpeech .csv")
    q.add_argument("--kind", choices=("bpe", "unigram"), default="bpe", help="sentencepiece model type")
    q.add_argument("--vocab-size", type=_positive_int, default=128, help="pieces (default 128)")
    q.add_argument("--out", required=True, help="the .model file to write")
    q.set_defaults(func=cmd_tokenizer_train)

    p = sub.add_parser("lm", help="build (Kneser-Ney, KenLM lmplz) or download word n-gram language models")
    lm_sub = p.add_subparsers(dest="lm_command", required=True)
    q = lm_sub.add_parser("build", parents=[common],
                        help="estimate an n-gram LM from text with the tokenizer's normalisation")
    q.add_argument("texts", nargs="+", help="text files: plain lines (.txt, .gz), manifests (.jsonl), LJSpeech .csv;"
                                           " a folder stands for its .txt files")
    q.add_argument("--order", type=int, default=3, help="n-gram order (1-6, default 3)")
    q.add_argument("--out", required=True, help="lm.arpa, lm.arpa.gz, or lm.bin (KenLM binary)")
    q.add_argument("--prune", help="minimum counts per order, e.g. 0,1,1 drops singleton bigrams and trigrams")
    q.add_argument("--crops", action="append", default=[], metavar="TEXT",
                   help="also every run of 1 to --crop-words words of this text's sentences, each as a sentence: "
                        "the LM then expects single words and short phrases spoken alone, as a model trained with "
                        "augment.crop_prob does (repeatable)")
    q.add_argument("--crop-words", type=int, default=3, help="longest run --crops adds (default 3)")
    q.add_argument("--alphabet", default=None, help="the tokenizer's characters (default: lower-case a-z, space and "
                                                    "apostrophe)")
    q.add_argument("--model", default=None, help="keep the words this model can spell (subwords) or pronounce "
                                                 "(phones: its lexicon) instead of --alphabet")
    q.set_defaults(func=cmd_lm_build)
    q = lm_sub.add_parser("train-neural", parents=[common],
                        help="train a small word LSTM LM for n-best rescoring (--rescore-lm)")
    q.add_argument("texts", nargs="+", help="text files: plain lines (.txt, .gz), manifests (.jsonl), LJSpeech .csv")
    q.add_argument("--out", required=True, help="the neural LM file to write (lm.pt)")
    q.add_argument("--epochs", type=_positive_int, default=8, help="training epochs (default 8)")
    q.add_argument("--embedding", type=_positive_int, default=256, help="word embedding size (default 256)")
    q.add_argument("--hidden", type=_positive_int, default=256, help="LSTM size (default 256)")
    q.add_argument("--layers", type=_positive_int, default=1, help="LSTM layers (default 1)")
    q.add_argument("--min-count", type=_positive_int, default=1, help="rarer words become <unk> (default 1)")
    q.set_defaults(func=cmd_lm_train_neural)
    q = lm_sub.add_parser("download", parents=[common], help="fetch an OpenSLR-11 LibriSpeech LM (no NAME: list them)")
    q.add_argument("name", nargs="?")
    q.add_argument("--out", default="artifacts", help="where downloads go (default: artifacts)")
    q.add_argument("--registry", help="another registry YAML (default: the one shipped with ctcasr)")
    q.set_defaults(func=cmd_lm_download)

    p = sub.add_parser("tune-lm", parents=[common],
                        help="choose the LM weight and word bonus on a dev set; write decoding settings")
    p.add_argument("--model", required=True, help="ctcasr checkpoint (.pt)")
    p.add_argument("--manifest", required=True, help="dev manifest (never the test set)")
    p.add_argument("--lm", required=True, help="word n-gram LM")
    p.add_argument("--out", required=True, help="decoding settings YAML to write (MODEL_STEM.decoding.yaml beside "
                                                "the model makes it transcribe's default)")
    p.add_argument("--decoder", choices=("beam", "flashlight"), default="beam")
    p.add_argument("--beam", type=int, default=32)
    p.add_argument("--alphas", default="0,0.25,0.5,0.75,1,1.25,1.5,2", help="comma-separated LM weights to try")
    p.add_argument("--betas", default="-1,0,1,2,3", help="comma-separated word bonuses to try")
    p.add_argument("--rescore-lm", help="also tune a second-pass n-best rescoring LM")
    p.add_argument("--rescore-weights", default="0,0.25,0.5,0.75,1", help="rescoring weights to try")
    p.add_argument("--cache-dir", help="where log-probs are cached (default: ~/.cache/ctcasr/log_probs)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_tune_lm)

    p = sub.add_parser("report", parents=[common], help="regenerate the README results table from results/*.json")
    p.add_argument("--results", default="results")
    p.add_argument("--readme", default="README.md")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "train" and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides += extra  # overrides may come after --resume too
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    set_runtime_env(args.command)
    if getattr(args, "threads", None):  # before torch is imported: it reads these once
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
        if "torch" in sys.modules:  # main() called from a process that has torch loaded already
            sys.modules["torch"].set_num_threads(args.threads)
    try:
        code = args.func(args)
    except UserError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ctcasr ... | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
