"""Curve Similarity Model (Hu et al., Sensors 2019): host side.

Float reference and bit-exact fixed-point emulation of `gaitfw.csm` (`model`), Lopez-Meyer
labels (`labels`), evolutionary template search (`train`), PM and STTTA baselines
(`baselines`), metrics E1-E4 (`metrics`), data input (`io`) and the Table 5 protocol
(`protocol`).
"""
