"""YAML loading that remembers where every value came from.

PyYAML's composer gives nodes with marks; we build plain Python values from them ourselves, recording
the (line, column) of each value and of each mapping key, and rejecting what PyYAML would accept silently:
duplicate keys (it keeps the last), non-scalar keys, recursive aliases and alias bombs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

MAX_NODES = 200_000
# libyaml's composer yields the same nodes and marks, ten times faster, where PyYAML was built with it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = (
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
)  # an alias bomb expands exponentially; real manifests are far smaller


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


@dataclass
class Positions:
    """Where each value (by path) and each mapping key (by path of its value) stands in the file."""

    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)

    def of_value(self, path: Path_) -> Position:
        """The position of the value at `path`, or of its nearest ancestor that has one."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Position(1, 1))

    def of_key(self, path: Path_) -> Position:
        """The position of the key that introduces `path` (falls back to the value's)."""
        return self.keys.get(path) or self.of_value(path)


class YamlError(Exception):
    """The text is not YAML we accept; carries a position and a one-line message."""

    def __init__(self, position: Position, message: str, path: Path_ = ()) -> None:
        super().__init__(message)
        self.position = position
        self.path = path


def _pos(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self) -> None:
        self.positions = Positions()
        self._constructor = yaml.SafeLoader("")
        self._active: set[int] = set()
        self._count = 0

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            raise YamlError(_pos(node), f"the document has more than {MAX_NODES} values (an alias bomb?)")
        self.positions.values[path] = _pos(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._active:
            raise YamlError(_pos(node), "a recursive alias refers to itself", path)
        if node.tag not in _COLLECTION_TAGS:
            raise YamlError(_pos(node), f"unsupported YAML tag {node.tag}", path)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            raise YamlError(_pos(node), f"unsupported YAML tag {node.tag}") from None
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise YamlError(_pos(node), f"cannot read the value {node.value!r}: {exc}") from None

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError(_pos(key_node), "merge keys (<<) are not supported; write the fields out", path)
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError(_pos(key_node), "a mapping key must be a plain value, not a list or mapping", path)
            key = self._scalar(key_node)
            try:
                hash(key)
            except TypeError:
                raise YamlError(_pos(key_node), "a mapping key must be a plain value", path) from None
            if key in result:
                first = self.positions.keys[(*path, key)]
                raise YamlError(
                    _pos(key_node),
                    f"duplicate key {key!r} (first defined at line {first.line})",
                    (*path, key),
                )
            self.positions.keys[(*path, key)] = _pos(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result


def load_yaml(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document; return its value and the positions of everything in it."""
    try:
        try:
            documents = list(yaml.compose_all(text, Loader=_LOADER))
        except yaml.YAMLError:
            if _LOADER is yaml.SafeLoader:
                raise
            # Only on failure: the pure-Python parser's messages name the offending character.
            documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(position, f"YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        position = Position(before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)
        raise YamlError(position, f"YAML does not allow the character #x{exc.character:04x} here") from None
    except yaml.YAMLError as exc:
        raise YamlError(Position(1, 1), "YAML error: " + str(exc).splitlines()[0]) from None
    except RecursionError:
        raise YamlError(Position(1, 1), "the document is nested too deeply") from None
    if len(documents) > 1:
        raise YamlError(_pos(documents[1]), "the file holds more than one YAML document")
    if not documents or documents[0] is None:
        return None, Positions()
    builder = _Builder()
    try:
        value = builder.build(documents[0], ())
    except RecursionError:
        raise YamlError(Position(1, 1), "the document is nested too deeply") from None
    return value, builder.positions
