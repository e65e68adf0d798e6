"""Running one job inside a worker: encode, decode, check, measure. Returns its JobResult."""

from __future__ import annotations

import errno
import os
import platform
import shutil
import socket
import time
import traceback
from functools import cache, lru_cache, partial
from pathlib import Path

import numpy as np

from ..datasets import Sequence, SequenceSpec, load_sequence
from ..datasets.container import write_container
from ..datasets.input_cache import read_cached
from ..errors import CodecError, DatasetError, GvcbenchError, MetricError
from ..metrics import METRICS
from ..metrics.reference_cache import ReferenceCache
from ..metrics.setmetric import SetMetric
from .jobs import job_result
from .plan import Job, make_codec
from .records import JobResult, kbps_of


@lru_cache(maxsize=4)
def _cached_sequence(spec: SequenceSpec) -> Sequence:
    return load_sequence(spec)


@lru_cache(maxsize=4)
def _planned_copy(path: str, sequence_hash: str, name: str) -> Sequence | None:
    return read_cached(path, sequence_hash, name)


def job_source(job: Job) -> tuple[Sequence, bool]:
    """The job's input and whether it is the planner's Y4M copy (then that file is also the
    encoders' input and VMAF's reference). The copy is a few ms to read; loading the clip
    (decode, crop, resize) can take seconds, so it is the fallback."""
    if job.input_y4m:
        seq = _planned_copy(job.input_y4m, job.sequence_hash, job.sequence)
        if seq is not None:
            return seq, True
    return _cached_sequence(job.spec), False


def _check_reconstruction(source: Sequence, recon: Sequence) -> None:
    if recon.num_frames != source.num_frames:
        raise CodecError(f"decoded {recon.num_frames} frames, the input has {source.num_frames}")
    if (recon.width, recon.height) != (source.width, source.height):
        raise CodecError(
            f"decoded frames are {recon.width}x{recon.height}, the input is {source.width}x{source.height}"
        )
    if recon.bit_depth != source.bit_depth:
        raise CodecError(f"decoded {recon.bit_depth}-bit samples, the input is {source.bit_depth}-bit")


@cache
def metric_instance(name: str, device: str):
    """One instance per worker process, so networks load once, not once per job."""
    return METRICS.get(name)(device=device)


def reference_cache(job: Job) -> ReferenceCache:
    """Codec-independent work on the original, shared by the run's jobs (cache/reference)."""
    return ReferenceCache(Path(job.run_folder) / "cache" / "reference")


def measure(
    job: Job, source: Sequence, recon: Sequence, cache: ReferenceCache | None = None, reference_file: Path | None = None
) -> dict:
    """Every metric of ``job``; reference-side work comes from ``cache`` when given, and
    ``reference_file`` is ``source`` as Y4M where a metric reads files (VMAF)."""
    means, frames, errors, provenance, features = {}, {}, {}, {}, {}
    for name in job.metrics:
        metric = metric_instance(name, job.device)
        metric.reference_file = reference_file
        reason = metric.availability()
        if reason:  # missing weights or program on this machine: a later run may have them
            errors[name] = reason
            provenance[name] = {"unavailable_here": True, "spec": metric.spec.to_dict()}
            continue
        try:
            ref_cache = cache if cache is not None and metric.reference_identity() is not None else None
            compute_reference = partial(metric.reference_features, source)
            if isinstance(metric, SetMetric):
                ref_f = (
                    ref_cache.get(metric, job.sequence_hash, compute_reference)
                    if ref_cache is not None
                    else metric.features(source)
                )
                dist_f = metric.features(recon)
                features[name] = metric.job_features(ref_f, dist_f)
                means[name] = metric.sequence_value(ref_f, dist_f)
            else:
                if ref_cache is not None:
                    ref_f = ref_cache.get(metric, job.sequence_hash, compute_reference)
                    values = metric.values_from_reference(ref_f, source, recon)
                else:
                    values = metric.frame_values(source, recon)
                values = np.asarray(values, dtype=np.float64)
                frames[name] = [float(v) for v in values]
                means[name] = float(values.mean())
        except MetricError as exc:
            kept = " (its features are kept for the set-level value)" if name in features else ""
            errors[name] = f"{exc}{kept}"
        if name in means or name in features:
            provenance[name] = metric.provenance() | {"spec": metric.spec.to_dict()}
        elif name in errors:  # the version it failed under: a new version measures it again
            provenance[name] = {"version": metric.spec.version, "spec": metric.spec.to_dict()}
    return {
        "metrics": means,
        "frame_metrics": frames,
        "metric_errors": errors,
        "provenance": provenance,
        "features": features or None,
    }


MACHINE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}  # a full or read-only disk, not the job's fault


def _check_confined(workdir: Path, run_folder: Path) -> None:
    """A job's folder, which it empties first, must lie inside the run folder."""
    if not workdir.resolve().is_relative_to(run_folder.resolve()):
        raise GvcbenchError(f"refusing to use the work folder {workdir}: it is outside the run folder {run_folder}")


def execute_job(job: Job, source: Sequence | None = None) -> JobResult:
    """Never raises for the job's own failures: they come back as a result with status 'failed'.

    ``source`` is the input when it was sent by value; otherwise it is read from the
    spec's path (a shared file system, or this machine)."""
    start = time.perf_counter()
    measured: dict = {}  # what the job gave before it ended (kept on a late failure)
    error = fatal = None
    final = Path(job.workdir)
    workdir = final.with_name(final.name + ".new")  # staging: a failed attempt never touches kept files
    try:
        _check_confined(final, Path(job.run_folder))
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        from_copy = False
        if source is None:
            source, from_copy = job_source(job)
        if not from_copy and source.content_hash() != job.sequence_hash:
            raise DatasetError(f"{job.spec.where} changed since the run was planned; re-run to plan again")
        codec = make_codec(job.codec_name, job.codec_params, job.seed)
        planned_copy = Path(job.input_y4m) if from_copy and job.input_y4m else None
        if planned_copy and hasattr(codec, "input_cache"):  # FFmpeg adapters: encode from the shared copy
            codec.input_cache = (planned_copy.parent, job.sequence_hash)
        t0 = time.perf_counter()
        bitstream = codec.encode(source, job.point, workdir, job.timeout)
        t1 = time.perf_counter()
        decoded = codec.decode(bitstream, workdir, job.timeout)
        t2 = time.perf_counter()
        if decoded.bytes_read <= 0:  # a rate of 0 is no point of any curve: fail here, not as a finished row
            raise CodecError(
                f"the bitstream the decoder read is {decoded.bytes_read} bytes: the encoder wrote an empty "
                f"bitstream (or the adapter does not set Decoded.bytes_read), so the job has no rate"
            )
        _check_reconstruction(source, decoded.sequence)
        scores = measure(job, source, decoded.sequence, reference_cache(job), planned_copy)
        for record in scores["provenance"].values():  # e.g. the size policy that fitted the reconstruction
            record.update(decoded.adjustments)
        t3 = time.perf_counter()
        n_bytes = decoded.bytes_read
        measured = scores | {
            "bytes": n_bytes,
            "parts": bitstream.parts or None,
            "frames": source.num_frames,
            "width": source.width,
            "height": source.height,
            "fps": float(source.fps),
            "kbps": kbps_of(n_bytes, source.num_frames, float(source.fps)),
            "bpp": n_bytes * 8 / (source.width * source.height * source.num_frames),
            "encode_seconds": t1 - t0,
            "decode_seconds": t2 - t1,
            "metric_seconds": t3 - t2,
            "tool_seconds": bitstream.tool_seconds + decoded.tool_seconds,
        }
        for leftover in ("decoded.yuv", "decoded.y4m"):
            (workdir / leftover).unlink(missing_ok=True)

        # paths as they will be once the staging folder becomes the job's folder
        def kept(path: Path) -> str:
            return os.path.relpath(final / path.absolute().relative_to(workdir.absolute()), job.run_folder)

        if job.keep_reconstruction:
            measured["reconstruction"] = kept(
                write_container(decoded.sequence, workdir / "reconstruction.mkv", fast=True)
            )
        inside = bitstream.path.absolute().is_relative_to(workdir.absolute())
        if job.keep_bitstream and bitstream.path.is_file() and inside:
            measured["bitstream"] = kept(bitstream.path)
        elif inside:
            bitstream.path.unlink(missing_ok=True)
    except GvcbenchError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except OSError as exc:
        error, fatal = _os_failure(exc, workdir)
    except Exception as exc:  # a bug or an unexpected library error: keep the traceback's tail
        tb = "".join(traceback.format_exception(exc)[-6:])
        error = f"unexpected {type(exc).__name__}: {exc}\n{tb}"
    try:
        settled = _settle_folder(workdir, final, done=error is None)
        if error and settled:  # name the folder the files are in now, not the staging one
            error = error.replace(str(workdir), str(settled))
    except OSError as exc:
        error, fatal = _os_failure(exc, final)
    status = "done" if error is None else "failed"
    return job_result(job, status, error=error, fatal=fatal, job_seconds=time.perf_counter() - start, **measured)


def _os_failure(exc: OSError, where: Path) -> tuple[str, str | None]:
    """The error of a job that could not read or write a file, and, when the machine is at
    fault, why the driver must stop the run (every other job would fail alike)."""
    fatal = None
    if exc.errno in MACHINE_ERRNOS:
        fatal = f"cannot write to {exc.filename or where}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}", fatal


def failed_row(job: Job, error: str) -> JobResult:
    """The result of a job that ended without one of its own (its worker died, the
    scheduler cancelled it)."""
    return job_result(job, "failed", error=error)


DONE_MARK = ".done"  # in a job folder whose files belong to a finished row


def _settle_folder(staging: Path, final: Path, done: bool) -> Path | None:
    """Move a finished job's files into its folder, replacing what was there. A failed
    attempt replaces only a folder without a finished row's files; beside such a folder
    its files go to ``NAME.failed`` (the store keeps the finished row, and its files stay).
    Returns where the files went (None: there were none)."""
    if not staging.exists():
        return None
    if done:
        (staging / DONE_MARK).touch()
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        return final
    target = final.with_name(final.name + ".failed") if (final / DONE_MARK).exists() else final
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target


def environment() -> dict:
    """Versions and machine facts recorded with each run."""
    from importlib.metadata import PackageNotFoundError, version

    from ..tools import ffmpeg_version
    from ..version import __version__

    packages: dict[str, str | None] = {}
    for dist in ("numpy", "torch", "av", "piq", "imageio-ffmpeg", "scipy"):
        try:
            packages[dist] = version(dist)
        except PackageNotFoundError:
            packages[dist] = None
    try:
        ffmpeg = ffmpeg_version()
    except GvcbenchError:
        ffmpeg = None
    return {
        "gvcbench": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "host": socket.gethostname(),
        "ffmpeg": ffmpeg,
        "packages": packages,
    }
