"""Generic readers for TOML-shaped dicts that raise one-line :class:`ConfigError` messages.

Every message is ``<source>: <dotted.field>: <problem>``; :mod:`ampsim.hardware.parse` builds the
hardware-specific readers on top of :class:`FieldReader`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ampsim.config import too_large
from ampsim.errors import ConfigError, listed
from ampsim.fieldspec import type_name, unknown_key

__all__ = ["FieldReader", "MAX_FACTOR", "REQUIRED"]

#: the slowest rate (FLOP/s, B/s) and the longest duration (s) a hardware field may give: finite times
MIN_RATE = 1.0
MAX_SECONDS = 1e9
#: the fastest rate a hardware field may give: 10^12 times today's fastest chips and links, and above the 1e30 B/s
#: that stands for "free" memory traffic in tests; a machine's totals (65,536 chips' FLOP/s, a bisection of up to
#: MAX_LINKS fat-tree links, each at most 65,536 times the [link] bandwidth) stay far below a float's 1.8e308, where
#: 1e308 FLOP/s made ``ampsim info``'s total inf
MAX_RATE = 1e30
#: the largest factor a field may multiply durations by (``chip.contention_slowdown``: 1e308 made times inf, and
#: the contention model's rescheduling then looped for ever)
MAX_FACTOR = 1e3


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


class FieldReader:
    """Field readers that raise one-line ConfigErrors prefixed with the file name."""

    def __init__(self, source_name: str) -> None:
        self.src = source_name

    def fail(self, field: str, msg: str) -> None:
        raise ConfigError(f"{self.src}: {field}: {msg}" if field else f"{self.src}: {msg}")

    def check_keys(self, d: Mapping[str, Any], where: str, allowed: tuple[str, ...], also: str = "") -> None:
        """One line naming the first key of ``d`` not ``allowed``, ``also`` (more on the cause) after it."""
        for key in d:
            if key not in allowed:
                self.fail(f"{where}.{key}" if where else str(key), unknown_key(key, allowed) + also)

    def table(self, d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        if key not in d:
            self.fail(key, "missing required table")
        if not isinstance(d[key], Mapping):
            self.fail(key, f"expected a table, got {type_name(d[key])}")
        return d[key]

    def array_of_tables(self, d: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        items = d.get(key, [])
        if not isinstance(items, list):
            self.fail(key, f"expected an array of tables ([[{key}]]), got {type_name(items)}")
        for k, item in enumerate(items):
            if not isinstance(item, Mapping):
                self.fail(f"{key}[{k}]", f"expected a table, got {type_name(item)}")
        return items

    def _get(self, d: Mapping[str, Any], where: str, key: str, default: Any) -> Any:
        if key in d:
            return d[key]
        if default is REQUIRED:
            self.fail(f"{where}.{key}", "missing required field")
        return default

    def string(self, d: Mapping[str, Any], where: str, key: str, default: Any = None,
               allow_empty: bool = False) -> str:
        x = self._get(d, where, key, REQUIRED if default is None else default)
        if not isinstance(x, str):
            self.fail(f"{where}.{key}", f"expected a string, got {type_name(x)} {x!r}")
        if not allow_empty and not x.strip():
            self.fail(f"{where}.{key}", "must not be empty")
        return x

    def boolean(self, d: Mapping[str, Any], where: str, key: str, default: bool) -> bool:
        x = self._get(d, where, key, default)
        if not isinstance(x, bool):
            self.fail(f"{where}.{key}", f"expected true or false, got {type_name(x)} {x!r}")
        return x

    def number(self, d: Mapping[str, Any], where: str, key: str, minimum: float | None = None,
               default: Any = REQUIRED, maximum: float | None = None) -> Any:
        """A finite float, > 0 when ``minimum`` is None, else >= ``minimum`` (and <= ``maximum`` where given).
        An absent key fails when ``default`` is ``REQUIRED``, else returns ``default``."""
        field = f"{where}.{key}"
        if key not in d:
            if default is REQUIRED:
                self.fail(field, "missing required field")
            return default
        x = d[key]
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            self.fail(field, f"expected a number, got {type_name(x)} {x!r}")
        if isinstance(x, int) and abs(x) > 1e308:  # TOML's integers are unbounded; a float's range is not
            self.fail(field, f"{str(x)[:20]}… is beyond a float's range")
        if not math.isfinite(x):
            self.fail(field, f"must be finite, got {x!r}")
        if minimum is None and not x > 0:
            self.fail(field, f"must be > 0, got {x!r}")
        if minimum is not None and x < minimum:
            self.fail(field, f"must be >= {minimum:g}, got {x!r}")
        if maximum is not None and x > maximum:
            self.fail(field, f"must be <= {maximum:g}, got {x!r}")
        # finite is not enough where simulated time divides by a rate or adds a duration: 1e-320 FLOP/s or a
        # 1e308 s overhead made a run's time inf or nan, and a latency of 1e308 s overflowed the routes
        if key.endswith("_per_s") and x < MIN_RATE:
            self.fail(field, f"must be >= {MIN_RATE:g} (a rate per second), got {x!r}")
        if key.endswith("_per_s") and x > MAX_RATE:
            self.fail(field, f"must be <= {MAX_RATE:g} (a rate per second), got {x!r}")
        # (a duration, or one per unit: remote_send_s_per_byte, controller_s_per_instance, a table's seconds)
        seconds = (key.endswith("_s") and not key.endswith("_per_s")) or "_s_per_" in key or key == "seconds"
        if seconds and x > MAX_SECONDS:
            self.fail(field, f"must be <= {MAX_SECONDS:g} s, got {x!r}")
        return float(x)

    def integer(self, d: Mapping[str, Any], where: str, key: str, minimum: int,
                allow_integral_float: bool = False, maximum: int | None = None) -> int:
        field = f"{where}.{key}"
        x = self._get(d, where, key, REQUIRED)
        if allow_integral_float and isinstance(x, float) and math.isfinite(x) and x.is_integer():
            x = int(x)
        if isinstance(x, bool) or not isinstance(x, int):
            self.fail(field, f"expected an integer, got {type_name(x)} {x!r}")
        self.not_too_large(field, x)
        if x < minimum:
            self.fail(field, f"must be >= {minimum}, got {x!r}")
        if maximum is not None and x > maximum:
            self.fail(field, f"must be <= {maximum:,}, got {x!r}")
        return x

    def not_too_large(self, field: str, x: Any) -> None:
        """Fail for an integer beyond 2**53 before any message shows it: a product of 4,000-digit sizes could not
        be written (Python converts 4,300 digits), and a 400-digit one filled the line."""
        if (why := too_large(x)) is not None:
            self.fail(field, why)

    def int_list(self, d: Mapping[str, Any], where: str, key: str, n_chips: int) -> list[int]:
        field = f"{where}.{key}"
        ids = self._get(d, where, key, REQUIRED)
        if not isinstance(ids, list) or not ids:
            self.fail(field, f"expected a non-empty array of chip indices, got {ids!r}")
        for i in ids:
            self.not_too_large(field, i)
            if isinstance(i, bool) or not isinstance(i, int):
                self.fail(field, f"expected chip indices (integers), got {type_name(i)} {i!r}")
            if not 0 <= i < n_chips:
                self.fail(field, f"no chip {i} (chips are 0..{n_chips - 1})")
        return ids

    def edge_list(self, t: Mapping[str, Any], where: str,
                  max_n: int) -> tuple[tuple[tuple[int, int], ...], int]:
        """``t["edges"]``: distinct [a, b] chip pairs, a connected graph on chips 0..n-1 with
        ``n = t["n"]`` if given, else the largest index + 1 (at most ``max_n``).
        Returns (pairs with a < b, n)."""
        edges = t["edges"]
        if not isinstance(edges, list) or not edges:
            self.fail(f"{where}.edges", f"expected a non-empty array of [a, b] chip pairs, got {edges!r}")
        seen: set[tuple[int, int]] = set()
        out: list[tuple[int, int]] = []
        for k, e in enumerate(edges):
            field = f"{where}.edges[{k}]"
            for x in e if isinstance(e, list) else ():
                self.not_too_large(field, x)
            if (not isinstance(e, list) or len(e) != 2
                    or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in e)):
                self.fail(field, f"expected [a, b] with chip indices >= 0, got {e!r}")
            a, b = sorted(e)
            if a == b:
                self.fail(field, f"self-loop on chip {a}")
            if (a, b) in seen:
                self.fail(field, f"duplicate link {e!r}")
            seen.add((a, b))
            out.append((a, b))
        top = max(b for _, b in out) + 1
        n_chips = self.integer(t, where, "n", minimum=1) if "n" in t else top
        if top > n_chips:
            self.fail(f"{where}.edges", f"names chip {top - 1} but {where}.n = {n_chips}")
        if n_chips > max_n:
            self.fail(where, f"explicit topology has {n_chips} chips, more than the limit of {max_n}")
        adj: dict[int, list[int]] = {i: [] for i in range(n_chips)}
        for a, b in out:
            adj[a].append(b)
            adj[b].append(a)
        reached, stack = {0}, [0]
        while stack:
            for w in adj[stack.pop()]:
                if w not in reached:
                    reached.add(w)
                    stack.append(w)
        if len(reached) < n_chips:
            missing = sorted(set(range(n_chips)) - reached)
            self.fail(f"{where}.edges", f"disconnected: chips {{{listed(missing)}}} unreachable from chip 0")
        return tuple(out), n_chips
