"""Dynamics-Codec: entropy coding, bitstream, flow, sampling, networks, training, adapter."""
