"""Regression guards on the documented MGait figures (docs/mgait.md): step MAPE / RMSE on the
27 Bandai-Namco walks and the whole-trial limp F1, recomputed and held to docs/results.json.

Sensor-noise seed 0, as in the docs; each tolerance is the spread over seeds 0-3 (stated per
figure in docs/results.json), so a change that costs more than that spread fails here.
"""

from __future__ import annotations

from gaitloop import results


def test_step_length_figures(shared_data):
    got = results.mgait_bandai(shared_data)
    assert results.compare("mgait_bandai", got) == []


def test_limp_whole_trial_figures(shared_data):
    got = results.limp_whole_trial(shared_data)
    assert results.compare("limp_whole_trial", got) == []
