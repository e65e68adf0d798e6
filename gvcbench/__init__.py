"""gvcbench: benchmarking and evaluation harness for (generative) video compression.

The Python API (gvcbench/api.py) is re-exported here: ``gvcbench.run``, ``open_store``,
``bd_table``, ``report``, ``regress``, ``save_baseline``, and the progress events a run emits.
"""

from .api import (
    Gate,
    Results,
    RunOverrides,
    bd_table,
    open_store,
    regress,
    report,
    run,
    run_config,
    save_baseline,
)
from .bench.events import JobFailed, JobFinished, JobsPlanned
from .errors import ConfigError, GvcbenchError
from .version import __version__

__all__ = [
    "ConfigError",
    "Gate",
    "GvcbenchError",
    "JobFailed",
    "JobFinished",
    "JobsPlanned",
    "Results",
    "RunOverrides",
    "__version__",
    "bd_table",
    "open_store",
    "regress",
    "report",
    "run",
    "run_config",
    "save_baseline",
]
