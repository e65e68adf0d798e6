"""Set-level metrics (FVD, FID): computed by the driver once the jobs they need have finished.

For every codec and rate point, the features of all its sequences (stored with each job)
are pooled through the metric's set-metric interface (``metrics/setmetric.py``: a state
per job, merged, computed), as the Dynamics-Codec paper reports FVD over its test set per
rate point. Values are kept per dataset identity, so a store holding two datasets keeps the
set-level values of both, and each value lists the jobs it pooled (readers use it only for
exactly those rows).
"""

from __future__ import annotations

from collections import defaultdict

from ..errors import MetricError
from ..metrics import METRICS
from ..metrics.setmetric import SetMetric
from .records import JobResult, SetValue
from .store import ResultStore


def set_metric(name: str) -> SetMetric:
    """An instance of a set-level metric for pooling (its settings only: no network is loaded)."""
    metric = METRICS.get(name)()
    if not isinstance(metric, SetMetric):
        raise MetricError(
            f"metric {name} declares granularity 'set' but is not a gvcbench.metrics.setmetric.SetMetric; "
            f"implement features, state, compute and sequence_value (see DEVELOPERS.md)"
        )
    return metric


def compute_set_metrics(store: ResultStore, keys: set[str], metrics: tuple[str, ...], dataset: str = "") -> int:
    """Recompute every set-level value of ``dataset`` that the jobs ``keys`` contribute to; returns how many."""
    set_names = [m for m in metrics if METRICS.get(m).spec.granularity == "set"]
    if not set_names:
        return 0
    rows = store.records(keys, done=True)
    written = 0
    for name in set_names:
        metric = set_metric(name)
        groups: dict[tuple[str, str], list[tuple[JobResult, dict]]] = defaultdict(list)
        for r in rows:
            blob = (r.features or {}).get(name)
            if blob:
                groups[(r.codec, r.point)].append((r, blob))
        for (codec, point), members in groups.items():
            pooled = metric.pool(blob for _, blob in members)
            prov = dict(members[0][0].provenance.get(name, {})) | {"pooled": "all sequences of this codec and point"}
            store.put_set(
                SetValue(
                    codec,
                    point,
                    name,
                    pooled.value,
                    sequences=tuple(sorted(r.sequence for r, _ in members)),
                    features=pooled.count,
                    note=pooled.note,
                    provenance=prov,
                    dataset=dataset,
                    job_keys=tuple(r.job_key for r, _ in members),
                )
            )
            written += 1
    return written
