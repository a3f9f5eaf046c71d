"""Typed mapping between Table Storage entities and the dataclasses that model them: the fields
a dataclass declares are taken from an entity (absent or null ones keep their defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def from_entity(cls: type[T], entity: Mapping[str, Any], **overrides: Any) -> T:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    values = {k: v for k, v in entity.items() if k in known and v is not None}
    return cls(**{**values, **overrides})


def etag_of(entity: Any) -> str | None:
    """The ETag an entity was read with (TableEntity.metadata), for a conditional write back."""
    metadata = getattr(entity, "metadata", None) or {}
    return metadata.get("etag")
