"""What a planned run consists of: jobs with content-addressed keys, and the plan that holds
them. Data only, so the planner (plan.py) and the target-rate search (ratesearch.py) both
build on it without importing each other."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field

from ..codecs import Codec, RatePoint
from ..datasets import SequenceSpec
from .records import JobResult
from .store import JOB_KEY_VERSION


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one encode/decode/measure; picklable."""

    key: str
    codec_label: str
    codec_name: str
    codec_params: dict
    codec_version: str
    spec: SequenceSpec
    sequence: str
    sequence_hash: str
    point: RatePoint
    metrics: tuple[str, ...]
    workdir: str
    timeout: float
    keep_bitstream: bool
    keep_reconstruction: bool
    device: str
    config_hash: str
    run_folder: str
    seed: int | None = None  # handed to a stochastic codec; None for deterministic ones
    input_y4m: str | None = None  # the planner's copy of the sequence (datasets/input_cache.py)
    search: dict | None = None  # set on the encodes of a target-rate search (bench/ratesearch.py)


@dataclass
class Plan:
    jobs: list[Job]
    skipped_codecs: dict[str, str] = field(default_factory=dict)  # label -> reason
    bad_sequences: dict[str, str] = field(default_factory=dict)  # name -> reason
    codecs: dict[str, Codec] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    unavailable_metrics: dict[str, str] = field(default_factory=dict)  # name -> reason
    searches: list = field(default_factory=list)  # target-rate searches, one per codec x sequence


def job_key(codec_identity: dict, sequence_hash: str, point: RatePoint, seed: int | None = None) -> str:
    payload = {"schema": JOB_KEY_VERSION, "codec": codec_identity, "sequence": sequence_hash, "point": point.to_dict()}
    if seed is not None:  # deterministic jobs keep the keys they always had
        payload["seed"] = seed
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def job_result(job: Job, status: str, **fields) -> JobResult:
    """The one constructor of a job's result: the job's identity, then what running it gave
    (``fields``: rate, sizes, times, scores, kept files, or the error)."""
    point, search = job.point.label, None
    if job.search:  # an encode of a target-rate search: its own point label, never a ladder point
        point, search = f"search-{job.point.label}", job.search
    return JobResult(
        job_key=job.key,
        codec=job.codec_label,
        codec_name=job.codec_name,
        codec_version=job.codec_version,
        codec_params=job.codec_params,
        sequence=job.sequence,
        sequence_hash=job.sequence_hash,
        sequence_spec=_spec_dict(job.spec),
        point=point,
        qp=job.point.qp,
        target_kbps=job.point.kbps,
        seed=job.seed,
        rate_search=search,
        config_hash=job.config_hash,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        status=status,
        **({"finished_at": time.time()} | fields),
    )


def _spec_dict(spec: SequenceSpec) -> dict:
    from dataclasses import asdict

    return {k: v for k, v in asdict(spec).items() if v not in (None, {}, 0) or k == "start"}
