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


def table_rows_without_a_header(text: str) -> list[int]:
    """Line numbers of table rows that start a block without a header and separator: Markdown
    renders such a row as text (a paragraph dropped between rows cuts a table in two)."""
    lines = text.split("\n")
    bad = []
    for i, line in enumerate(lines):
        if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            if i + 1 >= len(lines) or not re.match(r"^\|[\s:|-]+\|?\s*$", lines[i + 1]):
                bad.append(i + 1)
    return bad


def test_table_check_finds_a_cut_table():
    whole = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
    cut = "| a | b |\n|---|---|\n| 1 | 2 |\n\nA paragraph.\n\n| 3 | 4 |\n"
    assert table_rows_without_a_header(whole) == [] and table_rows_without_a_header(cut) == [7]


@pytest.mark.parametrize("page", sorted(p for p in os.listdir(DOCS) if p.endswith(".md")) + ["../README.md"])
def test_every_table_has_its_header(page):
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        bad = table_rows_without_a_header(f.read())
    assert not bad, f"{page}: table rows without a header at lines {bad}"
