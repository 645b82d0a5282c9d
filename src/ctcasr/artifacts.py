"""`ctcasr download`: a registry of artifacts (model checkpoints, language models) with URL, size and sha256."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ctcasr.data.download import download, file_digest
from ctcasr.errors import UserError
from ctcasr.schema import build, limits

REGISTRY = Path(__file__).with_name("artifacts.yaml")
REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = Path(__file__).with_name("shipped")  # shipped models inside an installed wheel (see setup.py)


@dataclass
class Artifact:
    name: str
    kind: str
    description: str
    url: str | None = None  # downloaded from here ...
    local: str | None = None  # ... or shipped in the repository at this path
    size: int | None = field(default=None, metadata=limits(0))
    sha256: str | None = None  # None: the publisher gives no checksum; the digest is printed on download


def load_registry(path: str | os.PathLike | None = None) -> dict[str, Artifact]:
    path = Path(path) if path else REGISTRY
    if not path.is_file():
        raise UserError("artifact registry does not exist", path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"artifact registry is not valid YAML ({' '.join(str(exc).split())[:160]})", path) from None
    if not isinstance(data, dict):
        raise UserError("artifact registry must map names to entries", path)
    artifacts = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise UserError(f"entry {name!r} must be a mapping (kind, description, url or local, ...)", path)
        artifact = build(Artifact, {"name": str(name), **entry}, str(name), str(path))
        if artifact.url and urllib.parse.urlsplit(artifact.url).scheme not in ("http", "https", "file"):
            raise UserError(f"entry {name!r}: url must be an absolute http(s) or file URL, got {artifact.url!r}",
                            path)
        if not artifact.url and not artifact.local:
            raise UserError(f"entry {name!r} has neither a url nor a local path", path)
        artifacts[str(name)] = artifact
    return artifacts


def describe(artifacts: dict[str, Artifact]) -> str:
    rows = [f"{'name':32} {'kind':6} {'size':>10}  source", ]
    for a in artifacts.values():
        size = f"{a.size / 2**20:.1f} MB" if a.size else "?"
        rows.append(f"{a.name:32} {a.kind:6} {size:>10}  {a.url or a.local}")
        rows.append(f"{'':32} {a.description}")
    return "\n".join(rows)


def cache_home() -> Path:
    """ctcasr's cache folder: $CTCASR_HOME, else $XDG_CACHE_HOME/ctcasr, else ~/.cache/ctcasr."""
    home = os.environ.get("CTCASR_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ctcasr"
    return Path(home)


def model_cache_dir() -> Path:
    """Where downloaded models are kept: $CTCASR_HOME/models, else ~/.cache/ctcasr/models."""
    return cache_home() / "models"


def fetch_artifact(name: str, out_dir: str | os.PathLike = "artifacts", registry: str | None = None) -> Path:
    """The verified local path of artifact `name`: the shipped file, or a download into `out_dir`."""
    artifacts = load_registry(registry)
    if name not in artifacts:
        raise UserError(f"unknown artifact {name!r}; `ctcasr download --list` shows the known ones")
    a = artifacts[name]
    checksum = f"sha256:{a.sha256}" if a.sha256 else None
    if a.local:
        path = local_path(a.local, out_dir)
        if not path.is_file():
            raise UserError(f"shipped artifact {name} is missing (a checkout without it?)", path)
        if a.sha256 and file_digest(path, "sha256") != a.sha256:
            raise UserError(f"sha256 mismatch for {name}: expected {a.sha256}, got {file_digest(path, 'sha256')}",
                            path)
        return path
    if not a.url:
        raise UserError(f"artifact {name} has neither a url nor a local path", registry or REGISTRY)
    return download(a.url, Path(out_dir) / Path(a.url).name, checksum)


def local_path(local: str, out_dir: str | os.PathLike) -> Path:
    """Where a shipped file is: the source checkout, else the installed package's `shipped/` folder, else a copy
    beside the user's other downloads. The first candidate when none exists (the error names it)."""
    if Path(local).is_absolute():
        return Path(local)
    name = Path(local).relative_to("models") if Path(local).parts[0] == "models" else Path(local)
    candidates = [REPO_ROOT / local, SHIPPED / name, Path(out_dir) / Path(local).name]
    return next((p for p in candidates if p.is_file()), candidates[0])


def copy_model(path: Path, out_dir: str | os.PathLike) -> Path:
    """Copy a shipped model into `out_dir` with what travels with it: MODEL.decoding.yaml and the MODEL/ folder of
    LMs it names (relative paths keep working), each file written atomically. Returns the copied checkpoint."""
    import shutil

    from ctcasr.files import atomic_path, check_output_dir

    out = check_output_dir(out_dir)
    decoding = path.with_name(f"{path.stem}.decoding.yaml")
    sources = [path, decoding, *decoding_files(decoding)]
    assets = path.with_suffix("")
    sources += sorted(p for p in assets.rglob("*") if p.is_file()) if assets.is_dir() else []
    for source in dict.fromkeys(sources):
        if source.is_file():
            target = out / source.relative_to(path.parent)
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
    return out / path.name


def decoding_files(decoding: Path) -> list[Path]:
    """The files a model's decoding settings name (LM, rescoring LM, hotwords) that lie beside it, e.g. another
    shipped model's LM: they travel with the model so its relative paths keep working."""
    if not decoding.is_file():
        return []
    from ctcasr.decoding.settings import load_decoding

    config = load_decoding(decoding)
    named = [Path(v) for v in (config.lm, config.rescore_lm, config.hotwords) if v]
    root = decoding.parent.resolve()
    return [p for p in named if p.is_file() and p.resolve().is_relative_to(root)]
