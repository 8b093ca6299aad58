"""A looping knee replay ends with the user stopping, so each loop joins standing to standing."""

import numpy as np

from gaitloop.mgait.synth import STAND_S, synthesize


def test_stop_tail_settles_to_standing_without_a_jump(normal_walk, normal_streams):
    looped = synthesize(normal_walk, stop=True)
    n_walk = len(normal_streams.counts)
    assert len(looped.counts) > n_walk + 150  # 1 s stop + 1 s standing at 100 Hz
    for s in ("l", "r"):
        # the walk itself is unchanged (up to the spline's end effects before the stop)
        a, b = looped.alpha_deg[s][: n_walk - 30], normal_streams.alpha_deg[s][: n_walk - 30]
        assert np.abs(a - b).max() < 0.05
        tail_g = looped.gyro_dps[s][-50:]
        assert np.abs(tail_g).max() < 1.0  # still at the end
        head, tail = looped.accel_g[s][: int(STAND_S * 50)], looped.accel_g[s][-50:]
        assert np.allclose(tail, head.mean(axis=0), atol=0.02)  # upright as at the start
        # smooth: the stop changes the specific force per sample less than walking itself does
        jumps = np.abs(np.diff(looped.accel_g[s], axis=0)).max(axis=1)
        assert jumps[n_walk - 10:].max() < jumps[300: n_walk - 30].max()
        assert abs(looped.beta_deg[s][-1]) < 0.5  # knee straight
