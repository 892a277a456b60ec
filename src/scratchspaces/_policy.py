"""The user depot's persistent policy, in ``<user depot>/config.toml``.

::

    [gc]
    auto = "on"            # automatic gc; SCRATCHSPACES_GC_AUTO=0 turns it off too
    interval = "1d"        # how often; 0: at the first use in every process
    collect-delay = "7d"   # how long an orphan is kept
    max-age = "90d"        # also delete what was not used for this long (default: none)
    max-size = "20G"       # then evict the least recently used until the depot fits

Read by automatic gc and by ``gc()`` / ``scratchspaces gc`` for every option they are
not given; written by ``scratchspaces config set | unset``. A file that cannot be read,
or a value that is not valid, is an error naming the file: never guessed around, since
a guess could delete what the policy keeps.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import _autogc, _fs, _toml, _units
from .errors import DepotError

CONFIG_NAME = "config.toml"
LOCK_NAME = "config.lock"
DEFAULTS = {
    "gc.auto": "on",
    "gc.interval": "1d",
    "gc.collect-delay": "7d",
    "gc.max-age": "none",
    "gc.max-size": "none",
}
KEYS = tuple(DEFAULTS)
_ON = {"on": "on", "true": "on", "yes": "on", "1": "on"}
_ON.update({"off": "off", "false": "off", "no": "off", "0": "off"})


@dataclass(frozen=True)
class Policy:
    """What gc does when not told otherwise."""

    auto: bool = True
    interval: timedelta = timedelta(days=1)
    collect_delay: timedelta = timedelta(days=7)
    max_age: timedelta | None = None
    max_size: int | None = None


@dataclass(frozen=True)
class Setting:
    """One key of the policy: its value and where the value comes from."""

    key: str
    value: str
    source: str
    """``default``, the config file's path, or ``$SCRATCHSPACES_GC_AUTO``."""


def config_path(depot: str) -> str:
    """Return ``<depot>/config.toml``."""
    return os.path.join(depot, CONFIG_NAME)


def check(key: str, value: str) -> str:
    """Return ``value`` for ``key`` written the way the file keeps it (``7d``, ``2G``, ``on``).

    Raises:
        KeyError: ``key`` is not a policy key.
        ValueError: ``value`` is not valid for it.
    """
    if key not in DEFAULTS:
        raise KeyError(f"unknown key {key!r}: use one of {', '.join(KEYS)}")
    text = value.strip()
    if key == "gc.auto":
        if text.lower() not in _ON:
            raise ValueError(f"invalid value {value!r} for gc.auto: use on or off")
        return _ON[text.lower()]
    if key in {"gc.max-age", "gc.max-size"} and text.lower() == "none":
        return "none"
    if key == "gc.max-size":
        _units.parse_size(text)
        return text.upper()
    return _units.format_duration(_units.parse_duration(text))


def _read(depot: str) -> dict[str, Any]:
    """Return the whole parsed file, ``{}`` if there is none.

    Raises:
        DepotError: it cannot be read, or is not valid TOML.
    """
    path = config_path(depot)
    try:
        with open(path, "rb") as f:
            return _toml.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise DepotError(path, f"the policy is not valid TOML ({exc})") from exc
    except OSError as exc:
        raise DepotError.of(path, "cannot read the policy", exc) from exc


def _stored(depot: str) -> dict[str, str]:
    """Return each key the file sets, its value checked.

    Raises:
        DepotError: the file cannot be read, or a value in it is not valid.
    """
    data = _read(depot)
    table = data.get("gc", {})
    if not isinstance(table, dict):
        raise DepotError(config_path(depot), "[gc] is not a table")
    found: dict[str, str] = {}
    for name, value in table.items():
        key = f"gc.{name}"
        if key not in DEFAULTS:
            continue  # a later version's key: kept in the file, not ours to judge
        if not isinstance(value, str | int | bool):
            raise DepotError(config_path(depot), f"{key}: {value!r} is not a valid value")
        try:
            found[key] = check(key, str(value).lower() if isinstance(value, bool) else str(value))
        except ValueError as exc:
            raise DepotError(config_path(depot), f"{key}: {exc}") from None
    return found


def settings(depot: str, *, environment: bool = True) -> list[Setting]:
    """Return every key with its value and source, in the order of :data:`KEYS`.

    ``environment``: let ``SCRATCHSPACES_GC_AUTO=0`` turn ``gc.auto`` off.

    Raises:
        DepotError: the file cannot be read, or a value in it is not valid.
    """
    stored = _stored(depot)
    found = []
    for key in KEYS:
        if key in stored:
            found.append(Setting(key, stored[key], config_path(depot)))
        else:
            found.append(Setting(key, DEFAULTS[key], "default"))
    if environment and not _autogc.enabled():
        found[0] = Setting("gc.auto", "off", f"${_autogc.AUTO_VAR}")
    return found


def policy(depot: str, *, environment: bool = True) -> Policy:
    """Return the depot's policy (``SCRATCHSPACES_GC_AUTO=0`` turns ``auto`` off).

    Raises:
        DepotError: the file cannot be read, or a value in it is not valid.
    """
    values = {s.key: s.value for s in settings(depot, environment=environment)}
    age, size = values["gc.max-age"], values["gc.max-size"]
    return Policy(
        auto=values["gc.auto"] == "on",
        interval=_units.parse_duration(values["gc.interval"]),
        collect_delay=_units.parse_duration(values["gc.collect-delay"]),
        max_age=None if age == "none" else _units.parse_duration(age),
        max_size=None if size == "none" else _units.parse_size(size),
    )


def update(depot: str, key: str, value: str | None) -> None:
    """Set ``key`` to ``value`` in the depot's policy, or back to its default (None).

    Other keys, including those of later versions, are kept. The next automatic gc is
    rescheduled to follow the new ``gc.auto`` and ``gc.interval``.

    Raises:
        KeyError: not a policy key.
        ValueError: not a valid value for it.
        DepotError: the file cannot be read (it is left as it is) or written.
    """
    canonical = None if value is None else check(key, value)
    if canonical is None and key not in DEFAULTS:
        raise KeyError(f"unknown key {key!r}: use one of {', '.join(KEYS)}")
    import tomli_w  # noqa: PLC0415 - only to write the policy

    from . import _locks  # noqa: PLC0415 - only to write the policy

    _fs.make_dirs(os.path.join(depot, "logs"))
    with _locks.lock(os.path.join(depot, "logs", LOCK_NAME), 30):
        data = _read(depot)
        _stored(depot)  # a file with a value that is not valid is fixed by hand, not overwritten
        table = data.setdefault("gc", {})
        name = key.removeprefix("gc.")
        if canonical is None:
            table.pop(name, None)
        else:
            table[name] = canonical
        if not table:
            del data["gc"]
        _fs.atomic_write(config_path(depot), tomli_w.dumps(data).encode())
    reschedule(depot)


def reschedule(depot: str) -> None:
    """Date the automatic gc's marker by the policy: the last run plus the interval.

    Raises:
        DepotError: the policy cannot be read.
        OSError: the marker cannot be written.
    """
    current = policy(depot, environment=False)  # the variable is one process's, not the depot's
    now = time.time()
    last = _autogc.last_started(depot)
    if not current.auto:
        _autogc.schedule(depot, last or 0.0, now + _autogc.OFF_FOR)
    elif last is None:
        _autogc.schedule(depot, 0.0, now)  # never ran: due now
    else:
        _autogc.schedule(depot, last, last + current.interval.total_seconds())
