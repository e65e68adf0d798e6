"""Metric axes for RD curves and BD computations: every axis increases with quality.

A metric declares its axis in its ``MetricSpec`` (``bd_axis``); the reports read it back
from the spec stored with the values (``axis_from_spec``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import GvcbenchError

_AXIS = re.compile(r"^\s*(?:(-?\d+(?:\.\d+)?)\s*)?(-)?\s*x\s*$")


@dataclass(frozen=True)
class Axis:
    """``offset - x`` (flipped) or ``x``; ``label`` is what reports print beside numbers."""

    metric: str
    expression: str
    offset: float
    flipped: bool

    def apply(self, values):
        values = np.asarray(values, dtype=np.float64)
        return self.offset - values if self.flipped else values

    @property
    def label(self) -> str:
        if not self.flipped:
            return self.metric
        off = f"{self.offset:g}" if self.offset else ""
        return f"{off}-{self.metric}"


def parse_axis(expression: str, metric: str = "x") -> Axis:
    m = _AXIS.match(expression or "")
    if not m or (m.group(1) and not m.group(2)):
        raise GvcbenchError(f"invalid BD axis {expression!r}; write 'x', '-x' or 'C-x' such as '1-x'")
    return Axis(metric, expression, float(m.group(1) or 0.0), bool(m.group(2)))


def axis_from_spec(metric: str, spec: dict) -> Axis:
    """The axis of a metric from the spec record stored with its values."""
    if "lower_better" not in spec:
        raise GvcbenchError(f"metric {metric}: the store does not say whether lower is better")
    axis = spec.get("bd_axis") or ("-x" if spec["lower_better"] else "x")
    return parse_axis(axis, metric)
