"""``python -m fastmlp run``: run a program with scikit-learn patched.

``python -m fastmlp run program.py [args]`` runs ``program.py`` as ``python
program.py [args]`` would (``__name__ == "__main__"``, ``sys.argv ==
["program.py", *args]``, the program's folder first on ``sys.path``), and
``python -m fastmlp run -m package.module [args]`` as ``python -m
package.module [args]`` would (the current folder first on ``sys.path``), with
:func:`fastmlp.patch_sklearn` called before the program imports anything. The
exit status is the program's. Processes the program starts (multiprocessing,
joblib's workers) are not patched: estimators sent to them stay fastmlp's (they
are pickled as fastmlp's), but a worker that imports ``MLPClassifier`` itself
gets scikit-learn's.
"""

import os
import runpy
import sys

from ._patching import patch_sklearn

USAGE = (
    "usage: python -m fastmlp run program.py [args ...]\n"
    "       python -m fastmlp run -m module [args ...]\n"
    "Runs a Python program with scikit-learn's MLPClassifier and MLPRegressor "
    "replaced by fastmlp's (fastmlp.patch_sklearn())."
)


def run(argv):
    """Run the program ``argv`` names, patched; returns its exit status."""
    if not argv or argv[0] in ("-h", "--help") or argv == ["-m"]:
        print(USAGE, file=sys.stderr if not argv or argv == ["-m"] else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    patch_sklearn()
    if argv[0] == "-m":
        module, args = argv[1], argv[2:]
        sys.argv = [module, *args]  # run_module sets argv[0] to the file
        sys.path[0] = os.getcwd()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        program, args = argv[0], argv[1:]
        sys.argv = [program, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(program))
        runpy.run_path(program, run_name="__main__")
    return 0
