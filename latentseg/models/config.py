"""Model configurations: frozen dataclasses of plain values, checked on creation and stored in checkpoints."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

from ..checks import check_number, check_positive_int

C = TypeVar("C", bound="BaseConfig")


class BaseConfig:
    """Checks every field on creation: ``int`` fields must be positive ints no larger than their
    bound (``LIMITS``, else ``MAX_INT``: a typo must not allocate the machine's memory), ``float``
    fields finite numbers ≥ 0, ``bool`` fields bools.

    Subclasses are ``@dataclass(frozen=True)`` with annotated defaults.
    """

    MAX_INT = 4096
    LIMITS: ClassVar[dict[str, int]] = {}
    RETIRED: ClassVar[dict[str, Any]] = {}  # removed fields and the value they must have had in an old checkpoint
    ADDED: ClassVar[dict[str, Any]] = {}  # fields added with a new default, and the value older checkpoints were built with

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.type in (bool, "bool"):
                if not isinstance(value, bool):
                    raise TypeError(f"{f.name}: expected True or False, got {type(value).__name__} {value!r}")
            elif f.type in (float, "float"):
                check_number(f.name, value)
            else:
                check_positive_int(f.name, value)
                limit = self.LIMITS.get(f.name, self.MAX_INT)
                if value > limit:
                    raise ValueError(f"{f.name}: expected a positive int of at most {limit}, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def merged(cls: type[C], config: C | None = None, **overrides: Any) -> C:
        """``config`` (or the defaults) with ``overrides`` applied, checked again."""
        return cls(**{**(config or cls()).to_dict(), **overrides})

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a plain dict, naming any key that is not a config field."""
        if not isinstance(data, dict):
            raise TypeError(f"config: expected a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        for name, value in cls.RETIRED.items():
            if name in data and data[name] != value:
                raise ValueError(f"config: {name}={data[name]!r} was a switch measured and removed from latentseg; "
                                 "this model cannot be built any more: train it again")
        data = {k: v for k, v in data.items() if k not in cls.RETIRED}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config: unknown keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_saved(cls: type[C], data: dict[str, Any]) -> C:
        """:meth:`from_dict` for a config a checkpoint stored: a field it lacks takes its ``ADDED`` value
        (what models saved before the field existed were), not today's default."""
        return cls.from_dict(cls.ADDED | data if isinstance(data, dict) else data)
