"""The examples in the user docs run as printed: each Python block is read from the page at
run time and executed in a fresh interpreter."""

import os
import re
import subprocess
import sys

import pytest

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def python_blocks(page: str) -> list[str]:
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


@pytest.mark.parametrize("index", range(len(python_blocks("testing.md"))))
def test_testing_page_examples_run(tmp_path, index):
    code = python_blocks("testing.md")[index]
    script = tmp_path / f"example_{index}.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, f"example {index} of docs/testing.md:\n{code}\n{r.stderr[-3000:]}"


def test_testing_page_has_its_examples():
    blocks = python_blocks("testing.md")
    assert len(blocks) == 5 and all("estuary.testing" in b for b in blocks)
