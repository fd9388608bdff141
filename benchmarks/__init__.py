"""The numpy_nn benchmark suite: numpy_nn side by side with PyTorch (CPU) and Keras 3 on JAX.

Run ``python -m benchmarks [--quick] [--only NAME] [--out DIR]`` (or ``numpy-nn bench``).
The parent process (``harness.py``) starts one subprocess per framework (``worker.py``), so
imports and thread pools never share a process; each worker times the same workloads
(``workloads.py``) built by its own module (``workloads_numpy.py``, ``workloads_torch.py``,
``workloads_jax.py``) and writes JSON; the parent joins the results into one Markdown table and
one JSON file. See docs/performance.md for the methodology.
"""
