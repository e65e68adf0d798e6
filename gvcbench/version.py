"""The package version, written once: ``gvcbench.__version__`` and pyproject.toml read it here."""

__version__ = "0.2.0"
