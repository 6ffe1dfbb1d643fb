"""What depends on scikit-learn's internals: re-verify it on every scikit-learn release.

Shortcuts that do what a scikit-learn function does, without its repeated
checks, for the inputs they can prove plain (arrays, integer labels, checked
parameters), and hand everything else to scikit-learn's own function, so
results and errors stay scikit-learn's; and the copy of fitted state between
the two libraries' estimators. Each module's tests compare with scikit-learn.
Nothing here imports the estimators; the engine and kernels know nothing of it.
"""
