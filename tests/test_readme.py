"""The README's Python example runs as written (paths as after `make demo`)."""

import os
import re
import subprocess
import sys

from conftest import REPO


def test_readme_python_example_runs(tmp_path, an4):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Python API\n\n```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "an4").symlink_to(an4["test"].parent)
    (tmp_path / "models").symlink_to(REPO / "models")
    (tmp_path / "example.py").write_text(block)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 3 and "confidence" in lines[1]
