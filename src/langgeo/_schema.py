"""The validator behind :mod:`langgeo.params`: a section of ``params.yaml`` is a frozen dataclass
whose fields declare their rules (:func:`param`), and :func:`build` reads a mapping into it.

A field's type says what its value must be (``bool``, ``int``, ``float``, ``str``, ``X | None``
where null is allowed, ``tuple[X, ...]`` for a YAML list, ``dict[str, tuple[X, ...]]``, or
another section); every number must also be finite. The keys a section allows are its fields,
so a typo is refused naming the nearest valid key. Every message names the dotted key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

from langgeo import LanggeoError

# The rules a field may declare in param(...), and their defaults.
_RULES: dict[str, Any] = dict(choices=(), gt=None, ge=None, lt=None, le=None, why="",
                              min_len=0, distinct=False, what="", required=False, sources=None,
                              catalog=None, check=None, from_key=True)


def param(default: Any = dataclasses.MISSING, **rules: Any) -> Any:
    """A dataclass field with its validation ``rules`` (of :data:`_RULES`) as metadata.

    ``choices``: allowed strings (of a string, of a list's items, of a mapping's keys).
    ``gt``/``ge``/``lt``/``le``: bounds of a number or of a list's numbers; ``why`` explains
    them in the message. ``min_len``, ``distinct``: of a list, whose items are ``what``
    (singular). ``required``: the key must be present although the field has a default.
    ``sources``: the catalog sources that understand the key (None: all). ``catalog``: the
    value names entries of that top-level catalog. ``check(key, value)``: a rule of its own,
    raising :class:`LanggeoError`. ``from_key=False``: filled by the reader, not a key."""
    if unknown := set(rules) - set(_RULES):
        raise TypeError(f"param() has no rule(s) {sorted(unknown)}")
    return dataclasses.field(default=default, metadata={**_RULES, **rules})


def check_keys(section: Any, where: str, allowed: set[str], context: str = "") -> None:
    """Reject keys of mapping ``section`` (at dotted path ``where``) not in ``allowed``,
    naming the nearest valid key."""
    if not isinstance(section, dict):
        return  # its type is reported where the section is read
    unknown = sorted(str(k) for k in section if k not in allowed)
    if not unknown:
        return
    near = {k: difflib.get_close_matches(k, sorted(allowed), n=1) for k in unknown}
    hint = ", ".join(f"{k!r} -> {m[0]!r}" for k, m in near.items() if m)
    raise LanggeoError(f"params: '{where or '(top level)'}' has unknown key(s) {unknown}"
                       f"{context}{f' (did you mean: {hint}?)' if hint else ''}; allowed: "
                       f"{sorted(allowed)}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # the annotations are strings (future annotations)


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(tp, False)``."""
    if isinstance(tp, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None)), True
    return tp, False


def _join(*words: str) -> str:
    return " ".join(w for w in words if w)


def _range(meta: Mapping[str, Any], kind: type) -> str:
    """The bounds of ``meta`` in words: '> 0', 'in (0, 1]', 'a positive integer'..."""
    gt, ge, lt, le = meta["gt"], meta["ge"], meta["lt"], meta["le"]
    if kind is int and (lt, le) == (None, None) and (gt == 0 or (ge or 0) >= 1):
        return _join("a positive integer", f">= {ge}" if ge and ge > 1 else "")
    if gt is not None and lt is not None:
        return f"strictly between {gt} and {lt}"
    low, high = (gt, ge) != (None, None), (lt, le) != (None, None)
    if low and high:
        return (f"in {'(' if gt is not None else '['}{ge if gt is None else gt}, "
                f"{le if lt is None else lt}{')' if lt is not None else ']'}")
    return _join(*(f"{op} {bound}" for op, bound in
                   (("<", lt), ("<=", le), (">", gt), (">=", ge)) if bound is not None))


_TYPE_NAMES = {bool: "bool", int: "int", float: "a number", str: "a string", tuple: "a list",
               dict: "a mapping"}


def _wrong_type(key: str, value: Any, kind: type, nullable: bool) -> LanggeoError:
    return LanggeoError(f"params: '{key}' must be {_TYPE_NAMES[kind]}"
                        f"{' or null' if nullable else ''}, got {value!r}")


def _number(key: str, value: Any, kind: type, meta: Mapping[str, Any], nullable: bool) -> Any:
    # bool is an int subclass; a YAML `true` where a number belongs is a typo, not a 1. An int
    # field takes no float, not even 2.0: a count written as a float is most likely a slip.
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise _wrong_type(key, value, kind, nullable)
    try:
        number = float(value) if kind is float else value
    except OverflowError:  # an int too large for a float
        number = math.inf
    finite = kind is int or math.isfinite(number)
    gt, ge, lt, le = meta["gt"], meta["ge"], meta["lt"], meta["le"]
    if not finite or not ((gt is None or number > gt) and (ge is None or number >= ge)
                          and (lt is None or number < lt) and (le is None or number <= le)):
        should = _join("null or" if nullable else "", "" if finite else "a finite number",
                       _range(meta, kind))
        raise LanggeoError(f"params: '{key}' must be {should}{meta['why']}, got {value!r}")
    return number


def _items(key: str, value: Any, kind: type, meta: Mapping[str, Any]) -> tuple[Any, ...]:
    """A YAML list of ``kind`` items, each checked as a value of its own (``key[i]``)."""
    if not isinstance(value, list):
        raise _wrong_type(key, value, tuple, False)
    item_meta = {**meta, "choices": ()}  # a list's choices are reported for the whole list
    items = tuple(_value(f"{key}[{i}]", v, kind, item_meta) for i, v in enumerate(value))
    unknown = [v for v in items if meta["choices"] and v not in meta["choices"]]
    if unknown:
        raise LanggeoError(f"params: '{key}' has {unknown}; choose from "
                           f"{list(meta['choices'])}")
    twice = [v for i, v in enumerate(items) if meta["distinct"] and v in items[:i]]
    if twice:
        raise LanggeoError(f"params: '{key}' lists {twice[0]!r} twice: {value}")
    n = meta["min_len"]
    if len(items) < n:
        count = _join(f"at least {({1: 'one', 2: 'two', 3: 'three', 4: 'four'}).get(n, n)}",
                      "distinct" if meta["distinct"] and n > 1 else "",
                      meta["what"] + ("s" if n > 1 else ""),
                      _range(meta, kind) if kind in (int, float) else "")
        raise LanggeoError(f"params: '{key}' is empty; list {count}" if not items else
                           f"params: '{key}' must list {count}, got {value!r}")
    return items


def _value(key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    """``value`` (at dotted ``key``) checked against type ``tp`` and the rules in ``meta``."""
    kind, nullable = _unwrap(tp)
    if value is None and nullable:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        return _items(key, value, args[0], meta)
    if origin is dict:  # choice -> list, e.g. synthetic transformation -> strengths
        if not isinstance(value, dict):
            raise _wrong_type(key, value, dict, nullable)
        if not value:
            raise LanggeoError(f"params: '{key}' is empty; give at least one of "
                               f"{list(meta['choices'])}, e.g. {meta['choices'][0]}: [...]")
        for name in value:
            if name not in meta["choices"]:
                raise LanggeoError(f"params: '{key}' has {name!r}; choose from "
                                   f"{list(meta['choices'])}")
        inner = {**meta, "choices": ()}
        return {name: _value(f"{key}.{name}", v, args[1], inner) for name, v in value.items()}
    if kind in (int, float):
        return _number(key, value, kind, meta, nullable)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _wrong_type(key, value, kind, nullable)
    if meta["choices"] and value not in meta["choices"]:
        raise LanggeoError(f"params: '{key}' is {value!r}; choose one of {list(meta['choices'])}")
    if meta["check"]:
        meta["check"](key, value)
    return value


def build(cls: type, where: str, section: Any, root: dict[str, Any], source: str | None = None,
           **given: Any) -> Any:
    """Read mapping ``section`` (at dotted path ``where``; "" is the top level) into section
    dataclass ``cls``. ``root``: the whole params (where catalogs are). ``source``: of a
    catalog entry, whose keys depend on it. ``given``: the fields that are not keys."""
    if not isinstance(section, dict):
        raise LanggeoError(f"params: '{where}' must be a mapping, got {section!r}")
    fields = [f for f in dataclasses.fields(cls) if f.metadata["from_key"]
              and (source is None or f.metadata["sources"] is None
                   or source in f.metadata["sources"])]
    catalogs = {f.metadata["catalog"] for f in fields if f.metadata["catalog"]}
    check_keys(section, where, {f.name for f in fields} | catalogs,
               f" for source {source!r}" if source else "")
    values = {}
    for f in fields:
        key, tp = f"{where}.{f.name}".lstrip("."), _hints(cls)[f.name]
        section_type = dataclasses.is_dataclass(_unwrap(tp)[0])
        # A section set to null is left out (its default, if any); a required key must
        # hold a value even where its type allows null for other sources.
        if f.name in section and not (section_type and section[f.name] is None):
            if section_type:
                values[f.name] = build(_unwrap(tp)[0], key, section[f.name], root)
            elif f.metadata["catalog"]:
                values[f.name] = _named(key, section[f.name], tp, f.metadata, root)
            elif f.metadata["required"] and section[f.name] is None:
                raise _wrong_type(key, None, _unwrap(tp)[0], False)
            else:
                values[f.name] = _value(key, section[f.name], tp, f.metadata)
        elif f.metadata["required"] or f.default is dataclasses.MISSING:
            raise LanggeoError(f"params: missing '{key}'; see params.yaml in the repository")
    return cls(**values, **given)


def _named(key: str, value: Any, tp: Any, meta: Mapping[str, Any],
           raw: dict[str, Any]) -> tuple[Any, ...]:
    """The catalog entries (of class ``tp``'s items) that list ``value`` names."""
    names, name = _items(key, value, str, meta), meta["catalog"]
    if name not in raw:
        raise LanggeoError(f"params: missing '{name}'; see params.yaml in the repository")
    catalog = raw[name]
    if not isinstance(catalog, dict):
        raise LanggeoError(f"params: '{name}' must be a mapping, got {catalog!r}")
    for n in names:
        if n not in catalog:
            raise LanggeoError(f"params: '{key}' names {n!r}, which is not in '{name}' "
                               f"{sorted(catalog)}")
    return tuple(entry(typing.get_args(tp)[0], name, n, catalog[n]) for n in names)


def entry(cls: type, catalog: str, name: str, entry: Any) -> Any:
    """Catalog entry ``name`` as a ``cls`` (ModelSpec, DatasetSpec): its keys per source."""
    where = f"{catalog}.{name}"
    if not isinstance(entry, dict) or "source" not in entry:
        raise LanggeoError(f"params: missing '{where}.source'; see params.yaml in the "
                           "repository")
    source_field = next(f for f in dataclasses.fields(cls) if f.name == "source")
    source = _value(f"{where}.source", entry["source"], str, source_field.metadata)
    return build(cls, where, entry, {}, source=source, name=name)
