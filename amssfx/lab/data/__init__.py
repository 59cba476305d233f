"""Training data: procedural multitrack songs rendered with FluidSynth and espeak-ng (extra `train`)."""
