"""Build hook (metadata lives in pyproject.toml): the shipped models named by `local:` entries of
src/ctcasr/artifacts.yaml, with their decoding files and LM folders, are copied into the wheel as package data
(`ctcasr/shipped/`), so `--model NAME` resolves in a non-editable install too."""

import re
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def shipped_files() -> list[Path]:
    """Each shipped checkpoint, MODEL.decoding.yaml beside it and the files of its MODEL/ folder."""
    registry = (ROOT / "src" / "ctcasr" / "artifacts.yaml").read_text(encoding="utf-8")
    files = []
    for local in re.findall(r"^\s+local:\s*(\S+)\s*$", registry, flags=re.MULTILINE):
        checkpoint = ROOT / local
        if not checkpoint.is_file():
            continue
        files += [checkpoint, checkpoint.with_name(checkpoint.stem + ".decoding.yaml")]
        assets = checkpoint.with_suffix("")
        files += sorted(p for p in assets.rglob("*") if p.is_file()) if assets.is_dir() else []
    return [f for f in files if f.is_file()]


class BuildWithModels(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "ctcasr" / "shipped"
        for source in shipped_files():
            destination = target / source.relative_to(ROOT / "models")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)


setup(cmdclass={"build_py": BuildWithModels})
