"""A corpus of hostile inputs, each through the real `ctcasr` command in a subprocess.

Every case must end with exit code 2 and exactly one `error: ...` line that names the file or key (no traceback,
no hang: each run has a time limit), and nothing may be written outside the output folder. The cases run two at
a time (the machine has two cores); `test_corpus_size` keeps the count honest.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import assert_user_error, run_cli

SR = 16000
CASES: list[tuple[str, list, list[str]]] = []  # (name, argv, fragments the error line must contain)


def case(name: str, argv: list, *fragments: str) -> None:
    CASES.append((name, argv, list(fragments)))


class Evil:
    """A pickle that would run a command when unpickled without `weights_only`."""

    def __reduce__(self):
        return os.system, ("touch /tmp/ctcasr-pwned",)


def wav_header(rate: int, channels: int, data_bytes: int, bits: int = 16) -> bytes:
    import struct

    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels,
            rate, rate * block, block, bits) + b"data" + struct.pack("<I", data_bytes))


def build_corpus(root: Path, model: Path, an4: dict) -> None:  # noqa: PLR0915 - a flat list of cases
    """Write the hostile files under `root` and register the cases."""
    a, m = root / "audio", root / "manifests"
    for folder in (a, m, root / "ckpt", root / "lm", root / "dec", root / "rec", root / "reg", root / "arc"):
        folder.mkdir(parents=True)
    t = np.arange(SR, dtype=np.float32) / SR
    good = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(a / "ok.wav", good, SR)
    sf.write(a / "ok.flac", good, SR)
    flac = (a / "ok.flac").read_bytes()
    wav = (a / "ok.wav").read_bytes()
    audio = {
        "trunc.wav": (wav[: len(wav) // 2], "truncated"),
        "trunc.flac": (flac[: len(flac) // 2], "trunc.flac"),
        "corrupt.flac": (bytes(b ^ 0xFF if i > 100 and i % 7 == 0 else b for i, b in enumerate(flac)), "corrupt"),
        "zero.wav": (b"", "zero.wav"),
        "random.wav": (np.random.default_rng(0).bytes(5000), "random.wav"),
        "text.wav": (b"this is not audio\n" * 50, "text.wav"),
        "html.mp3": (b"<html><body>404</body></html>", "html.mp3"),
        "garbage.ogg": (b"OggS" + bytes(200), "garbage.ogg"),
        "header_only.wav": (wav_header(SR, 1, 0), "header_only.wav"),
        "lying_header.wav": (wav_header(SR, 1, 10_000_000) + bytes(3200), "truncated"),
        "rate0.wav": (wav_header(0, 1, 3200) + bytes(3200), "rate0.wav"),
        "channels0.wav": (wav_header(SR, 0, 3200) + bytes(3200), "channels0.wav"),
        "riff_only.wav": (b"RIFF", "riff_only.wav"),
    }
    for name, (data, _) in audio.items():
        (a / name).write_bytes(data)
    sf.write(a / "nan.wav", np.where(np.arange(SR) % 50 == 0, np.nan, good).astype(np.float32), SR, subtype="FLOAT")
    sf.write(a / "inf.wav", np.where(np.arange(SR) % 50 == 0, np.inf, good).astype(np.float32), SR, subtype="FLOAT")
    sf.write(a / "huge.wav", good * 1e30, SR, subtype="FLOAT")
    sf.write(a / "empty.wav", np.zeros(0, np.float32), SR)
    audio.update({"nan.wav": (None, "NaN"), "inf.wav": (None, "NaN or infinite"), "huge.wav": (None, "full scale"),
                  "empty.wav": (None, "empty")})
    os.mkfifo(a / "fifo.wav")
    audio["fifo.wav"] = (None, "not a regular file")
    (a / "folder.wav").mkdir()
    audio["missing.wav"] = (None, "does not exist")
    for name, (_, fragment) in audio.items():
        case(f"transcribe {name}", ["transcribe", "--model", model, "--decoder", "greedy", a / name], name, fragment)
    for name in ("trunc.wav", "corrupt.flac", "nan.wav", "huge.wav", "random.wav", "fifo.wav", "lying_header.wav"):
        manifest = m / f"audio_{name}.jsonl"
        manifest.write_text(json.dumps({"audio_filepath": str(a / name), "duration": 1.0, "text": "yes"}) + "\n")
        case(f"evaluate {name}", ["evaluate", "--model", model, "--manifest", manifest, "--decoder", "greedy"], name)
    case("transcribe empty folder", ["transcribe", "--model", model, a / "folder.wav"], "folder.wav")

    # manifests
    row = {"audio_filepath": str(an4["test"][0]), "duration": 1.0, "text": "yes"}
    manifests = {
        "nested": ("[" * 100000 + "]" * 100000, "nested"),
        "negative": (json.dumps({**row, "duration": -5}), "positive"),
        "zero_duration": (json.dumps({**row, "duration": 0}), "positive"),
        "nan_duration": (json.dumps({**row, "duration": float("nan")}), "positive"),
        "inf_duration": ('{"audio_filepath": "a.wav", "duration": 1e400, "text": "a"}', "positive"),
        "string_duration": (json.dumps({**row, "duration": "long"}), "not a number"),
        "bool_duration": (json.dumps({**row, "duration": True}), "not a number"),
        "missing_keys": (json.dumps({"audio_filepath": "a.wav"}), "needs the keys"),
        "list_row": ("[1, 2, 3]", "needs the keys"),
        "string_row": ('"just a string"', "needs the keys"),
        "bad_json": ('{"audio_filepath": ', "not valid JSON"),
        "text_number": (json.dumps({**row, "text": 42}), "text must be a string"),
        "path_list": (json.dumps({**row, "audio_filepath": ["a", "b"]}), "audio_filepath must be a string"),
        "path_empty": (json.dumps({**row, "audio_filepath": ""}), "audio_filepath is empty"),
        "missing_audio": (json.dumps({**row, "audio_filepath": str(root / "gone.flac")}), "does not exist"),
        "empty_text": (json.dumps({**row, "text": "  "}), "empty text"),
        "oov_text": (json.dumps({**row, "text": "room 101"}), "outside the vocabulary"),
        "blank_lines": ("\n\n  \n", "no utterances"),
        "empty_file": ("", "no utterances"),
        "trailing_garbage": (json.dumps(row) + " xyz", "not valid JSON"),
    }
    for name, (text, fragment) in manifests.items():
        (m / f"{name}.jsonl").write_text(text + "\n")
        named = "gone.flac" if name == "missing_audio" else f"{name}.jsonl"  # the file that is wrong is named
        case(f"manifest {name}", ["evaluate", "--model", model, "--manifest", m / f"{name}.jsonl", "--decoder",
                                  "greedy"], named, fragment)
    (m / "latin1.jsonl").write_bytes(json.dumps(row).encode() + b"\n\xe9t\xe9\n")
    case("manifest latin1", ["evaluate", "--model", model, "--manifest", m / "latin1.jsonl"], "latin1.jsonl:2",
         "UTF-8")
    case("manifest missing", ["evaluate", "--model", model, "--manifest", m / "nope.jsonl"], "nope.jsonl")
    case("manifest is a folder", ["evaluate", "--model", model, "--manifest", m], str(m))

    # recipes and overrides
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "an4_ds2.yaml"
    run = ["data.corpus=null", f"data.train_manifest={an4['dev_manifest']}", f"data.dev_manifest={an4['dev_manifest']}",
           f"trainer.out_dir={root / 'run'}"]
    overrides = {
        "optim.lr=abc": "optim.lr", "trainer.epochs=abc": "trainer.epochs", "model.rnn_hidden=abc": "rnn_hidden",
        "optim.lr=-0.001": "optim.lr", "optim.lr=.nan": "optim.lr", "optim.lr=.inf": "optim.lr",
        "trainer.threads=-4": "trainer.threads", "trainer.devices=abc": "trainer.devices",
        "trainer.precision=bogus": "trainer.precision", "data.num_workers=-1": "data.num_workers",
        "trainer.epochs=[1,": "trainer.epochs", "trainer.epochs=0": "trainer.epochs",
        "trainer.epochs=2.5": "trainer.epochs", "optim.betas=[0.9]": "optim.betas",
        "optim.betas=[0.9,1.5]": "optim.betas", "optim.warmup_fraction=1.5": "warmup_fraction",
        "augment.speeds=[1.2,0.8]": "augment.speeds", "augment.speeds=[-1,1]": "augment.speeds",
        "augment.speed_prob=2": "speed_prob", "augment.noise_colors=[purple]": "noise_colors",
        "augment.codecs=[mp3]": "codecs", "augment.spec_augment=5": "spec_augment",
        "augment.spec_augment.freq_masks=-1": "freq_masks", "features.n_mels=0": "n_mels",
        "features.sample_rate=abc": "sample_rate", "features.normalize=global": "normalize",
        "model.rnn_type=transformer": "rnn_type", "model.conv_strides=[[2]]": "conv_strides",
        "model.conv_kernels=[[0,0],[1,1]]": "conv_kernels", "model.preset=huge": "huge", "model.arch=vit": "vit",
        "model.dropout=1.5": "dropout", "model.nosuch=1": "nosuch", "data.batch_seconds=0": "batch_seconds",
        "data.max_duration=-1": "max_duration", "data.train_weights=[1,2,3]": "train_weights",
        "data.train_weights=[-1]": "train_weights", "data.dev_manifest=": "dev_manifest",
        "data.dev_manifest=/no/such.jsonl": "such.jsonl", "data.train_manifest=[]": "train_manifest",
        "text.oov=ignore": "text.oov", "text.alphabet=aa": "repeated", "trainer.nosuch=1": "trainer.nosuch",
        "nosuch.key=1": "nosuch", "trainer=5": "trainer", "=5": "dotted key", "trainer..epochs=1": "dotted key",
        "trainer.loggers=[mlflow]": "loggers", "trainer.init_from=/no/such.pt": "such.pt",
        "trainer.limit_dev_batches=0": "limit_dev_batches",
    }
    for override, fragment in overrides.items():
        case(f"override {override}", ["train", recipe, *run, override], fragment)
    recipes = {"list.yaml": ("- a\n- b\n", "mapping"), "scalar.yaml": ("42\n", "mapping"),
               "bad.yaml": ("data: [\n", "not valid YAML"), "section.yaml": ("data: 5\n", "data"),
               "tabs.yaml": ("data:\n\t train: x\n", "not valid YAML")}
    for name, (text, fragment) in recipes.items():
        (root / "rec" / name).write_text(text)
        case(f"recipe {name}", ["train", root / "rec" / name], name, fragment)
    (root / "rec" / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    case("recipe latin1", ["train", root / "rec" / "latin1.yaml"], "latin1.yaml")
    case("recipe missing", ["train", root / "rec" / "none.yaml"], "none.yaml")
    case("resume without a run", ["train", recipe, *run, "--resume"], "nothing to resume")

    # checkpoints
    c = root / "ckpt"
    good_ckpt = torch.load(model, weights_only=True)
    ckpts = {
        "zero.pt": b"", "text.pt": b"not a checkpoint", "random.pt": np.random.default_rng(1).bytes(4000),
        "zip.pt": b"PK\x03\x04" + bytes(100),
    }
    for name, data in ckpts.items():
        (c / name).write_bytes(data)
    buffer = io.BytesIO()
    pickle.dump(Evil(), buffer)
    (c / "evil.pkl.pt").write_bytes(buffer.getvalue())
    torch.save({"format": "ctcasr-checkpoint", "version": 1, "payload": Evil()}, c / "evil.pt")
    torch.save([1, 2, 3], c / "list.pt")
    torch.save({"hello": 1}, c / "nomarker.pt")
    variants = {
        "no_state.pt": {k: v for k, v in good_ckpt.items() if k != "state_dict"},
        "no_arch.pt": {k: v for k, v in good_ckpt.items() if k != "arch"},
        "str_version.pt": {**good_ckpt, "version": "1"},
        "future.pt": {**good_ckpt, "version": 99},
        "arch.pt": {**good_ckpt, "arch": "wav2vec"},
        "feature_key.pt": {**good_ckpt, "features": {**good_ckpt["features"], "bogus": 1}},
        "feature_value.pt": {**good_ckpt, "features": {**good_ckpt["features"], "n_mels": -3}},
        "tok_kind.pt": {**good_ckpt, "tokenizer": {"kind": "wordpiece"}},
        "tok_size.pt": {**good_ckpt, "tokenizer": {"kind": "char", "alphabet": "abc"}},
        "tok_type.pt": {**good_ckpt, "tokenizer": {"kind": "char", "alphabet": 5}},
        "model_key.pt": {**good_ckpt, "model": {**good_ckpt["model"], "layers": 3}},
        "model_size.pt": {**good_ckpt, "model": {**good_ckpt["model"], "rnn_hidden": 17}},
        "state_junk.pt": {**good_ckpt, "state_dict": {"x": torch.zeros(1)}},
    }
    for name, data in variants.items():
        torch.save(data, c / name)
    for path in sorted(c.iterdir()):
        case(f"checkpoint {path.name}", ["evaluate", "--model", path, "--manifest", an4["dev_manifest"], "--decoder",
                                         "greedy"], path.name)
    case("transcribe checkpoint evil", ["transcribe", "--model", c / "evil.pt", a / "ok.wav"], "evil.pt")
    case("checkpoint missing", ["transcribe", "--model", c / "none.pt", a / "ok.wav"], "none.pt")

    # language models and decoding settings
    lm = root / "lm"
    lms = {"empty.arpa": b"", "header.arpa": b"\\data\\\nngram 1=5\n", "text.arpa": b"hello world\n",
           "binary.arpa": np.random.default_rng(2).bytes(3000), "digits.arpa":
           b"\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t<s>\n-1.0\t123\n-1.0\t</s>\n\n\\end\\\n"}
    for name, data in lms.items():
        (lm / name).write_bytes(data)
        case(f"lm {name}", ["evaluate", "--model", model, "--manifest", an4["dev_manifest"], "--lm", lm / name],
             name)
    with gzip.open(lm / "junk.arpa.gz", "wb") as f:
        f.write(b"junk")
    case("lm junk.arpa.gz", ["evaluate", "--model", model, "--manifest", an4["dev_manifest"], "--lm",
                             lm / "junk.arpa.gz"], "junk.arpa.gz")
    case("lm missing", ["evaluate", "--model", model, "--manifest", an4["dev_manifest"], "--lm", lm / "no.arpa"],
         "no.arpa")
    case("rescore lm text", ["evaluate", "--model", model, "--manifest", an4["dev_manifest"], "--decoder", "beam",
                             "--rescore-lm", lm / "text.arpa"], "text.arpa")
    d = root / "dec"
    decodings = {"nan_alpha": "decoding: {decoder: beam, alpha: .nan}", "str_alpha": "decoding: {alpha: strong}",
                 "list_lm": "decoding: {lm: [a, b]}", "blank_skip": "decoding: {blank_skip: -1}",
                 "unk": "decoding: {unk_penalty: lots}", "unknown_key": "decoding: {alpah: 1}",
                 "not_mapping": "decoding: 5", "no_section": "alpha: 1", "list": "- 1", "beam0": "decoding: {beam: 0}",
                 "nbest": "decoding: {decoder: beam, beam: 2, nbest: 5}", "decoder": "decoding: {decoder: viterbi}",
                 "lexicon": "decoding: {decoder: flashlight, lexicon: true}", "cum": "decoding: {token_cum_prob: 2}",
                 "inf_beta": "decoding: {beta: .inf}", "bad_yaml": "decoding: {", "topk": "decoding: {token_topk: 0}"}
    for name, text in decodings.items():
        (d / f"{name}.yaml").write_text(text + "\n")
        case(f"decoding {name}", ["evaluate", "--model", model, "--manifest", an4["dev_manifest"], "--decoding",
                                  d / f"{name}.yaml"], f"{name}.yaml")
    case("decoding missing", ["transcribe", "--model", model, "--decoding", d / "none.yaml", a / "ok.wav"],
         "none.yaml")

    # command-line values
    ev = ["evaluate", "--model", model, "--manifest", an4["dev_manifest"]]
    flags = {("--alpha", "nan"): "alpha", ("--beta", "inf"): "beta", ("--beam", "-1"): "beam",
             ("--nbest", "0"): "nbest", ("--device", "cuda"): "CUDA", ("--device", "bogus"): "bogus",
             ("--device", "cuda:7"): "cuda:7", ("--device", "mps"): "mps", ("--chunk-seconds", "nan"): "chunk",
             ("--chunk-seconds", "inf"): "chunk", ("--chunk-seconds", "0"): "chunk",
             ("--batch-seconds", "0"): "batch", ("--batch-seconds", "nan"): "batch", ("--threads", "0"): "threads",
             ("--threads", "abc"): "threads", ("--decoder", "viterbi"): "decoder", ("--beam", "x"): "beam"}
    for (flag, value), fragment in flags.items():
        case(f"flag {flag} {value}", [*ev, flag, value, "--decoder" if flag != "--decoder" else "--beam",
                                      "beam" if flag != "--decoder" else "3"], fragment)
    case("lexicon without lm", [*ev, "--decoder", "flashlight", "--lexicon"], "lexicon")
    case("lm with greedy", [*ev, "--decoder", "greedy", "--lm", lm / "text.arpa"], "beam")
    tune = ["tune-lm", "--model", model, "--manifest", an4["dev_manifest"], "--lm", lm / "text.arpa", "--out",
            root / "t.yaml"]
    for flag, value in (("--alphas", "nan"), ("--alphas", "a,b"), ("--alphas", ""), ("--betas", "inf"),
                        ("--rescore-weights", "x")):
        case(f"tune-lm {flag} {value!r}", [*tune, f"{flag}={value}"], flag)
    case("tune-lm out is a folder", [*tune[:-1], root], "folder")
    text = root / "lm" / "corpus.txt"
    text.write_text("a b c\n")
    for prune, fragment in (("abc", "--prune"), ("1,0", "--prune"), ("0,2,1", "--prune")):
        case(f"lm build --prune {prune}", ["lm", "build", text, "--out", root / "o.arpa", "--prune", prune], fragment)
    case("lm build order", ["lm", "build", text, "--out", root / "o.arpa", "--order", "9"], "order")
    case("lm build missing text", ["lm", "build", root / "none.txt", "--out", root / "o.arpa"], "none.txt")
    case("lm build out folder", ["lm", "build", text, "--out", root], "folder")
    case("lm build empty folder", ["lm", "build", a / "folder.wav", "--out", root / "o.arpa"], "folder.wav")
    (root / "lm" / "latin1.txt").write_bytes(b"caf\xe9\n")
    case("lm build latin1", ["lm", "build", root / "lm" / "latin1.txt", "--out", root / "o.arpa"], "latin1.txt")
    case("train-neural epochs", ["lm", "train-neural", text, "--out", root / "n.pt", "--epochs", "0"], "epochs")
    case("train-neural empty", ["lm", "train-neural", root / "lm" / "empty.arpa", "--out", root / "n.pt"], "empty")
    case("score missing", ["score", root / "none.txt", text], "none.txt")
    case("score latin1", ["score", text, root / "lm" / "latin1.txt"], "latin1.txt")
    case("score out folder", ["score", text, text, "--out", root], "folder")

    # output paths
    (root / "afile").write_text("x")
    case("evaluate out folder", [*ev, "--decoder", "greedy", "--out", root], "folder")
    case("evaluate out under a file", [*ev, "--decoder", "greedy", "--out", root / "afile" / "r.json"], "afile")
    case("data out is a file", ["data", "an4", "--out", root / "afile"], "afile")

    # data: custom folders, names, archives
    custom = root / "custom"
    (custom / "audio").mkdir(parents=True)
    (custom / "transcriptions").mkdir()
    sf.write(custom / "audio" / "x.wav", good, SR)
    (custom / "transcriptions" / "x.txt").write_bytes(b"caf\xe9")
    for name in ("../../escape", "/abs", "a/b", "..", ".hidden", ""):
        case(f"custom --name {name!r}", ["data", "custom", custom, "--out", root / "d", "--name", name], "--name")
    case("custom latin1 transcript", ["data", "custom", custom, "--out", root / "d", "--name", "ok"], "x.txt")
    case("custom dev fraction", ["data", "custom", a / "folder.wav", "--out", root / "d", "--dev-fraction", "0.9"],
         "dev-fraction")
    case("custom not a folder", ["data", "custom", a / "ok.wav", "--out", root / "d"], "ok.wav")
    arc = root / "arc"
    for name, member in (("dev-clean.tar.gz", "../../escaped.txt"), ("test-clean.tar.gz", "/etc/evil.txt")):
        mirror = arc / name.split(".")[0]
        mirror.mkdir()
        with tarfile.open(mirror / name, "w:gz") as tar:
            info = tarfile.TarInfo(member)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        import hashlib

        digest = hashlib.md5((mirror / name).read_bytes()).hexdigest()
        (mirror / "MD5SUMS").write_text(f"{digest}  {name}\n")
        case(f"archive {member}", ["data", "librispeech", "--parts", name.split(".")[0], "--out", root / "d",
                                   "--mirror", mirror], name)
    link_mirror = arc / "link"
    link_mirror.mkdir()
    with tarfile.open(link_mirror / "dev-clean.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("LibriSpeech/dev-clean/x")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
        dev = tarfile.TarInfo("LibriSpeech/dev-clean/null")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
        tar.addfile(dev)
    import hashlib

    digest = hashlib.md5((link_mirror / "dev-clean.tar.gz").read_bytes()).hexdigest()
    (link_mirror / "MD5SUMS").write_text(f"{digest}  dev-clean.tar.gz\n")
    case("archive links and devices", ["data", "librispeech", "--parts", "dev-clean", "--out", root / "d",
                                       "--mirror", link_mirror], "dev-clean.tar.gz")
    bad_sums = arc / "sums"
    bad_sums.mkdir()
    (bad_sums / "dev-clean.tar.gz").write_bytes(b"x")
    (bad_sums / "MD5SUMS").write_bytes(b"\xff\xfe  dev-clean.tar.gz\n")
    case("mirror MD5SUMS latin1", ["data", "librispeech", "--parts", "dev-clean", "--out", root / "d", "--mirror",
                                   bad_sums], "MD5SUMS")
    trunc = arc / "trunc"
    trunc.mkdir()
    (trunc / "dev-clean.tar.gz").write_bytes(gzip.compress(b"x" * 1000)[:50])
    digest = hashlib.md5((trunc / "dev-clean.tar.gz").read_bytes()).hexdigest()
    (trunc / "MD5SUMS").write_text(f"{digest}  dev-clean.tar.gz\n")
    case("archive truncated", ["data", "librispeech", "--parts", "dev-clean", "--out", root / "d", "--mirror", trunc],
         "dev-clean.tar.gz")

    # registries
    reg = root / "reg"
    registries = {"list.yaml": "- a\n- b\n", "relative.yaml": "m: {kind: model, description: d, url: models/x.pt}\n",
                  "listurl.yaml": "m: {kind: model, description: d, url: [a, b]}\n",
                  "neither.yaml": "m: {kind: model, description: d}\n", "nokind.yaml": "m: {description: d, url: x}\n",
                  "scalar_entry.yaml": "m: 5\n", "bad.yaml": "m: {\n", "size.yaml":
                  "m: {kind: model, description: d, url: 'https://x/y', size: -1}\n"}
    for name, text in registries.items():
        (reg / name).write_text(text)
        case(f"registry {name}", ["download", "--list", "--registry", reg / name], name)
    case("download unknown", ["download", "no-such-model"], "no-such-model")


@pytest.fixture(scope="module")
def results(tmp_path_factory, small_checkpoint, an4_items):
    from ctcasr.data.manifest import write_manifest

    root = tmp_path_factory.mktemp("hostile")
    dev = root / "dev.jsonl"
    write_manifest(dev, an4_items["dev"][:2], relative=False)
    CASES.clear()
    build_corpus(root, small_checkpoint, {"dev_manifest": dev, "test": [an4_items["test"][0].audio_filepath]})
    before = set(Path("/tmp").iterdir())
    cwd = root / "cwd"
    cwd.mkdir()

    def run(entry):
        name, argv, _ = entry
        try:
            return name, run_cli(*argv, cwd=cwd, timeout=120)
        except Exception as exc:  # noqa: BLE001 - a hang is reported as the failure of that case
            return name, exc

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        out = dict(pool.map(run, CASES))
    out["_new_tmp"] = set(Path("/tmp").iterdir()) - before
    out["_root"] = root
    return out


def test_every_hostile_input_is_one_clean_error(results):
    failures = []
    for name, _, fragments in CASES:
        result = results[name]
        if isinstance(result, Exception):
            failures.append(f"{name}: {result!r}")
            continue
        try:
            assert_user_error(result, *fragments)
        except AssertionError as exc:
            failures.append(f"{name}: {' '.join(str(exc).split())[:300]}")
    assert not failures, f"{len(failures)} of {len(CASES)} cases:\n" + "\n".join(failures)


def test_corpus_size(results):
    names = [n for n, _, _ in CASES]
    assert len(set(names)) == len(names)
    assert len(CASES) >= 150, len(CASES)


def test_nothing_escaped_or_ran(results):
    assert not Path("/tmp/ctcasr-pwned").exists(), "an unpickled payload ran"
    root = results["_root"]
    assert not (root.parent / "escaped.txt").exists() and not Path("/etc/evil.txt").exists()
    assert not any(p.name == "escape.jsonl" for p in root.parent.rglob("*.jsonl"))
    assert not list((root / "cwd").iterdir()), "a command wrote into its working folder"
