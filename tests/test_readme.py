"""The README's code snippet runs as printed: the test reads it from README.md at run time."""

import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_snippet() -> str:
    """The first Python block of the README's "Using it" section."""
    text = open(README, encoding="utf-8").read()
    section = text[text.index("## Using it"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_snippet_attaches_its_probe_and_runs(tmp_path):
    code = readme_snippet()
    assert "add_probe(" in code  # the probe is attached, not only defined
    script = tmp_path / "snippet.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = re.findall(r"^frame (\d+): (\d+) objects, \(240, 320, 4\)$", r.stdout, re.M)
    assert [int(n) for n, _ in lines] == list(range(30))  # the probe saw every frame as a 320x240 RGBA view
    assert "Traceback" not in r.stderr and "CRITICAL" not in r.stderr
