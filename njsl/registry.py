"""One registry helper for every "pick an implementation by name" table of the project.

Used by the taggers (``data_tagging.registry.TAGGERS``), predictors (``performance_prediction.predictors``),
model families and objectives (``pretraining.models.registry``, ``pretraining.models.objectives``). It gives
them the same behaviour:

* a name (or alias) registered twice is refused (:class:`DuplicateName`, a programming error);
* an unknown name is refused with a did-you-mean and the known names (the registry's user error class);
* options: :meth:`Registry.pick_options` passes an entry the options it accepts and refuses an option that no
  entry accepts (a typo), so one shared option set can still serve every entry;
* lazy entries: ``plugins`` are modules imported on first lookup (they register themselves with the
  decorator), and :meth:`Registry.register_lazy` names an entry by ``"module:attribute"``. Neither is a static
  import, so a plugin module may import the registry without an import cycle, and listing names never
  imports what the entries need (torch, spaCy...).
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(ValueError):
    """An unknown name or option (default error class; registries usually pass their package's own)."""


class DuplicateName(RuntimeError):
    """A name or alias registered twice: two implementations would silently shadow each other."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(Generic[T]):
    """Name → entry, with aliases, lazy entries and the checks above.

    ``kind`` names an entry in messages ("predictor", "feature"); ``where`` prefixes them (e.g. the flag or
    config field the name came from); ``error`` is the exception class for unknown names and options.
    """

    def __init__(self, kind: str, *, where: str = "", error: type[Exception] = RegistryError,
                 plugins: Iterable[str] = ()) -> None:
        self.kind, self.where, self.error = kind, where, error
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        self._plugins = tuple(plugins)
        self._plugins_loaded = not self._plugins

    # ----------------------------------------------------------------------------------- registration
    def _claim(self, names: Iterable[str]) -> None:
        for key in names:
            if key in self._entries or key in self._lazy or key in self._aliases:
                raise DuplicateName(f"{self.kind} name {key!r} registered twice")

    def add(self, name: str, entry: T, *, aliases: Iterable[str] = ()) -> T:
        """Register ``entry`` under ``name`` (and ``aliases``); returns ``entry``."""
        aliases = tuple(aliases)
        self._claim((name, *aliases))
        self._entries[name] = entry
        self._aliases.update({a: name for a in aliases})
        return entry

    def register(self, name: str, *, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        def deco(entry: T) -> T:
            return self.add(name, entry, aliases=aliases)
        return deco

    def register_lazy(self, name: str, target: str, *, aliases: Iterable[str] = ()) -> None:
        """Register ``"package.module:attribute"``, imported when the entry is first looked up."""
        if ":" not in target:
            raise ValueError(f"lazy {self.kind} {name!r}: target must be 'module:attribute', got {target!r}")
        aliases = tuple(aliases)
        self._claim((name, *aliases))
        self._lazy[name] = target
        self._aliases.update({a: name for a in aliases})

    def remove(self, name: str) -> T | None:
        """Unregister ``name`` (and its aliases); returns the entry if it was loaded."""
        self._aliases = {a: n for a, n in self._aliases.items() if n != name}
        self._lazy.pop(name, None)
        return self._entries.pop(name, None)

    # ----------------------------------------------------------------------------------- lookup
    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True  # set first: the plugin modules register into this registry
            for module in self._plugins:
                importlib.import_module(module)

    def names(self) -> list[str]:
        """Registered names (aliases excluded), in registration order."""
        self._load_plugins()
        return [*self._entries, *(n for n in self._lazy if n not in self._entries)]

    @property
    def aliases(self) -> dict[str, str]:
        """alias → name."""
        self._load_plugins()
        return dict(self._aliases)

    def canonical(self, name: str) -> str | None:
        """The registered name for ``name`` or an alias of it; None when unknown."""
        self._load_plugins()
        name = self._aliases.get(name, name)
        return name if name in self._entries or name in self._lazy else None

    def unknown(self, name: str, extra: Iterable[str] = ()) -> Exception:
        """The error for an unknown ``name`` (``extra``: further valid words, e.g. feature sets)."""
        known = [*self.names(), *self._aliases, *extra]
        return self.error(f"{self.where}unknown {self.kind} {name!r}{did_you_mean(name, known)}; "
                          f"known: {', '.join(sorted(known))}")

    def get(self, name: str) -> T:
        """The entry for ``name`` (or an alias); the registry's error class with a did-you-mean when unknown."""
        canonical = self.canonical(name)
        if canonical is None:
            raise self.unknown(name)
        if canonical not in self._entries:
            module, _, attr = self._lazy[canonical].partition(":")
            self._entries[canonical] = getattr(importlib.import_module(module), attr)
        return self._entries[canonical]

    __getitem__ = get

    def __setitem__(self, name: str, entry: T) -> None:
        self.add(name, entry)

    def pop(self, name: str, default: T | None = None) -> T | None:
        """Unregister ``name``; returns its loaded entry (or ``default``)."""
        entry = self.remove(name)
        return default if entry is None else entry

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]

    def values(self) -> list[T]:
        return [self.get(n) for n in self.names()]

    # ----------------------------------------------------------------------------------- options
    def pick_options(self, name: str, options: Mapping[str, Any],
                     accepted: Callable[[T], Iterable[str]]) -> dict[str, Any]:
        """The ``options`` entry ``name`` accepts (``accepted(entry)`` lists them).

        An option no entry of the registry accepts is refused with a did-you-mean: it is a typo, not an
        option meant for another entry of a shared option set.
        """
        entry = self.get(name)
        here = set(accepted(entry))
        stray = [k for k in options if k not in here]
        if stray:
            known = set().union(*(set(accepted(e)) for e in self.values()))
            for key in stray:
                if key not in known:
                    raise self.error(f"{self.where}{self.kind} {name!r}: unknown option {key!r}"
                                     f"{did_you_mean(key, known)}; options of {name!r}: {', '.join(sorted(here))}")
        return {k: v for k, v in options.items() if k in here}
