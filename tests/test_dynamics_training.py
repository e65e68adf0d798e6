"""Dynamics-Codec training: resumable bit for bit, lowers the validation error, and the
shipped weights reproduce the validation ratio their recipe records."""

import json

import numpy as np
import pytest
import torch

from gvcbench.codecs.dynamics import data as D
from gvcbench.codecs.dynamics import train as T
from gvcbench.codecs.dynamics.codec import DEFAULT_WEIGHTS, load_model
from gvcbench.codecs.dynamics.model import DynamicsModel
from gvcbench.datasets.synthetic import generate

from .conftest import SCENE_DYNAMICS


def _pack(names, seed, pairs, size=64, frames=8):
    clips = [D.Clip(f"{n}@{seed}", n.split("-")[1], generate(n, seed=seed, size=size, frames=frames)) for n in names]
    return D.build_pack(clips, pairs, np.random.default_rng(seed))


def _train(pack, cfg, checkpoint=None, resume=False, until=None):
    torch.manual_seed(cfg.seed)
    model = DynamicsModel(cfg.grid, cfg.coords)
    history = T.train_flow(model, cfg, T.PackTensors(pack, "cpu"), {}, checkpoint, resume, until)
    return model, history


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    pack = _pack(["rocket-float", "grass-sway"], 1000, 4)
    cfg = T.TrainConfig(steps=6, batch=4, warmup=2, val_every=100, checkpoint_every=100, grid=2, coords=True)
    whole, _ = _train(pack, cfg)
    ckpt = tmp_path / "run.ckpt"
    _train(pack, cfg, ckpt, until=3)  # interrupted after step 3, the checkpoint written
    saved = torch.load(ckpt, weights_only=True)
    assert saved["step"] == 3
    resumed, _ = _train(pack, cfg, ckpt, resume=True)  # a fresh process would start from here
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_short_training_run_lowers_the_validation_error(tmp_path):
    torch.set_num_threads(1)
    names = ["rocket-float", "hubble-drift", "retina-drift"]
    train_pack = D.merge_packs([_pack(names, seed, 6) for seed in (1000, 1001)])
    val = T.PackTensors(_pack(names, 0, 4), "cpu")
    cfg = T.TrainConfig(steps=80, batch=8, lr=2e-3, warmup=10, val_every=40, checkpoint_every=1000, grid=2, coords=True)
    torch.manual_seed(0)
    model = DynamicsModel(2, True)
    before = np.mean(list(T.validation_ratios(model, val, cfg.step).values()))
    history = T.train_flow(model, cfg, T.PackTensors(train_pack, "cpu"), {"val": val}, None, False)
    after = np.mean(list(T.validation_ratios(model, val, cfg.step).values()))
    assert [h["step"] for h in history] == [40, 80] and history[-1]["val"] == pytest.approx(after)
    assert after < 0.9 and after < 0.7 * before


def test_weights_say_their_token_layout():
    from gvcbench.codecs.dynamics.model import architecture, model_from_state

    model = DynamicsModel(grid=6, channels=1, expand=32)
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    back = model_from_state(half)
    assert back.tokens == 72 and architecture(half) == {
        "grid": 6,
        "channels": 1,
        "coords": 1,
        "fourier": 0,
        "expand": 32,
    }
    sparse, mask = torch.randn(2, 2, 96, 96), torch.ones(2, 1, 96, 96)
    assert back.tokenizer(sparse, mask).shape == (2, 72)
    v3 = DynamicsModel(grid=2).state_dict()  # v3 files have no layout entry: read from the shapes
    del v3["layout"]
    assert model_from_state(v3).tokens == 40 and architecture(v3)["grid"] == 2


@pytest.mark.slow
def test_rate_term_shrinks_the_tokens():
    torch.set_num_threads(1)
    pack = _pack(["rocket-float", "retina-drift"], 1000, 4)
    cfg = T.TrainConfig(steps=30, batch=8, lr=2e-3, warmup=5, val_every=100, checkpoint_every=1000, grid=2)
    free, _ = _train(pack, cfg)
    limited, _ = _train(pack, T.TrainConfig(**{**cfg.__dict__, "rate_weight": 5.0, "rate_target": 0.2}))
    data = T.PackTensors(pack, "cpu")
    _, sparse, mask, _ = data.batch(list(range(len(data))))
    with torch.no_grad():
        rate_free = T.rate_proxy(free.tokenizer(sparse, mask), cfg.step)
        rate_limited = T.rate_proxy(limited.tokenizer(sparse, mask), cfg.step)
    assert rate_limited < 0.8 * rate_free


def test_packs_round_trip_and_subsets(tmp_path):
    pack = _pack(["coffee-ripple", "rocket-float"], 1000, 3)
    D.save_pack(pack, tmp_path / "p.npz")
    back = D.load_pack(tmp_path / "p.npz")
    assert np.abs(back["flows"].astype(float) - pack["flows"].astype(float)).max() <= D.FLOW_QUANTUM / 2 + 1e-3
    assert np.array_equal(back["masks"], pack["masks"]) and list(back["names"]) == list(pack["names"])
    sub = D.subset_pack(back, [1])
    assert list(sub["names"]) == ["rocket-float@1000"] and set(sub["clip_of"]) == {0} and len(sub["flows"]) == 3


@pytest.mark.slow
@pytest.mark.skipif(not SCENE_DYNAMICS.is_dir(), reason="../shared/datasets/scene-dynamics is not here")
def test_shipped_weights_reproduce_the_recorded_validation_ratio():
    torch.set_num_threads(1)
    recipe = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    check = recipe["reproduce"]
    clips = [c for c in D.dataset_clips(str(SCENE_DYNAMICS), frames=check["frames"]) if c.name in check["clips"]]
    pack = D.build_pack(clips, check["pairs_per_clip"], np.random.default_rng(check["seed"]))
    ratios = T.validation_ratios(load_model(str(DEFAULT_WEIGHTS)), T.PackTensors(pack, "cpu"), check["step"])
    assert np.mean(list(ratios.values())) == pytest.approx(check["ratio"], abs=2e-3)
    assert check["ratio"] < 0.75  # the tokens carry motion of clips never trained on


@pytest.mark.slow
def test_training_copies_how_the_packs_were_made_into_the_recipe(tmp_path):
    torch.set_num_threads(1)
    D.save_pack(_pack(["rocket-float"], 1000, 4), tmp_path / "train.npz")
    made = {"flow": "dis", "flow_tracking": True, "pairs_per_clip": 4}
    (tmp_path / "packs.json").write_text(json.dumps(made))
    cfg = T.TrainConfig(str(tmp_path / "train.npz"), steps=2, batch=2, warmup=1, val_every=100, checkpoint_every=100)
    recipe = T.train(cfg, tmp_path / "w.pt", resume=False)
    assert recipe["packs"] == made and json.loads((tmp_path / "w.json").read_text())["packs"] == made


def _training_under_way(tmp_path, out):
    """A real `gvcbench dynamics train` process, returned once its loop reports step 5 (its
    signal handlers and its lock are in place), with its stderr lines as they come."""
    import subprocess
    import sys
    import threading
    import time

    D.save_pack(_pack(["rocket-float", "grass-sway"], 1000, 4), tmp_path / "packs" / "train.npz")
    args = ["--packs", str(tmp_path / "packs"), "--output", str(out), "--steps", "100000", "--batch", "4"]
    args += ["--grid", "2", "--channels", "0", "--val-every", "5", "--checkpoint-every", "100000"]
    args += ["--threads", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gvcbench", "dynamics", "train", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.time() + 180
    while not any("step 5: train" in line for line in lines) and time.time() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, lines
    return proc, lines, reader


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_training_at_a_step_boundary_with_a_checkpoint(tmp_path, sig):
    """Ctrl-C or a batch job's SIGTERM used to lose everything since the last checkpoint
    (`--checkpoint-every` steps: an hour on a CPU). Now the step ends, a checkpoint is written
    and `gvcbench dynamics train` says so and exits 128 + the signal; the checkpoint is the
    state of an uninterrupted run after that many steps, bit for bit."""
    import signal

    out = tmp_path / "w" / "dyn.pt"
    proc, lines, reader = _training_under_way(tmp_path, out)
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=120)
    reader.join(10)
    err = "".join(lines)
    assert proc.returncode == 128 + getattr(signal, sig), err
    saved = torch.load(out.with_suffix(".ckpt"), weights_only=True)
    step = saved["step"]
    assert f"training stopped at step {step} ({sig}); its checkpoint is {out.with_suffix('.ckpt')}" in " ".join(
        err.split()
    ), err
    assert step >= 1 and not out.exists()
    cfg = T.TrainConfig(**json.loads(saved["config"]))
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    model = DynamicsModel(cfg.grid, cfg.coords, cfg.channels or None, cfg.fourier, cfg.expand)
    T.train_flow(model, cfg, T.PackTensors(D.load_pack(tmp_path / "packs" / "train.npz"), "cpu"), {}, None, False, step)
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved["model"][name]), name


def _cli(*args, cwd):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "gvcbench", "dynamics", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, says",
    [
        (["train", "--packs", "nowhere"], "nowhere/train.npz not found: make the packs first"),
        (["train", "--steps", "0"], "--steps must be at least 1, got 0"),
        (["train", "--batch", "0"], "--batch must be at least 1, got 0"),  # trained on NaN and wrote it
        (["train", "--device", "cuda:99"], "--device cuda:99, but"),
        (["train", "--device", "tpu"], "--device 'tpu' is not a torch device"),
        (["train", "--grid", "5", "--channels", "0"], "--grid must be 1 to 12"),
        (["train", "--packs", "junk"], "junk/train.npz is not a pack that `gvcbench dynamics pack` wrote"),
        (["train", "--output", "old.pt"], "cannot read the checkpoint old.ckpt: it is damaged"),
        (["train", "--refiner-from", "old.ckpt"], "old.ckpt cannot be loaded as a weights-only state dict"),
        (["train", "--refiner-from", "pk/train.npz"], "cannot be loaded as a weights-only state dict"),
        (["pack", "--train-dataset", "nowhere"], "dataset 'nowhere' is neither a built-in set"),
        (["pack", "--pairs-per-clip", "0"], "--pairs-per-clip must be at least 1"),
    ],
)
def test_training_commands_refuse_bad_input_in_one_line(tmp_path, args, says):
    """`gvcbench dynamics train|pack` used to answer a missing packs folder, a bad device, a
    damaged checkpoint or a wrong dataset with a traceback (exit 1), and `--batch 0` or
    `--steps 0` with weights trained on NaN or not at all (exit 0)."""
    D.save_pack(_pack(["rocket-float", "grass-sway"], 1000, 2, size=32, frames=4), tmp_path / "pk" / "train.npz")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "train.npz").write_bytes(b"not a pack")
    (tmp_path / "old.ckpt").write_bytes(b"half a checkpoint")
    base = {"train": ["--packs", "pk", "--steps", "2", "--batch", "2", "--grid", "2", "--channels", "0"]}
    base["pack"] = ["--output", "packs-out", "--validation-dataset", ""]
    done = _cli(args[0], *base[args[0]], *args[1:], cwd=tmp_path)
    err = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert f"error: {says}" in err or ("error:" in err and says in err), err
    assert "Traceback" not in done.stderr and "╭" not in done.stderr, done.stderr
    assert not (tmp_path / "dynamics-v5.pt").exists() and not (tmp_path / "old.pt").exists()
    assert (tmp_path / "old.ckpt").read_bytes() == b"half a checkpoint"


def test_resume_refuses_a_checkpoint_of_another_training(tmp_path):
    """Re-running into the same output with changed settings used to continue the old
    checkpoint under the new settings: weights of neither run, a recipe that says otherwise."""
    from gvcbench.errors import ConfigError

    torch.set_num_threads(1)
    pack = _pack(["rocket-float", "grass-sway"], 1000, 2, size=32, frames=4)
    cfg = T.TrainConfig(steps=4, batch=2, warmup=1, val_every=100, checkpoint_every=100, grid=2)
    ckpt = tmp_path / "w.ckpt"
    _train(pack, cfg, ckpt, until=2)
    saved = ckpt.read_bytes()
    with pytest.raises(ConfigError, match=r"made by a different training \(lr 0.001 there, 0.002 now; grid 2 there"):
        _train(pack, T.TrainConfig(**{**cfg.__dict__, "lr": 2e-3, "grid": 1}), ckpt, resume=True)
    other = _pack(["rocket-float", "retina-drift"], 1001, 3, size=32, frames=4)
    changed = r"training data 4 pairs of 2 clips there, 6 pairs of 2 clips now \(other clips\)"
    with pytest.raises(ConfigError, match=changed):
        _train(other, cfg, ckpt, resume=True)
    assert ckpt.read_bytes() == saved  # refused before anything was written
    whole, _ = _train(pack, cfg)
    resumed, _ = _train(pack, T.TrainConfig(**{**cfg.__dict__, "val_every": 1, "threads": 1}), ckpt, resume=True)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name  # reporting more often changes nothing


def test_a_diverged_training_stops_without_writing_weights(tmp_path):
    """At a learning rate far too high the loss turns NaN; it used to train on and write NaN
    weights with exit 0. Now the step that turned NaN is not applied and nothing after the
    last checkpoint is written."""
    D.save_pack(_pack(["rocket-float", "grass-sway"], 1000, 2, size=32, frames=4), tmp_path / "train.npz")
    cfg = T.TrainConfig(str(tmp_path / "train.npz"), steps=5, batch=2, warmup=1, lr=1e6, val_every=100)
    cfg.checkpoint_every = 1
    with pytest.raises(T.TrainingDiverged, match="the loss is nan at step 2; its weights were not written"):
        T.train(cfg, tmp_path / "w.pt", resume=False)
    assert not (tmp_path / "w.pt").exists()
    assert torch.load(tmp_path / "w.ckpt", weights_only=True)["step"] == 1


@pytest.mark.slow
def test_a_second_training_into_the_same_file_is_refused_while_the_first_runs(tmp_path):
    """Two `dynamics train` into one --output used to interleave their checkpoints (one
    temporary file, two writers). The second is refused while the first lives; the lock goes
    with the first process however it ends, SIGKILL included."""
    import signal

    out = tmp_path / "w" / "dyn.pt"
    first, _, _ = _training_under_way(tmp_path, out)
    try:
        args = ["--packs", tmp_path / "packs", "--output", out, "--steps", "2", "--batch", "2", "--grid", "2"]
        second = _cli("train", *args, "--channels", "0", "--no-resume", cwd=tmp_path)
        said = " ".join(second.stderr.split())
        assert second.returncode == 2, said
        assert f"error: another gvcbench dynamics train (pid {first.pid} on" in said, said
        assert f"is writing to {out}; wait until it ends, or give this run another --output" in said, said
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(60)
    again = _cli("train", *args, "--channels", "0", "--no-resume", cwd=tmp_path)
    assert again.returncode == 0 and out.is_file(), again.stderr
