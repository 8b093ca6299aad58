"""Seed-spread table of the ablation report."""

import pytest

from gaitloop.learn.report import seed_table


def _run(seed, acc, split=0):
    m = {"accuracy": acc}
    return {"settings": {"seed": seed, "split_seed": split}, "students": {"insole/none": {"metrics": m}}}


def test_seed_table_gives_mean_and_spread():
    out = seed_table([_run(0, 0.80), _run(1, 0.82), _run(2, 0.84)])
    row = next(line for line in out.splitlines() if line.startswith("| insole/none"))
    assert row.split("|")[2].strip() == "82.00"  # mean
    assert row.split("|")[3].strip() == "2.00"  # sample sd
    assert "80.00 / 82.00 / 84.00" in row


def test_seed_table_refuses_runs_on_different_splits():
    with pytest.raises(ValueError, match="different splits"):
        seed_table([_run(0, 0.8, split=0), _run(1, 0.8, split=1)])
