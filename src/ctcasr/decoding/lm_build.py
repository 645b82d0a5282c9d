"""Build word n-gram language models: text -> the tokenizer's normalisation -> KenLM `lmplz` (modified Kneser-Ney).

`lmplz` and `build_binary` are built from KenLM's own source release by `scripts/build_kenlm_tools.sh`
(`make install` does it); they are looked for in $CTCASR_KENLM_BIN, beside the running Python, then on PATH.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ctcasr.errors import UserError
from ctcasr.files import atomic_path, check_output_file
from ctcasr.text import normalise


@dataclass
class TextStats:
    sentences: int = 0
    words: int = 0
    dropped_words: int = 0  # words the tokenizer cannot spell or pronounce (KenLM's lmplz takes no <unk> in text)
    dropped_examples: Counter = field(default_factory=Counter)
    vocabulary: set = field(default_factory=set)
    counts: dict = field(default_factory=dict)  # n -> number of n-grams in the built model

    def summary(self) -> str:
        text = f"{self.sentences} sentences, {self.words} words, {len(self.vocabulary)} distinct"
        if self.dropped_words:
            examples = ", ".join(w for w, _ in self.dropped_examples.most_common(5))
            text += f"; {self.dropped_words} words the model cannot spell dropped (e.g. {examples})"
        return text


def kenlm_tool(name: str) -> str:
    """Path of a KenLM command-line tool, or a UserError that says how to get it."""
    folders = [os.environ.get("CTCASR_KENLM_BIN", ""), str(Path(sys.executable).parent)]
    for folder in filter(None, folders):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise UserError(f"KenLM's {name} not found: run `make kenlm-tools` (or scripts/build_kenlm_tools.sh BIN_DIR) "
                    "or set CTCASR_KENLM_BIN")


def read_text_lines(path: str | os.PathLike) -> Iterator[str]:
    """Sentences of a text source: plain lines (.txt, .gz), a manifest's `text` (.jsonl), LJSpeech's last column."""
    path = Path(path)
    if not path.is_file():
        raise UserError("text file does not exist", path)
    name = path.name.removesuffix(".gz")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if name.endswith(".jsonl"):
                    if not line.strip():
                        continue
                    try:
                        yield json.loads(line)["text"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise UserError(f"line {number} is not a manifest entry with a text", path) from None
                elif name.endswith(".csv"):
                    yield line.rstrip("\n").split("|")[-1]
                else:
                    yield line
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read text ({exc})", path) from None


def normalised_sentences(lines: Iterable[str], tokenizer, stats: TextStats) -> Iterator[str]:
    """The tokenizer's normalisation, line by line; words it cannot spell (or pronounce) are dropped and counted."""
    known: dict[str, bool] = {}
    for line in lines:
        words = normalise(line).split()
        for w in words:
            if w not in known:
                known[w] = tokenizer.spellable(w) is None
        if not all(known[w] for w in words):
            bad = [w for w in words if not known[w]]
            stats.dropped_words += len(bad)
            stats.dropped_examples.update(bad)
            words = [w for w in words if known[w]]
        if not words:
            continue
        stats.vocabulary.update(words)
        stats.sentences += 1
        stats.words += len(words)
        yield " ".join(words)


def word_runs(sentences: Iterable[str], longest: int) -> Iterator[str]:
    """Every run of 1 to `longest` consecutive words of each sentence, as a sentence of its own: with these in its
    text an LM expects single words and short phrases spoken alone (what `augment.crop_prob` trains a model on)."""
    for sentence in sentences:
        words = sentence.split()
        for n in range(1, min(longest, len(words)) + 1):
            for start in range(len(words) - n + 1):
                yield " ".join(words[start:start + n])


def text_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given; a folder stands for the `.txt` (and `.txt.gz`) files below it, sorted."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith((".txt", ".txt.gz")))
            if not found:
                raise UserError("folder has no .txt files", path)
            out += found
        else:
            out.append(path)
    return out


def build_lm(texts: Sequence[str | os.PathLike], out: str | os.PathLike, order: int = 3,
             prune: Sequence[int] = (), tokenizer=None, memory: str = "10%",
             crops: Sequence[str | os.PathLike] = (), crop_words: int = 3) -> TextStats:
    """Estimate a Kneser-Ney n-gram LM of `texts` into `out` (.arpa, .arpa.gz, or .bin for a KenLM binary), of the
    words `tokenizer` can spell (default: the default characters); the sentences of `crops` are added as their
    `word_runs` of up to `crop_words` words."""
    if tokenizer is None:
        from ctcasr.units.char import CharTokenizer

        tokenizer = CharTokenizer()
    if not 1 <= order <= 6:
        raise UserError(f"--order must be between 1 and 6 (got {order})")
    if prune and (len(prune) > order or any(p < 0 for p in prune) or list(prune) != sorted(prune)):
        raise UserError(f"--prune takes up to {order} non-decreasing counts, one per order (got {list(prune)})")
    if prune and prune[0] != 0:
        raise UserError("--prune: unigrams cannot be pruned (the first count must be 0)")
    if crops and crop_words < 1:
        raise UserError(f"--crop-words must be at least 1 (got {crop_words})")
    out = check_output_file(out)
    sources = [(path, 0) for path in text_files(texts)] + [(path, crop_words) for path in text_files(crops)]
    lmplz = kenlm_tool("lmplz")
    binary = out.suffix in (".bin", ".binary", ".klm")
    build_binary = kenlm_tool("build_binary") if binary else None
    stats = TextStats()
    with tempfile.TemporaryDirectory(prefix="ctcasr-lm-") as tmp:
        arpa = Path(tmp) / "lm.arpa"
        command = [lmplz, "-o", str(order), "--arpa", str(arpa), "-S", memory, "-T", tmp, "--discount_fallback"]
        if prune:
            command += ["--prune", *map(str, prune)]
        log = Path(tmp) / "lmplz.log"
        with open(log, "w") as log_file:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                                       text=True, encoding="utf-8")
            try:
                for text, runs in sources:
                    lines = read_text_lines(text)
                    if runs:
                        lines = word_runs((normalise(line) for line in lines), runs)
                    for sentence in normalised_sentences(lines, tokenizer, stats):
                        process.stdin.write(sentence + "\n")
            except BrokenPipeError:
                pass
            finally:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
                code = process.wait()
        if stats.sentences == 0:
            raise UserError(f"no text to build a language model from in {', '.join(str(p) for p, _ in sources)}")
        if code != 0:
            last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
            raise UserError(f"lmplz failed ({last[0][:200] if last else f'exit code {code}'})")
        stats.counts = ngram_counts(arpa)
        with atomic_path(out) as target:
            if binary:
                result = subprocess.run([build_binary, "trie", str(arpa), str(target)], capture_output=True, text=True)
                if result.returncode != 0:
                    raise UserError(f"build_binary failed ({result.stderr.strip().splitlines()[-1][:200]})")
            elif out.name.endswith(".gz"):
                with open(arpa, "rb") as src, gzip.open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            else:
                shutil.move(arpa, target)
    return stats


def ngram_counts(path: str | os.PathLike) -> dict[int, int]:
    """The `ngram N=count` lines of an ARPA file's header."""
    opener = gzip.open if str(path).endswith(".gz") else open
    counts: dict[int, int] = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("ngram "):
                n, count = line[6:].split("=")
                counts[int(n)] = int(count)
            elif line.startswith("\\1-grams:"):
                break
    return counts
