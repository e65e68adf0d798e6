"""The pretrained-file resolver, its download path against a real local HTTP server."""

import hashlib
import http.server
import subprocess
import sys
import threading
from functools import partial

import pytest

from gvcbench import weights as W


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "tiny.bin").write_bytes(b"gvcbench weights " * 1000)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


@pytest.fixture
def homes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GVCBENCH_WEIGHTS", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    return tmp_path


def _entry(url, sha):
    return W.WeightFile("tiny.bin", sha, url, ("test",), note="a test file")


def test_download_checks_the_hash_and_lands_in_the_hub_cache(server, homes):
    base, root = server
    digest = hashlib.sha256((root / "tiny.bin").read_bytes()).hexdigest()
    path = W.download(_entry(f"{base}/tiny.bin", digest), progress=False)
    assert path == homes / "torch" / "hub" / "checkpoints" / "tiny.bin"
    assert W.sha256(path) == digest
    assert W.find_local(_entry(None, digest)) == path


def test_download_with_a_bad_hash_is_rejected_and_not_kept(server, homes):
    base, _ = server
    with pytest.raises(W.WeightsMismatch, match="must have 0000"):
        W.download(_entry(f"{base}/tiny.bin", "0" * 64), progress=False)
    assert not (homes / "torch" / "hub" / "checkpoints" / "tiny.bin").exists()
    assert not list((homes / "torch" / "hub" / "checkpoints").glob(".tiny.bin*"))


def test_missing_file_error_names_file_hash_address_and_place(server, homes):
    base, _ = server
    with pytest.raises(W.MissingWeights) as info:
        W.download(_entry(f"{base}/absent.bin", "ab" * 32), progress=False)
    text = str(info.value)
    assert "tiny.bin" in text and "ab" * 32 in text and f"{base}/absent.bin" in text
    assert str(homes / "mine" / "tiny.bin") in text and "404" in text


def test_lookup_order_and_offline_switch(homes, monkeypatch):
    data = b"x" * 10
    digest = hashlib.sha256(data).hexdigest()
    entry = _entry("http://127.0.0.1:9/never", digest)
    monkeypatch.setitem(W.KNOWN, "tiny.bin", entry)
    hub = homes / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "tiny.bin").write_bytes(data)
    assert W.resolve("tiny.bin") == hub / "tiny.bin"
    (homes / "mine" / "tiny.bin").write_bytes(data)
    assert W.resolve("tiny.bin") == homes / "mine" / "tiny.bin"  # GVCBENCH_WEIGHTS first
    (homes / "mine" / "tiny.bin").write_bytes(b"corrupt")
    with pytest.raises(W.WeightsMismatch, match="corrupt or a different one"):
        W.resolve("tiny.bin")
    for p in (homes / "mine" / "tiny.bin", hub / "tiny.bin"):
        p.unlink()
    monkeypatch.setenv("GVCBENCH_OFFLINE", "1")
    with pytest.raises(W.MissingWeights, match="downloads are off"):
        W.resolve("tiny.bin")


def test_weights_command_lists_what_each_metric_needs(homes):
    r = subprocess.run([sys.executable, "-m", "gvcbench", "weights"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name in ("alexnet-owt-7be5be79.pth", "i3d_torchscript.pt", "lpips-v0.1-alex.pth"):
        assert name in r.stdout
    assert "missing" in r.stdout and "present" in r.stdout
