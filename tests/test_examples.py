"""Every script in examples/ runs, on small sizes, so the examples never rot.

Each runs in a fresh process as a user would run it (``python example.py``),
with ``FASTMLP_EXAMPLE_QUICK=1`` (small data, few epochs), headless matplotlib
and figures written to a temporary directory. The kernels it compiles go to
the same cache as the rest of the suite's (the tile limits pinned by conftest
are inherited), so they are compiled once for both.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_has_a_gallery_docstring(script):
    docstring = ast.get_docstring(ast.parse(script.read_text()))
    assert docstring, f"{script.name}: no module docstring"
    lines = docstring.strip().splitlines()
    title = lines[1] if set(lines[0]) == {"="} else lines[0]
    assert title.strip() and len(lines) >= 4, f"{script.name}: title, then text"
    assert "FASTMLP_EXAMPLE_QUICK" in script.read_text()


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = dict(os.environ)
    env.update(
        FASTMLP_EXAMPLE_QUICK="1",
        FASTMLP_EXAMPLE_OUTDIR=str(tmp_path),
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{script.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    assert result.stdout.strip(), f"{script.name} printed nothing"
    figures = sorted(p.name for p in tmp_path.glob("*.png"))
    if script.name.startswith("plot_"):
        assert figures, f"{script.name} saved no figure"
    else:
        assert not figures, f"{script.name} saved {figures}: name it plot_*"
