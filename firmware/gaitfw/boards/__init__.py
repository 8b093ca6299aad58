"""Board kinds: pin-free descriptions of channels, units, scale, rate and processors."""
