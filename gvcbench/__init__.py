"""gvcbench: benchmarking and evaluation harness for (generative) video compression."""

__version__ = "0.2.0"
