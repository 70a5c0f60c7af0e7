"""YAML loading that remembers where every value came from.

PyYAML's parser gives events with marks; we build plain Python values from them in one loop over an
explicit stack, recording the (line, column) of each value and of each mapping key. Nothing recurses,
so no input can exhaust the stack (libyaml's own composer recurses in C and crashes on deep nesting),
and nesting is refused where it passes MAX_DEPTH.

Refused outright (YamlError): syntax errors, nesting deeper than MAX_DEPTH, non-scalar and merge keys,
tags other than the plain ones, recursive aliases and alias bombs, several documents.
Reported and read past (`LoadedYaml.problems`), so that every other problem of the file is still
found: duplicate keys (PyYAML keeps the last; we keep the first), numbers that are not finite
(.nan, .inf) and strings holding a lone surrogate (a "\\ud800" escape), which cannot be written as UTF-8.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent

Path_ = tuple[str | int, ...]

MAX_NODES = 200_000  # an alias bomb expands exponentially; real manifests are far smaller
MAX_DEPTH = 64  # levels of nested lists and mappings; a manifest needs four
# libyaml's parser yields the same events and marks, several times faster, where PyYAML was built with it.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SURROGATE = re.compile("[\ud800-\udfff]")
_NO_KEY = object()
_TOO_DEEP = f"lists and mappings are nested more than {MAX_DEPTH} levels deep here"


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


@dataclass
class LoadedYaml:
    """A document's value, where everything in it stands, and the problems read past."""

    value: Any
    positions: Positions
    problems: list[YamlError] = field(default_factory=list)
    # Values a problem already describes (a number that is not finite, a lone surrogate): checking them
    # against a schema would only say it again.
    described: set[Path_] = field(default_factory=set)


@dataclass(slots=True)
class _Anchor:
    """What an alias of `&name` stands for: its value, and the positions inside it to copy to the alias's path."""

    position: Position
    value: Any = None
    done: bool = False
    is_collection: bool = False
    count: int = 1  # values it stands for, itself included
    height: int = 0  # levels of lists and mappings in it
    path: Path_ = ()
    values: list[tuple[Path_, Position]] = field(default_factory=list)  # positions inside it, by relative path
    keys: list[tuple[Path_, Position]] = field(default_factory=list)
    marks: tuple[int, int, int] = (0, 0, 0)  # where its log entries and its node count start


class _Frame:
    """An open list or mapping."""

    __slots__ = ("anchor", "discard", "drop_value", "height", "key", "path", "value")

    def __init__(self, value: list[Any] | dict[Any, Any], path: Path_, discard: bool, anchor: _Anchor | None) -> None:
        self.value = value
        self.path = path
        self.discard = discard  # inside a duplicate key's value: read and checked, then dropped
        self.anchor = anchor
        self.key: Any = _NO_KEY  # in a mapping: the key whose value comes next
        self.drop_value = False  # that key is a duplicate
        self.height = 1


def _pos(event: Any) -> Position:
    return Position(event.start_mark.line + 1, event.start_mark.column + 1)


class _Builder:
    """Values and positions from a loader's events, one document, in one loop over a stack of open collections."""

    def __init__(self, loader: Any, escapes: bool) -> None:
        self.loader = loader
        self.escapes = escapes  # a lone surrogate can only come from an escape in a double-quoted string
        self.loaded = LoadedYaml(None, Positions())
        self._dropped = Positions()  # positions inside duplicate keys' values, to name first definitions there
        self._constructor = yaml.SafeLoader("")
        self._anchors: dict[str, _Anchor] = {}
        self._recording = 0  # open anchors: positions inside them are logged, for their aliases to copy
        self._values_log: list[tuple[Path_, Position]] = []
        self._keys_log: list[tuple[Path_, Position]] = []
        self._count = 0

    def run(self) -> LoadedYaml:
        loader = self.loader
        loader.get_event()  # the stream's start
        if loader.check_event(yaml.StreamEndEvent):
            return self.loaded
        loader.get_event()  # the document's start
        self.loaded.value = self._document(loader.get_event)
        loader.get_event()  # the document's end
        if not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # the next document's start
            raise YamlError(_pos(loader.peek_event()), "the file holds more than one YAML document")
        return self.loaded

    def _document(self, get: Any) -> Any:
        stack: list[_Frame] = []
        while True:
            event = get()
            kind = event.__class__
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                value, height = frame.value, frame.height
                if frame.anchor is not None:
                    self._close_anchor(frame)
            else:
                position = _pos(event)
                parent = stack[-1] if stack else None
                if parent is not None and parent.key is _NO_KEY and isinstance(parent.value, dict):
                    self._key(parent, event, position)
                    continue
                path, discard = self._place(parent)
                if kind is AliasEvent:
                    value, height = self._alias(event, position, path, len(stack), discard)
                else:
                    self._counted(1, position)
                    if kind is not ScalarEvent:
                        if len(stack) >= MAX_DEPTH:
                            raise YamlError(position, _TOO_DEEP)
                        stack.append(self._open(event, position, path, discard))
                        continue
                    value, height = self._scalar(event, self._tag(event), position, path), 0
                    if event.anchor is not None:
                        self._define(event.anchor, _Anchor(position, value, done=True))
                    self._record(path, position, discard)
            if not stack:
                return value
            parent = stack[-1]
            if height >= parent.height:
                parent.height = height + 1
            if isinstance(parent.value, list):
                parent.value.append(value)
            else:
                if not parent.drop_value:
                    parent.value[parent.key] = value
                parent.key = _NO_KEY

    def _problem(self, position: Position, message: str, path: Path_, *, of_value: bool = True) -> None:
        self.loaded.problems.append(YamlError(position, message, path))
        if of_value:
            self.loaded.described.add(path)

    def _record(self, path: Path_, position: Position, discard: bool, *, key: bool = False) -> None:
        positions = self._dropped if discard else self.loaded.positions
        (positions.keys if key else positions.values)[path] = position
        if self._recording and not discard:
            (self._keys_log if key else self._values_log).append((path, position))

    def _counted(self, n: int, position: Position) -> None:
        self._count += n
        if self._count > MAX_NODES:
            raise YamlError(position, f"the document has more than {MAX_NODES} values (an alias bomb?)")

    @staticmethod
    def _place(parent: _Frame | None) -> tuple[Path_, bool]:
        """The path of the next value, and whether it is dropped (inside a duplicate key's value)."""
        if parent is None:
            return (), False
        if isinstance(parent.value, list):
            return (*parent.path, len(parent.value)), parent.discard
        return (*parent.path, parent.key), parent.discard or parent.drop_value

    def _open(self, event: Any, position: Position, path: Path_, discard: bool) -> _Frame:
        is_map = event.__class__ is MappingStartEvent
        plain = _MAP_TAG if is_map else _SEQ_TAG
        if event.tag not in (None, "!", plain):
            raise YamlError(position, f"unsupported YAML tag {event.tag}", path)
        anchor = None
        if event.anchor is not None:
            marks = (len(self._values_log), len(self._keys_log), self._count - 1)
            anchor = _Anchor(position, is_collection=True, path=path, marks=marks)
            self._define(event.anchor, anchor)
            self._recording += 1
        self._record(path, position, discard)
        return _Frame({} if is_map else [], path, discard, anchor)

    def _define(self, name: str, anchor: _Anchor) -> None:
        if name in self._anchors:
            first = self._anchors[name].position
            raise YamlError(anchor.position, f"duplicate anchor &{name} (first defined at line {first.line})")
        self._anchors[name] = anchor

    def _close_anchor(self, frame: _Frame) -> None:
        anchor = frame.anchor
        assert anchor is not None
        start_values, start_keys, start_count = anchor.marks
        cut = len(anchor.path)
        anchor.values = [(p[cut:], pos) for p, pos in self._values_log[start_values:]]
        anchor.keys = [(p[cut:], pos) for p, pos in self._keys_log[start_keys:]]
        anchor.value, anchor.height, anchor.count = frame.value, frame.height, self._count - start_count
        anchor.done = True
        self._recording -= 1
        if not self._recording:
            self._values_log.clear()
            self._keys_log.clear()

    def _alias(self, event: Any, position: Position, path: Path_, depth: int, discard: bool) -> tuple[Any, int]:
        anchor = self._anchors.get(event.anchor)
        if anchor is None:
            raise YamlError(position, f"the alias *{event.anchor} refers to no anchor before it", path)
        if not anchor.done:
            raise YamlError(anchor.position, "a recursive alias refers to itself", path)
        self._counted(anchor.count, position)
        if depth + anchor.height > MAX_DEPTH:
            raise YamlError(position, _TOO_DEEP)
        if not anchor.is_collection:
            self._record(path, anchor.position, discard)
            return anchor.value, 0
        for relative, where in anchor.values:
            self._record((*path, *relative), where, discard)
        for relative, where in anchor.keys:
            self._record((*path, *relative), where, discard, key=True)
        return copy.deepcopy(anchor.value), anchor.height

    def _key(self, frame: _Frame, event: Any, position: Position) -> None:
        kind = event.__class__
        self._counted(1, position)
        if kind is AliasEvent:
            anchor = self._anchors.get(event.anchor)
            if anchor is None:
                raise YamlError(position, f"the alias *{event.anchor} refers to no anchor before it", frame.path)
            if anchor.is_collection:
                raise YamlError(position, "a mapping key must be a plain value, not a list or mapping", frame.path)
            key = anchor.value
        elif kind is not ScalarEvent:
            raise YamlError(position, "a mapping key must be a plain value, not a list or mapping", frame.path)
        else:
            tag = self._tag(event)
            if tag == _MERGE_TAG:
                raise YamlError(position, "merge keys (<<) are not supported; write the fields out", frame.path)
            key = self._scalar(event, tag, position, (*frame.path, event.value), is_key=True)
            if event.anchor is not None:
                self._define(event.anchor, _Anchor(position, key, done=True))
        try:
            hash(key)
        except TypeError:
            raise YamlError(position, "a mapping key must be a plain value", frame.path) from None
        path = (*frame.path, key)
        frame.key = key
        frame.drop_value = key in frame.value
        if frame.drop_value:
            first = (self._dropped if frame.discard else self.loaded.positions).keys[path]
            message = f"duplicate key {key!r} (first defined at line {first.line})"
            self._problem(position, message, path, of_value=False)
        else:
            self._record(path, position, frame.discard, key=True)

    def _tag(self, event: Any) -> str:
        if event.tag is None or event.tag == "!":
            return self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        return event.tag

    def _scalar(self, event: Any, tag: str, position: Position, path: Path_, *, is_key: bool = False) -> Any:
        if tag == _STR_TAG:
            value = event.value
        else:
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            try:
                value = self._constructor.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError:
                raise YamlError(position, f"unsupported YAML tag {tag}", path) from None
            except Exception as exc:  # PyYAML's constructors fail in their own ways on explicitly tagged text
                reason = (str(exc).splitlines() or ["unreadable"])[0]
                raise YamlError(position, f"cannot read the value {event.value!r}: {reason}", path) from None
            if isinstance(value, float) and not math.isfinite(value):
                self._problem(position, f"{event.value!r} is not a finite number; write a number", path)
        if self.escapes and isinstance(value, str) and not value.isascii() and (bad := _SURROGATE.search(value)):
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
            message = f"the string holds the lone surrogate \\u{ord(bad.group()):04x}, which is not valid Unicode"
            self._problem(position, message, (*path[:-1], value) if is_key else path)
        return value


def _syntax_error(exc: yaml.YAMLError, text: str) -> YamlError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        return YamlError(position, f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}")
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        position = Position(before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)
        return YamlError(position, f"YAML does not allow the character #x{exc.character:04x} here")
    return YamlError(Position(1, 1), "YAML error: " + (str(exc).splitlines() or ["invalid YAML"])[0])


def read_yaml(text: str) -> LoadedYaml:
    """Parse one YAML document; raise YamlError for what cannot be read, collect what can be read past."""
    escapes = "\\" in text
    try:
        fast = _FAST_LOADER(text) if _FAST_LOADER is not None else None
    except UnicodeEncodeError:
        fast = None  # a lone surrogate in the text itself: the pure-Python reader says where
    if fast is not None:
        try:
            return _Builder(fast, escapes).run()
        except yaml.YAMLError:
            pass  # Only on failure: the pure-Python parser's messages name the offending character.
        finally:
            fast.dispose()
    try:
        loader = yaml.SafeLoader(text)
        try:
            return _Builder(loader, escapes).run()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from None


def load_yaml(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document; return its value and the positions of everything in it.

    Strict: the first problem `read_yaml` would read past is raised as a YamlError.
    """
    loaded = read_yaml(text)
    if loaded.problems:
        raise loaded.problems[0]
    return loaded.value, loaded.positions
