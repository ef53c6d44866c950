"""The pure dimming policy: numpy arrays in, arrays out; no I/O, no clocks read."""
