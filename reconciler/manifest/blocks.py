"""The manifest's `adopt`, `moved` and `removed` blocks, checked against `imports` and against each other.

Each key's import must come from one place: a key of `imports` is created, adopted (`adopt`) or reached
by a move (`moved`), never two of these; a key that left `imports` is moved or removed, not both.
Every breach is reported at its field (`moved[1].from`), all of them in one pass, so that one
`validate` lists them all. Entries the schema already refused are skipped: their shape is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.manifest.yamlload import Path_, Positions
from reconciler.model import Adoption, Move, Removal


class Reporter(Protocol):
    """Where the checks report: the loader's collector of diagnostics."""

    positions: Positions

    def at(self, path: Path_, message: str, *, key: bool = False) -> None: ...

    def spoiled(self, prefix: Path_) -> bool: ...


@dataclass(frozen=True, slots=True)
class Blocks:
    """The three blocks as the Manifest holds them."""

    adopt: dict[str, Adoption]
    moved: dict[str, Move]
    removed: dict[str, Removal]


def read_blocks(document: dict[str, Any], report: Reporter) -> Blocks:
    """The blocks of a manifest document, every rule checked; entries that break one are reported and left out."""
    imports = document.get("imports")
    # With `imports` itself refused, whether a key is in it cannot be judged: those checks are left out.
    keys = {k for k in imports if isinstance(k, str)} if isinstance(imports, dict) else None
    check = _Checks(document, report, keys)
    removed = check.removed()
    moved, targets = check.moved(removed)
    return Blocks(check.adopt(targets), moved, removed)


class _Checks:
    def __init__(self, document: dict[str, Any], report: Reporter, keys: set[str] | None) -> None:
        self.document = document
        self.report = report
        self.keys = keys

    def entries(self, block: str, fields: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
        """The block's entries that the schema found well formed, with their index."""
        value = self.document.get(block)
        if not isinstance(value, list):
            return
        for i, item in enumerate(value):
            well_formed = isinstance(item, dict) and all(isinstance(item.get(f), str) for f in fields)
            if well_formed and not self.report.spoiled((block, i)):
                yield i, item

    def line(self, path: Path_) -> int:
        return self.report.positions.of_value(path).line

    def in_imports(self, key: str) -> bool | None:
        return None if self.keys is None else key in self.keys

    def removed(self) -> dict[str, Removal]:
        removed: dict[str, Removal] = {}
        first: dict[str, int] = {}
        for i, item in self.entries("removed", ("key",)):
            key, where = item["key"], ("removed", i, "key")
            if self.in_imports(key):
                self.report.at(
                    where, f"{key!r} is still in imports; a removed key must leave imports (delete it there)"
                )
            if key in first:
                self.report.at(where, f"{key!r} is already removed by removed[{first[key]}]; list each key once")
                continue
            first[key] = i
            removed[key] = Removal(key, self.line(("removed", i)))
        return removed

    def moved(self, removed: dict[str, Removal]) -> tuple[dict[str, Move], dict[str, tuple[int, str]]]:
        """The moves by old key, each resolved to the end of its chain; and each `to` with its entry (index, from)."""
        links: dict[str, tuple[int, str]] = {}  # from -> (index, to): the first entry for each `from`
        targets: dict[str, tuple[int, str]] = {}  # to -> (index, from): the first entry for each `to`
        for i, item in self.entries("moved", ("from", "to")):
            old, new, where = item["from"], item["to"], ("moved", i, "from")
            if self.in_imports(old):
                self.report.at(where, f"{old!r} is still in imports; a moved key must leave imports")
            if old in removed:
                self.report.at(where, f"{old!r} is also in removed; a key is either moved or removed: drop one entry")
            if old in links:
                self.report.at(where, f"{old!r} is already moved by moved[{links[old][0]}]; move each key once")
                continue
            links[old] = (i, new)
            if new in targets:
                j, other = targets[new]
                self.report.at(
                    ("moved", i, "to"),
                    f"{old!r} and {other!r} (moved[{j}]) both move to {new!r}; two imports cannot move to one key",
                )
            else:
                targets[new] = (i, old)
        return self.resolve(links), targets

    def resolve(self, links: dict[str, tuple[int, str]]) -> dict[str, Move]:
        """Follow each chain to its end; a cycle, or an end missing from imports, is reported once."""
        moved: dict[str, Move] = {}
        told: set[int] = set()  # entries already reported: every key of a chain would otherwise repeat it
        for old, (i, new) in links.items():
            chain, node = [old], new
            while node in links and node not in chain:
                chain.append(node)
                node = links[node][1]
            if node in chain:
                cycle = chain[chain.index(node) :]
                start = min(range(len(cycle)), key=lambda n: links[cycle[n]][0])
                ordered = cycle[start:] + cycle[:start]
                self.tell_once(
                    told,
                    links[ordered[0]][0],
                    " -> ".join(repr(k) for k in [*ordered, ordered[0]])
                    + " is a cycle; a chain of moves must end at a key of imports",
                )
            elif self.in_imports(node) is False:
                self.tell_once(
                    told,
                    links[chain[-1]][0],
                    f"{node!r} is not in imports; a move must end at a key of imports: add {node!r} there, "
                    "or move to a key that is",
                )
            else:
                moved[old] = Move(old, node, self.line(("moved", i)))
        return moved

    def tell_once(self, told: set[int], index: int, message: str) -> None:
        if index not in told:
            told.add(index)
            self.report.at(("moved", index, "to"), message)

    def adopt(self, targets: dict[str, tuple[int, str]]) -> dict[str, Adoption]:
        adopt: dict[str, Adoption] = {}
        first: dict[str, int] = {}
        by_id: dict[str, int] = {}
        for i, item in self.entries("adopt", ("key", "id")):
            key, import_id, where = item["key"], item["id"], ("adopt", i, "key")
            if self.in_imports(key) is False:
                self.report.at(
                    where,
                    f"{key!r} is not in imports; add it there (without csv, its content stays unmanaged), "
                    "or drop this entry",
                )
            if key in targets:
                j, old = targets[key]
                self.report.at(
                    where,
                    f"{key!r} is also where moved[{j}] moves {old!r}; a key's import comes from one place: "
                    "keep the move or the adopt, not both",
                )
            if import_id in by_id:
                self.report.at(
                    ("adopt", i, "id"), f"{import_id!r} is already adopted by adopt[{by_id[import_id]}]; adopt it once"
                )
            else:
                by_id[import_id] = i
            if key in first:
                self.report.at(where, f"{key!r} is already adopted by adopt[{first[key]}]; a key adopts one import")
                continue
            first[key] = i
            adopt[key] = Adoption(key, import_id, self.line(("adopt", i)))
        return adopt
