"""gvcbench: benchmarking and evaluation harness for (generative) video compression."""

__version__ = "0.1.0"
