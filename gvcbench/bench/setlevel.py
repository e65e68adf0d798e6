"""Set-level metrics (FVD): computed by the driver once the jobs they need have finished.

For every codec and rate point, the feature vectors of all its sequences (stored with
each job) are pooled, reference against reconstruction, as the Dynamics-Codec paper
reports FVD over its test set per rate point. Values are kept per dataset identity, so a
store holding two datasets keeps the set-level values of both, and each value lists the
jobs it pooled (readers use it only for exactly those rows).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

from ..errors import MetricError
from ..metrics import METRICS
from ..metrics.fvd import FeatureStats, FewFeaturesWarning, decode_features, fvd_from_stats
from .store import ResultStore


def compute_set_metrics(store: ResultStore, keys: set[str], metrics: tuple[str, ...], dataset: str = "") -> int:
    """Recompute every set-level value of ``dataset`` that the jobs ``keys`` contribute to; returns how many."""
    set_names = [m for m in metrics if METRICS.get(m).spec.granularity == "set"]
    if not set_names:
        return 0
    rows = store.records(keys, done=True)
    written = 0
    for name in set_names:
        groups = defaultdict(list)
        for r in rows:
            blob = (r.get("features") or {}).get(name)
            if blob:
                groups[(r["codec"], r["point"])].append((r, blob))
        for (codec, point), members in groups.items():
            ref, dist = FeatureStats(), FeatureStats()
            for _, blob in members:
                ref.update(decode_features(blob["reference"]))
                dist.update(decode_features(blob["distorted"]))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", FewFeaturesWarning)
                try:
                    value = fvd_from_stats(ref, dist)
                except MetricError as exc:  # e.g. one short clip: too few feature vectors for a covariance
                    value = None
                    warnings.warn(str(exc), FewFeaturesWarning)
            note = "; ".join(str(w.message) for w in caught) or None
            prov = members[0][0]["provenance"].get(name, {}) | {"pooled": "all sequences of this codec and point"}
            store.put_set_value(
                codec,
                point,
                name,
                value,
                sorted(r["sequence"] for r, _ in members),
                ref.count,
                note,
                prov,
                dataset=dataset,
                job_keys=[r["job_key"] for r, _ in members],
            )
            written += 1
    return written
