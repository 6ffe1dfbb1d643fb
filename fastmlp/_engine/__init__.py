"""The engine: trains and predicts on one flat parameter buffer with compiled kernels.

``training`` (fit and predict drivers, workspaces, threads), ``param_layout``
(where each layer's weights sit in the buffer), ``solvers`` (SGD, Adam, and the
L-BFGS driver ``lbfgsb``), ``entry_checks`` (every entry into compiled code
checks its arrays first), ``input_form`` (mostly-zero dense input read as
CSR) and ``randomness`` (the estimator's RandomState, drawn in compiled code).
It knows nothing of scikit-learn's estimators; it calls ``fastmlp._kernels``
and ``fastmlp._runtime``.
"""
