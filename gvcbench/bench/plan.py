"""Planning a run: codecs x sequences x rate points -> jobs with content-addressed keys."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..codecs import CODECS, Codec, RatePoint
from ..datasets import SequenceSpec, load_sequence, resolve_dataset
from ..errors import CodecUnavailable, ConfigError, DatasetError, GvcbenchError
from ..metrics import DEFAULT_METRICS, METRICS
from .config import RunConfig
from .jobs import Job, Plan, job_key

log = logging.getLogger(__name__)


def make_codec(name: str, params: dict, seed: int | None = None) -> Codec:
    codec = CODECS.get(name)(**params)
    if seed is not None:
        codec.seed = seed
    return codec


def codec_seeds(cc, codec: Codec) -> tuple[int | None, ...]:
    """The seeds a codec entry runs with: each given seed for a stochastic codec (its own
    default seed when none is given), a single unseeded run for a deterministic one."""
    if not codec.stochastic:
        if cc.seeds and len(cc.seeds) > 1:
            log.warning(f"codec {cc.display} is deterministic: it runs once, not once per seed")
        return (None,)
    return tuple(cc.seeds) if cc.seeds else (codec.default_seed,)


def resolve_metrics(config: RunConfig) -> tuple[str, ...]:
    names = tuple(config.metrics) if config.metrics is not None else DEFAULT_METRICS
    for name in names:
        METRICS.get(name)  # raises with suggestions on an unknown name
    if len(set(names)) != len(names):
        raise ConfigError(f"metrics listed twice: {', '.join(names)}")
    return names


def folder_name(text: str) -> str:
    """A folder name for a label or sequence name: readable, never '.', '..' or a path, and
    distinct for distinct names ('my codec' and 'my_codec' differ by the hash suffix)."""
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_")[:48] or "x"
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def prepare_metrics(names: tuple[str, ...], device: str) -> dict[str, str]:
    """Fetch missing pretrained files once, here in the driver; report what stays unavailable."""
    unavailable = {}
    for name in names:
        metric = METRICS.get(name)(device=device)
        if metric.availability() is None:
            continue
        try:
            metric.prepare()
        except GvcbenchError as exc:
            unavailable[name] = str(exc)
            log.warning(f"metric {name} is unavailable and will be recorded so in every job: {exc}")
    return unavailable


def _input_copy(config: RunConfig, spec: SequenceSpec, seq, seq_hash: str) -> str | None:
    """Write the loaded sequence once for the workers (they read it instead of loading the
    clip again); None if it cannot be written (the workers then load the clip themselves)
    or is not worth its disk space: a raw .y4m/.yuv file that is not cropped or resized
    reads as fast as the copy would."""
    from ..datasets.input_cache import write_once

    if spec.path and Path(spec.path).suffix.lower() in (".y4m", ".yuv") and not spec.crop and not spec.size:
        return None
    try:
        return str(write_once(Path(config.output).absolute() / "cache" / "input", seq, seq_hash))
    except (OSError, GvcbenchError) as exc:
        log.warning(f"could not keep a copy of {seq.name} for the workers ({exc}); each worker loads it")
        return None


SEQUENCES_LISTED = 5  # unreadable sequences named in the error when none can be read


def _without_name(name: str, message: str) -> str:
    """A dataset error without a leading "name: " that the line naming the sequence already says."""
    return message.removeprefix(f"{name}: ")


def plan_run(config: RunConfig) -> Plan:
    metrics = resolve_metrics(config)
    if config.device != "cpu":
        from ..metrics.torch_input import torch_device

        torch_device(config.device)
    ds = config.dataset
    dataset = resolve_dataset(ds.source, start=ds.start, frames=ds.frames, crop=ds.crop, size=ds.size)
    codecs: dict[str, tuple] = {}  # label -> (config entry, codec, rate points, identity)
    plan = Plan([], metrics=metrics)
    for cc in config.codecs:
        codec = make_codec(cc.name, cc.params)
        reason = codec.availability()
        if reason:
            plan.skipped_codecs[cc.display] = reason  # said below, once it is known that another codec runs
            continue
        note = codec.version_warning()
        if note:
            log.warning(f"codec {cc.display} {note}")
        if cc.targets:  # the search starts from one template job per sequence (bench/ratesearch.py)
            from .ratesearch import check_searchable

            codecs[cc.display] = (
                cc,
                codec,
                [RatePoint(qp=check_searchable(cc, codec).start)],
                codec.identity(),
                codec_seeds(cc, codec),
            )
            continue
        qps = cc.qps or codec.default_qps
        if not qps:
            raise ConfigError(f"codec {cc.display!r} has no default QP ladder; give 'qps' in its [[codec]] entry")
        for qp in qps:
            codec.check_point(RatePoint(qp=qp))
        codecs[cc.display] = (
            cc,
            codec,
            [RatePoint(qp=q) for q in qps],
            codec.identity(),
            codec_seeds(cc, codec),
        )
    if config.codecs and not codecs:  # nothing can run: one error, before anything is read or recorded
        raise CodecUnavailable(
            f"none of the {len(config.codecs)} codec(s) can run here, so nothing was run: "
            + "; ".join(f"{label}: {why}" for label, why in plan.skipped_codecs.items())
        )
    for label, why in plan.skipped_codecs.items():  # the others run
        log.warning(f"skipping codec {label}: {why}")
    # after the codecs' options are checked: a refused option is an error before any weights are fetched
    plan.unavailable_metrics = prepare_metrics(metrics, config.device)
    sequences = []
    for spec in dataset.specs:
        try:
            seq = load_sequence(spec)
        except GvcbenchError as exc:
            plan.bad_sequences[spec.display_name] = _without_name(spec.display_name, str(exc))
            continue
        seq_hash = seq.content_hash()
        sequences.append((spec, seq.name, seq_hash, _input_copy(config, spec, seq, seq_hash)))
    if dataset.specs and not sequences:  # nothing can run: bad input, not a run of failures; one error says it all
        listed = list(plan.bad_sequences.items())
        more = len(listed) - SEQUENCES_LISTED
        raise DatasetError(
            f"none of the {len(dataset.specs)} sequence(s) could be read, so nothing was run: "
            + "; ".join(f"{name}: {why}" for name, why in listed[:SEQUENCES_LISTED])
            + (f"; and {more} more" if more > 0 else "")
        )
    for name, why in plan.bad_sequences.items():  # the others run: each skipped one is said once
        log.warning(f"skipping sequence {name}: {why}")
    root = Path(config.output) / "jobs"
    config_hash = config.config_hash()
    for label, (cc, codec, points, identity, seeds) in codecs.items():
        plan.codecs[label] = codec
        for spec, name, seq_hash, input_y4m in sequences:
            for point, seed in ((p, s) for p in points for s in seeds):
                key = job_key(identity, seq_hash, point, seed)
                # the key in the name: another configuration or content under the same names never
                # shares (and so never overwrites) a finished job's files
                folder = f"{point.label if seed is None else f'{point.label}_seed{seed}'}-{key[:10]}"
                plan.jobs.append(
                    Job(
                        key=key,
                        codec_label=label,
                        codec_name=cc.name,
                        codec_params=dict(cc.params),
                        codec_version=identity["version"],
                        spec=spec,
                        sequence=name,
                        sequence_hash=seq_hash,
                        point=point,
                        metrics=metrics,
                        workdir=str(root / folder_name(label) / folder_name(name) / folder),
                        timeout=config.timeout,
                        keep_bitstream=config.keep_bitstreams,
                        keep_reconstruction=config.keep_reconstructions,
                        device=config.device,
                        config_hash=config_hash,
                        run_folder=str(config.output),
                        seed=seed,
                        input_y4m=input_y4m,
                    )
                )
    if any(cc.targets for cc, *_ in codecs.values()):
        from .ratesearch import split_searches

        split_searches(plan, {label: entry[0] for label, entry in codecs.items() if entry[0].targets})
    _refuse_duplicate_jobs(plan.jobs)
    return plan


def _refuse_duplicate_jobs(jobs: list[Job]) -> None:
    """Two jobs with one key would overwrite each other's row: name both, so the user knows
    which codec entries or sequences (two files with the same frames) to remove."""
    seen: dict[str, Job] = {}
    for job in jobs:
        first = seen.setdefault(job.key, job)
        if first is not job:
            raise ConfigError(
                f"two jobs of this run are identical (same codec settings, sequence content and rate point): "
                f"{first.codec_label} on {first.sequence} and {job.codec_label} on {job.sequence} at "
                f"{job.point.label}; remove the duplicate codec entry or sequence"
            )
