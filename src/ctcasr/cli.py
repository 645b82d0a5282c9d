"""The `ctcasr` command: parse arguments, call one function, print. User errors become one line and exit 2."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from ctcasr.errors import UserError, one_line

DEFAULT_MIRROR_ENV = "CTCASR_MIRROR"


def cmd_data(args: argparse.Namespace) -> None:
    from ctcasr.data.corpora import prepare_corpus
    from ctcasr.data.manifest import read_manifest, summarize

    mirror = args.mirror or os.environ.get(DEFAULT_MIRROR_ENV)
    options: dict = {}
    if args.corpus == "custom":
        if not args.folder:
            raise UserError("ctcasr data custom needs the folder to read: ctcasr data custom DIR")
        options = {"folder": args.folder, "name": args.name, "allow_missing": args.allow_missing}
    elif args.folder:
        raise UserError(f"unexpected argument {args.folder!r} (only `custom` takes a folder)")
    elif args.corpus == "librispeech":
        options = {"parts": _split_list(args.parts), "merge": _split_list(args.merge or "")}
    manifests = prepare_corpus(args.corpus, args.out, mirror, **options)
    parts = [f"{split}: {summarize(read_manifest(path))}" for split, path in manifests.items()]
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

    report = evaluate_manifest(args.model, args.manifest, out=args.out, batch_seconds=args.batch_seconds,
                               device=args.device, command=shlex.join(["ctcasr", *sys.argv[1:]]),
                               decoding=_decoding(args))
    print(f"{args.manifest}: WER {report['wer']:.2f} %  CER {report['cer']:.2f} %  "
          f"({report['num_utterances']} utterances, {report['real_time_factor_inverse']:.0f}x real time)"
          + (f"; report {args.out}" if args.out else ""))


def _decoding(args: argparse.Namespace):
    from ctcasr.decoding import DecoderConfig

    return DecoderConfig(decoder=args.decoder, beam=args.beam, lm=args.lm, alpha=args.alpha, beta=args.beta)


def _decoder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=("greedy", "beam"), default="greedy",
                   help="greedy (best path) or beam (own CTC prefix beam search)")
    p.add_argument("--beam", type=int, default=10, help="beam width for --decoder beam")
    p.add_argument("--lm", help="word n-gram LM (ARPA, .arpa.gz or KenLM binary) fused into the beam search")
    p.add_argument("--alpha", type=float, default=0.5, help="LM weight")
    p.add_argument("--beta", type=float, default=1.0, help="word insertion bonus")


def cmd_score(args: argparse.Namespace) -> None:
    from ctcasr.evaluate import score_files

    report = score_files(args.ref, args.hyp, out=args.out)
    print(f"WER {report['wer']:.2f} %  CER {report['cer']:.2f} %  ({report['num_utterances']} utterances)")


def cmd_transcribe(args: argparse.Namespace) -> None:
    from ctcasr.transcribe import format_result, transcribe_paths

    results = transcribe_paths(args.model, args.paths, chunk_seconds=args.chunk_seconds, device=args.device,
                               decoding=_decoding(args))
    for result in results:
        print(format_result(result, args.format), flush=True)


def cmd_download(args: argparse.Namespace) -> None:
    from ctcasr.artifacts import describe, fetch_artifact, load_registry
    from ctcasr.data.download import file_digest

    if args.list or not args.name:
        print(describe(load_registry(args.registry)))
        return
    path = fetch_artifact(args.name, args.out, args.registry)
    print(f"{path}  sha256:{file_digest(path, 'sha256')}")


def cmd_report(args: argparse.Namespace) -> None:
    from ctcasr.report import update_readme

    update_readme(args.results, args.readme)
    print(f"results table in {args.readme} regenerated from {args.results}/*.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctcasr", description="CTC speech recognition toolkit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="download / take from a mirror, convert and write manifests for a corpus")
    p.add_argument("corpus", choices=("an4", "librispeech", "ljspeech", "custom"))
    p.add_argument("folder", nargs="?", help="custom only: DIR with audio/ and transcriptions/, or just audio")
    p.add_argument("--out", default="data", help="folder for prepared corpora (default: data)")
    p.add_argument("--parts", default="dev-clean,test-clean",
                   help="librispeech: comma-separated parts, e.g. train-clean-360,dev-clean,test-clean,test-other")
    p.add_argument("--merge", help="librispeech: also write merged manifests, e.g. train-960 or train-460")
    p.add_argument("--name", help="custom: manifest name (default: the folder's name)")
    p.add_argument("--allow-missing", action="store_true", help="custom: skip audio without a transcription")
    p.add_argument("--mirror", help=f"local folder holding the official archives (default: ${DEFAULT_MIRROR_ENV})")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train a model from a YAML recipe")
    p.add_argument("recipe", help="recipe YAML (recipes/*.yaml)")
    p.add_argument("overrides", nargs="*", help="recipe overrides: section.key=value")
    p.add_argument("--resume", action="store_true", help="continue the run in trainer.out_dir from its last epoch")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="WER / CER of a model on a manifest")
    p.add_argument("--model", required=True, help="ctcasr checkpoint (.pt)")
    p.add_argument("--manifest", required=True, help="JSONL manifest")
    p.add_argument("--out", help="write a JSON report here")
    p.add_argument("--batch-seconds", type=float, default=120.0, help="audio per batch")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    _decoder_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("score", help="WER / CER of a hypothesis file against a reference file (`id text` lines)")
    p.add_argument("ref")
    p.add_argument("hyp")
    p.add_argument("--out", help="write a JSON report here")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("transcribe", help="transcribe audio files or folders")
    p.add_argument("--model", required=True, help="ctcasr checkpoint (.pt)")
    p.add_argument("paths", nargs="+", help="audio files or folders")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--chunk-seconds", type=float, default=20.0, help="long files are decoded in chunks this long")
    p.add_argument("--device", default="auto")
    _decoder_options(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("download", help="fetch a registered artifact (model, LM); --list shows them")
    p.add_argument("name", nargs="?")
    p.add_argument("--list", action="store_true")
    p.add_argument("--out", default="artifacts", help="where downloads go (default: artifacts)")
    p.add_argument("--registry", help="another registry YAML (default: the one shipped with ctcasr)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("report", help="regenerate the README results table from results/*.json")
    p.add_argument("--results", default="results")
    p.add_argument("--readme", default="README.md")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
