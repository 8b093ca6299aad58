"""A model of what goes wrong with cheap insole force sensors, for training and testing the
GRF student on realistic input.

Why per window: a window is what the board's student sees; gain and baseline errors are
constant over 0.4 s, drift is a ramp, noise is white and the ADC quantises. Every draw comes
from the caller's seeded generator, so a test set's faults repeat exactly.
"""

from __future__ import annotations

import numpy as np


class InsoleFaults:
    """Gain error, baseline offset + drift, white noise, quantisation, no negative force.

    Parameters (newtons, per sensor channel):
      gain_sd:    relative gain error sd (0.1 = 10 %)
      offset_sd:  baseline offset sd [N]
      drift_sd:   baseline drift rate sd [N per sample]
      noise_sd:   white noise sd [N]
      quant_step: ADC step [N] (0 = none)
    """

    def __init__(self, gain_sd: float = 0.10, offset_sd: float = 15.0, drift_sd: float = 0.5,
                 noise_sd: float = 5.0, quant_step: float = 5.0):
        self.gain_sd = gain_sd
        self.offset_sd = offset_sd
        self.drift_sd = drift_sd
        self.noise_sd = noise_sd
        self.quant_step = quant_step

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x: (m, C, T) clean forces [N] -> faulty forces, same shape (float32)."""
        m, c, t = x.shape
        gain = 1.0 + rng.normal(0.0, self.gain_sd, (m, c, 1))
        offset = rng.normal(0.0, self.offset_sd, (m, c, 1))
        drift = rng.normal(0.0, self.drift_sd, (m, c, 1)) * np.arange(t)[None, None, :]
        y = x * gain + offset + drift + rng.normal(0.0, self.noise_sd, x.shape)
        y = np.maximum(y, 0.0)
        if self.quant_step > 0:
            y = np.round(y / self.quant_step) * self.quant_step
        return y.astype(np.float32)
