"""Worked solutions of the exercises (numpy_nn/exercises): vectorized NumPy, one file per op.

They are not shipped with the package; tests/test_exercises.py checks that each one passes
``nn.exercises.check`` and that classic mistakes made to them fail on the right term.
"""
