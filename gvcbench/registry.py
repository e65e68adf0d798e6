"""A generic registry of named, lazily imported entries (codecs, metrics, datasets).

Built-ins are registered as ``"module:attr"`` strings so heavy dependencies load only
when an entry is used; third-party entries come from an entry-point group scanned once.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from .errors import GvcbenchError, UnknownNameError

T = TypeVar("T")


def similar_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names ``name`` may have meant, best first: those that start with it, then
    those that hold it, then the closest in spelling. By spelling alone, 'psnr' is nearer
    'xpsnr' than 'psnr-y'; a name typed short is more often the start of the one meant."""
    names = sorted(known)
    typed = name.strip().lower()  # ' psnr' from a list written with spaces
    starts = [k for k in names if typed and k.lower().startswith(typed)]
    holds = [k for k in names if typed and typed in k.lower() and k not in starts]
    close = [k for k in difflib.get_close_matches(name, names, n=n) if k not in starts and k not in holds]
    return (starts + holds + close)[:n]


@dataclass
class _Entry:
    target: Any  # "module:attr" string, an entry point, or (once loaded) the object
    origin: str  # "built-in" or "plugin <dist>"
    loaded: bool = False


def _own_name(obj) -> str | None:
    """The name a codec (``name``) or a metric (``spec.name``) gives itself, if any."""
    spec = getattr(obj, "spec", None)
    name = getattr(spec, "name", None) if spec is not None else getattr(obj, "name", None)
    return name if isinstance(name, str) else None


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str, base: type | None = None):
        self.kind = kind
        self.group = group
        self.base = base
        self._entries: dict[str, _Entry] = {}
        self._plugins_loaded = False

    def register(self, name: str, target: Any, origin: str = "built-in") -> None:
        if name in self._entries:
            raise GvcbenchError(f"{self.kind} {name!r} is registered twice ({self._entries[name].origin} and {origin})")
        lazy = isinstance(target, str) or hasattr(target, "load")  # "module:attr" or an entry point
        self._entries[name] = _Entry(target, origin, loaded=not lazy)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            origin = f"plugin {dist.name if dist else ep.value}"
            if ep.name in self._entries:  # a built-in name wins, and the plugin's author hears of it
                logging.getLogger("gvcbench").warning(
                    f"{self.kind} {ep.name!r} of {origin} is not used: {self._entries[ep.name].origin} "
                    f"already has that name; register it under another name"
                )
                continue
            self.register(ep.name, ep, origin=origin)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        self._load_plugins()
        return self._entries[name].origin

    def get(self, name: str) -> T:
        self._load_plugins()
        entry = self._entries.get(name)
        if entry is None:
            close = similar_names(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}.")
        if entry.loaded:
            return entry.target
        if isinstance(entry.target, str):
            module, _, attr = entry.target.partition(":")
            obj = getattr(importlib.import_module(module), attr)
        else:
            obj = entry.target.load()
        if self.base is not None and isinstance(obj, type) and not issubclass(obj, self.base):
            raise GvcbenchError(f"{self.kind} {name!r} ({entry.origin}) is not a {self.base.__name__}")
        own = _own_name(obj) if self.base is not None else None  # codecs and metrics name themselves
        if own is not None and own != name:  # results would be stored under one name, provenance under the other
            raise GvcbenchError(
                f"{self.kind} {name!r} ({entry.origin}) is registered under another name than its own "
                f"({own!r}); register it as {own!r} or change its name"
            )
        entry.target, entry.loaded = obj, True
        return obj

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
