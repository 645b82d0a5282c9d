"""The README's results table, generated from results/*.json (never typed by hand)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ctcasr.errors import UserError
from ctcasr.files import write_text

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|")


def results_table(results_dir: str | os.PathLike) -> str:
    rows = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"results file is not valid JSON ({exc})", path) from None
        if not isinstance(data, dict) or "what" not in data or "value" not in data:
            continue
        cer = data.get("cer")
        speed = data.get("real_time_factor_inverse")
        rows.append("| " + " | ".join([
            _cell(data["what"]), f"{_cell(data['value'])} {data.get('unit', '')}".strip(), _cell(cer),
            f"{speed:.0f}x" if speed else "", _cell(data.get("commit")), _cell(str(data.get("date", ""))[:10]),
            _cell(data.get("machine")), _cell(data.get("wall_s")), f"`{data.get('command', '')}`",
            f"[{path.name}]({Path(results_dir).name}/{path.name})",
        ]) + " |")
    header = ("| what | value | CER % | speed | commit | date | machine | wall s | command | file |\n"
              "|---|---|---|---|---|---|---|---|---|---|")
    return "\n".join([header, *rows])


def update_readme(results_dir: str | os.PathLike, readme: str | os.PathLike) -> None:
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise UserError(f"README has no {START} ... {END} markers", readme)
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{results_table(results_dir)}\n{END}{tail}"
    write_text(readme, new)
