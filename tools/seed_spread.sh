#!/bin/sh
# Training-seed spread of the students (docs/learn.md "Seed spread"): seeds 1 and 2 of every
# student with the split fixed at 0 and the teachers in runs/ reused; nothing is shipped.
# Seed 0 is the main ablation run (runs/ablation_*.json). Run from the repository root.
set -e
for s in 1 2; do
  .venv/bin/python -m gaitloop.learn.ablation phase --stages students --seed $s --ship-kd "" \
      --out runs/seeds/phase_s$s.json
done
for s in 1 2; do
  .venv/bin/python -m gaitloop.learn.ablation grf --reuse --seed $s --ship-kd "" --train-stride 16 \
      --teacher-epochs 3 --student-epochs 15 --out runs/seeds/grf_s$s.json
done
