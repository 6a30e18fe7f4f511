"""Provider registries: kind → dotted path, imported lazily on first use.

Payment providers, message channels, calendar backends, geocoders and travel-time sources each
declare one `Registry`; a provider package registers itself by dotted path so nothing is imported
until a provider is actually used (and a broken optional provider can't break start-up).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.module_loading import import_string


class UnknownProvider(LookupError):
    pass


class Registry[T]:
    def __init__(self, name: str, paths: dict[str, str] | None = None) -> None:
        self.name = name
        self._paths: dict[str, str] = dict(paths or {})
        self._loaded: dict[str, type[T]] = {}

    def register(self, kind: str, dotted_path: str) -> None:
        self._paths[kind] = dotted_path
        self._loaded.pop(kind, None)

    def get_class(self, kind: str) -> type[T]:
        if kind not in self._loaded:
            try:
                path = self._paths[kind]
            except KeyError:
                raise UnknownProvider(f"no {self.name} provider {kind!r}") from None
            self._loaded[kind] = import_string(path)
        return self._loaded[kind]

    def create(self, kind: str, **options: Any) -> T:
        return self.get_class(kind)(**options)

    def kinds(self) -> list[str]:
        return sorted(self._paths)

    def __contains__(self, kind: str) -> bool:
        return kind in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self.kinds())
