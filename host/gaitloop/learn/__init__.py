"""Learned gait models: phase labels, windows, teachers, students, distillation, metrics.

Torch is an optional dependency (`pip install gaitloop[ml]`); modules that need it import it
at top level, so import them only where the `ml` extra is installed.
"""
