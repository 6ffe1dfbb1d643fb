"""The sdist and the wheel hold fastmlp only, and the wheel works installed.

``python -m build --no-isolation --sdist --wheel`` builds both from a copy of
the checkout (which is left alone); the wheel goes into a new venv that sees
this environment's dependencies but neither this checkout nor an editable
install, and a fresh process started in an empty directory fits and predicts
there, against scikit-learn. That process runs the kernels interpreted
(``NUMBA_DISABLE_JIT=1``): compiling them from scratch would take a minute,
and ``make test-newest`` / ``make test-oldest`` run a compiled smoke suite on an
installed wheel.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the sdist may hold besides fastmlp/: the build's own files and the
# documents a package carries.
SDIST_EXTRAS = {
    "CHANGELOG.md",
    "LICENSE",
    "MANIFEST.in",
    "PKG-INFO",
    "README.md",
    "pyproject.toml",
    "setup.cfg",
    "fastmlp.egg-info",
}


def _version_in_source():
    """``__version__`` as written in fastmlp/__init__.py, the one place it is."""
    tree = ast.parse((ROOT / "fastmlp" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(target, "id", None) == "__version__" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("no __version__ = '...' in fastmlp/__init__.py")


def _package_sources():
    """fastmlp's .py files, relative to the root (any subpackage included)."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "fastmlp").rglob("*.py")
        if "__pycache__" not in path.parts
    )


def _require_build_tools():
    """``build`` and setuptools >= 77 (dev extra); skipped where they are missing.

    CI installs the dev extra, so there a missing tool fails instead.
    """
    from importlib.metadata import PackageNotFoundError, version

    problem = None
    try:
        import build  # noqa: F401

        if int(version("setuptools").split(".")[0]) < 77:
            problem = f"setuptools {version('setuptools')} < 77"
    except (ImportError, PackageNotFoundError) as exc:
        problem = str(exc)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"build tools missing in CI: {problem}")
        pytest.skip(f"needs the dev extra's build tools ({problem})")


def _not_in_a_clone(directory, names):
    left_out = {"__pycache__", "build", "dist"}
    if Path(directory) == ROOT:
        left_out |= {n for n in names if n.startswith(".")}
    return {
        n
        for n in names
        if n in left_out or n.endswith((".pyc", ".nbi", ".nbc", ".egg-info"))
    }


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """(sdist, wheel) built from a copy of the checkout."""
    _require_build_tools()
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    # The checkout as a clone has it (bench/, tests/, examples/ included, so
    # that the packaging rules are what keeps them out), less what runs leave.
    shutil.copytree(ROOT, src, ignore=_not_in_a_clone)
    out = work / "dist"
    result = subprocess.run(
        # --sdist --wheel: each from the tree, as `pip install .` builds a wheel
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
         "--outdir", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_wheel_holds_fastmlp_only(dists):
    _, wheel = dists
    version = _version_in_source()
    assert wheel.name == f"fastmlp-{version}-py3-none-any.whl"
    dist_info = f"fastmlp-{version}.dist-info/"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = Parser().parsestr(zf.read(dist_info + "METADATA").decode())
        top_level = set()
        if dist_info + "top_level.txt" in names:
            top_level = set(zf.read(dist_info + "top_level.txt").decode().split())
    strays = [n for n in names if not n.startswith(("fastmlp/", dist_info))]
    assert not strays, f"files outside fastmlp/ in the wheel: {strays}"
    assert top_level <= {"fastmlp"}
    modules = sorted(n for n in names if n.startswith("fastmlp/"))
    assert modules == _package_sources()  # every module, subpackages included
    assert dist_info + "licenses/LICENSE" in names

    assert metadata["Name"] == "fastmlp"
    assert metadata["Version"] == version
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["License-Expression"] == "BSD-3-Clause"
    classifiers = metadata.get_all("Classifier")
    assert "Programming Language :: Python :: 3.10" in classifiers
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("scikit-learn") for r in requires)
    assert any(r.startswith("numba") for r in requires)


def test_sdist_holds_fastmlp_only(dists):
    sdist, _ = dists
    version = _version_in_source()
    top = f"fastmlp-{version}"
    assert sdist.name == f"{top}.tar.gz"
    with tarfile.open(sdist) as tf:
        names = [m.name for m in tf.getmembers() if m.isfile()]
    assert all(n.startswith(top + "/") for n in names)
    relative = [n[len(top) + 1 :] for n in names]
    strays = [
        n
        for n in relative
        if not n.startswith("fastmlp/") and n.split("/")[0] not in SDIST_EXTRAS
    ]
    assert not strays, f"files outside fastmlp/ in the sdist: {strays}"
    assert sorted(n for n in relative if n.startswith("fastmlp/")) == (
        _package_sources()
    )
    assert "LICENSE" in relative and "CHANGELOG.md" in relative


_IN_THE_NEW_VENV = """
import importlib.metadata, importlib.util, json, sys
import numpy as np
import fastmlp
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier

X, y = load_iris(return_X_y=True)
params = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
fast = fastmlp.MLPClassifier(**params).fit(X, y)
skl = MLPClassifier(**params).fit(X, y)
same = all(
    np.allclose(a, b, rtol=1e-6, atol=1e-9)
    for a, b in zip(fast.coefs_ + fast.intercepts_, skl.coefs_ + skl.intercepts_)
)
print(json.dumps({
    "file": fastmlp.__file__,
    "prefix": sys.prefix,
    "version": fastmlp.__version__,
    "metadata_version": importlib.metadata.version("fastmlp"),
    "same_weights": bool(same),
    "same_predictions": bool((fast.predict(X) == skl.predict(X)).all()),
    "bench_importable": importlib.util.find_spec("bench") is not None,
}))
"""


def _dependency_dirs():
    """Where this environment's dependencies are installed, fastmlp excluded."""
    import llvmlite
    import numba
    import numpy
    import scipy
    import sklearn
    import threadpoolctl

    dirs = []
    for module in [numpy, scipy, sklearn, numba, llvmlite, threadpoolctl]:
        where = str(Path(module.__file__).resolve().parent.parent)
        if where not in dirs:
            dirs.append(where)
    assert str(ROOT) not in dirs
    return dirs


def test_wheel_installs_and_fits_in_a_new_venv(dists, tmp_path):
    _, wheel = dists
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run(
        [str(python), "-c", where],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Lines of a .pth file are added after the venv's own site-packages, and
    # .pth files in the directories they name are not run: the dependencies are
    # seen, an editable fastmlp in this environment is not.
    (Path(purelib) / "_outer_dependencies.pth").write_text(
        "\n".join(_dependency_dirs()) + "\n"
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install",
         "--no-deps", "--no-index", "--no-compile", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "NUMBA_", "VIRTUAL_ENV"))
    }
    env.update(NUMBA_DISABLE_JIT="1", FASTMLP_TILES="builtin")
    run = subprocess.run(
        [str(python), "-c", _IN_THE_NEW_VENV],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(seen["file"]).resolve().is_relative_to(Path(purelib).resolve())
    assert Path(seen["prefix"]).resolve() == venv.resolve()
    assert seen["version"] == seen["metadata_version"] == _version_in_source()
    assert seen["same_weights"] and seen["same_predictions"]
    assert not seen["bench_importable"]
    assert not (Path(purelib) / "bench").exists()
