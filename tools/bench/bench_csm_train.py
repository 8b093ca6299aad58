"""Seconds per 10 generations of the CSM template search: fast fitness vs the reference.

Why: a leave-one-subject-out run trains 20 template pairs, so the search's speed decides
the MaxGen that fits (docs/csm.md, LOSO section). `train._flags` prunes with a lower bound
before the reference's exact float32 arithmetic; this runs the same seeded training (all
subjects but N01, the LOSO fold-1 training set) with each and checks the templates match.
Wall time on this shared 2-core machine is noisy (the load average is printed with it), so
the process's CPU time is printed too: it is what to compare.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/bench/bench_csm_train.py [--max-gen 10]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HUANG = ROOT.parent / "shared" / "data" / "huang_gait_phase" / "events_and_forces"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HUANG)
    ap.add_argument("--max-gen", type=int, default=10)
    ap.add_argument("--leave-out", default="N01")
    a = ap.parse_args()

    from gaitloop.csm import train as tr
    from gaitloop.csm.io import load_streams

    streams = [s for s in load_streams(a.data) if s.subject != a.leave_out]
    fast_flags = tr._flags
    res = {}
    for name, flags in (("fast", fast_flags),
                        ("reference", lambda F, mu, d, e, probe=None: tr._flags_reference(F, mu, d, e))):
        tr._flags = flags
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        m = tr.CSMTrainer(20, a.max_gen, 0, progress=False).fit(streams)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        res[name] = m
        print(f"{name:9s} {dt:7.1f} s wall, {dc:7.1f} s CPU for {a.max_gen} generations "
              f"({10 * dc / a.max_gen:.1f} s CPU per 10), load average {load:.2f}", flush=True)
    tr._flags = fast_flags
    same = all(np.array_equal(getattr(res["fast"].templates_, k).mu,
                              getattr(res["reference"].templates_, k).mu)
               and np.array_equal(getattr(res["fast"].templates_, k).delta,
                                  getattr(res["reference"].templates_, k).delta)
               and getattr(res["fast"].templates_, k).eps == getattr(res["reference"].templates_, k).eps
               for k in ("on", "off")) and res["fast"].history_ == res["reference"].history_
    print(f"same templates and fitness history: {same}")


if __name__ == "__main__":
    main()
