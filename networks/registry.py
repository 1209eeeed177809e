"""Name -> spec registries for datasets and models: one place for adding and looking up."""

from __future__ import annotations

from typing import Generic, TypeVar

from common.errors import UsageError

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """A dict of specs by ``spec.name``; an unknown name is a one-line :class:`UsageError`."""

    def __init__(self, kind: str, *, sort_known: bool = False, hint: str = "") -> None:
        super().__init__()
        self.kind, self.sort_known, self.hint = kind, sort_known, hint

    def register(self, spec: T) -> T:
        name = spec.name  # type: ignore[attr-defined]
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self[name] = spec
        return spec

    def lookup(self, name: str) -> T:
        try:
            return self[name]
        except KeyError:
            known = ", ".join(sorted(self) if self.sort_known else self)
            raise UsageError(f"unknown {self.kind} {name!r} (known: {known}{self.hint})") from None
