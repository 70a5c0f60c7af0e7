"""Export: a manifest that adopts imports which already exist, written from the remote listing.

    listing --choose--> the imports that can be adopted (and why the others were left out)
            --keys----> a unique key for each, from its title (or its key stamp, for this owner's)
            --render--> the manifest's YAML: imports without csv (content unmanaged) and an adopt block

Everything here but `read_imports` is pure: the command reads the remote and writes the file.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.remote.answers import parse_time
from reconciler.remote.state import PAGE_SIZE, Lister, Listing, RemoteImport

MAX_KEY = 64
_OTHER = re.compile(r"[^a-z0-9]+")
_ENTITY_TYPES = frozenset({"company", "person", "article", "research_paper", "custom"})

# Why an import was left out, in the order the note lists them.
PENDING = "still pending"
PROCESSING = "still processing"
FAILED = "failed"
CANCELED = "canceled"
NO_ENTITY = "without an entity"
WEBSET_OUTPUT = "made by a webset"
UNFIT = "with an entity or metadata a manifest cannot hold"
DUPLICATE = "another import of an already dumped key"
NO_KEY = "of this owner without a valid key stamp"
_REASONS = (PENDING, PROCESSING, FAILED, CANCELED, NO_ENTITY, WEBSET_OUTPUT, UNFIT, DUPLICATE, NO_KEY)


class _FormatsSeen:
    """A lister that remembers each listed import's `format` (RemoteImport does not keep it)."""

    def __init__(self, client: Lister) -> None:
        self._client = client
        self.formats: dict[str, str] = {}

    def list_page(self, cursor: str | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]:
        page = self._client.list_page(cursor, limit)
        for raw in page.get("data") or []:
            self.formats[raw["id"]] = raw.get("format") or "csv"
        return page


def read_imports(client: Lister) -> tuple[list[RemoteImport], dict[str, str]]:
    """Every import, and each one's format by id. Raises what the listing raises."""
    seen = _FormatsSeen(client)
    return Listing(seen).result(), seen.formats


def slug(title: str, import_id: str) -> str:
    """A key from a title: accents dropped, lowercase, each run of other characters one '-', at most 64
    characters; `import-<end of the id>` when nothing of the title is left."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    key = _OTHER.sub("-", ascii_text).strip("-")[:MAX_KEY].rstrip("-")
    if key:
        return key
    tail = _OTHER.sub("", import_id.rsplit("_", 1)[-1].lower())[-12:]
    return f"import-{tail}" if tail else "import"


def _unique(base: str, taken: set[str]) -> str:
    """`base`, else `base-2`, `base-3`... (shortened to fit 64 characters), the first not taken."""
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"-{n}"
        key = base[: MAX_KEY - len(suffix)].rstrip("-") + suffix
    taken.add(key)
    return key


def _fits_a_manifest(item: RemoteImport) -> bool:
    # What the manifest schema accepts, so that the dump validates: the API may hold more than it does.
    entity = item.entity
    if entity is None or entity.type not in _ENTITY_TYPES:
        return False
    if (entity.type == "custom") != (entity.description is not None):
        return False
    if entity.description is not None and not 2 <= len(entity.description) <= 200:
        return False
    return all(1 <= len(k) <= 256 and len(v) <= 1000 for k, v in item.user_metadata.items())


def _why_left_out(item: RemoteImport, fmt: str) -> str | None:
    if fmt == "webset":
        return WEBSET_OUTPUT
    if item.status != "completed":
        return {"pending": PENDING, "processing": PROCESSING, "failed": FAILED, "canceled": CANCELED}.get(
            item.status, item.status
        )
    if item.entity is None:
        return NO_ENTITY
    return None if _fits_a_manifest(item) else UNFIT


@dataclass(frozen=True, slots=True)
class Choice:
    """The imports to dump, each with its key (by key), and how many were left out, by reason."""

    keyed: dict[str, RemoteImport]
    left_out: dict[str, int]
    own_not_included: int  # imports stamped with this owner, left out without --all


def _created(item: RemoteImport) -> tuple[float, str]:
    try:
        when = parse_time(item.created_at)
    except ValueError:
        when = None
    return (when if when is not None else float("inf"), item.id)


def choose(
    imports: Iterable[RemoteImport],
    formats: Mapping[str, str],
    owner: str,
    *,
    match: re.Pattern[str] | None = None,
    include_own: bool = False,
) -> Choice:
    """The imports no owner's stamps claim (with `include_own`, also `owner`'s), whose title `match`
    searches, that can be adopted (completed, with an entity, made from a CSV); each keyed by its title,
    or by its key stamp when it is `owner`'s. Keys are unique, given in order of creation (then id)."""
    left_out: Counter[str] = Counter()
    own_skipped = 0
    candidates: list[RemoteImport] = []
    for item in sorted(imports, key=_created):
        if item.owner and item.owner != owner:
            continue  # another owner's: never taken over
        if match is not None and not match.search(item.title):
            continue
        if item.owner and not include_own:
            own_skipped += 1
            continue
        reason = _why_left_out(item, formats.get(item.id, "csv"))
        if reason is not None:
            left_out[reason] += 1
        else:
            candidates.append(item)
    taken: set[str] = set()
    keyed: dict[str, RemoteImport] = {}
    # This owner's imports keep the keys their stamps give them; the first of several claiming one key
    # keeps it, and the others are left out (the planner keeps one import per key). One whose key stamp
    # is not a key is left out too: the planner refuses to adopt this owner's imports under a new key.
    rest = []
    for item in candidates:
        if not item.owner:
            rest.append(item)
        elif item.key is None:  # a key stamp no manifest could hold reads as none
            left_out[NO_KEY] += 1
        elif item.key in taken:
            left_out[DUPLICATE] += 1
        else:
            taken.add(item.key)
            keyed[item.key] = item
    for item in rest:
        keyed[_unique(slug(item.title, item.id), taken)] = item
    return Choice(keyed, dict(left_out), own_skipped)


def left_out_note(left_out: Mapping[str, int]) -> str | None:
    """`3 imports left out: 2 still processing, 1 failed`, or None when none was."""
    total = sum(left_out.values())
    if not total:
        return None
    order = {reason: i for i, reason in enumerate(_REASONS)}
    parts = [f"{n} {reason}" for reason, n in sorted(left_out.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))]
    return f"{total} import{'s' if total != 1 else ''} left out: {', '.join(parts)}"


def manifest_document(owner: str, keyed: Mapping[str, RemoteImport]) -> dict[str, Any]:
    """The manifest as values: each import's title, entity and metadata (stamps removed), no csv, and
    an adopt entry naming its id."""
    imports: dict[str, Any] = {}
    for key, item in sorted(keyed.items()):
        entry: dict[str, Any] = {}
        entry["title"] = item.title  # even empty: left out, the title would become the key
        assert item.entity is not None  # `choose` keeps only imports with an entity
        entry["entity"] = item.entity.to_api()
        if item.user_metadata:
            entry["metadata"] = dict(item.user_metadata)
        imports[key] = entry
    document: dict[str, Any] = {"version": 1, "owner": owner, "imports": imports}
    if keyed:
        document["adopt"] = [{"key": key, "id": item.id} for key, item in sorted(keyed.items())]
    return document


def _header(owner: str) -> str:
    return (
        f"# A manifest written by `websets-reconciler dump` for owner {owner}. The imports below exist\n"
        "# already; the adopt block takes each one over under its key. Without csv, an import's content is\n"
        "# unmanaged: it is never replaced, and only its title, metadata and entity are compared.\n"
        "# Review the keys (rename any now, before the first apply), then run plan on this file: it shows\n"
        "# only adopts, and apply stamps the imports as this owner's, uploading nothing.\n"
        "# The adopt block is a no-op once applied: keep it or delete it.\n"
    )


_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")


class _Dumper(yaml.SafeDumper):
    """SafeDumper, but a string holding a character that is not printable or breaks a line is written
    double-quoted, where it is escaped: PyYAML writes NEL (U+0085) as it is inside single quotes, and
    reads it back as a space."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if not value.isprintable() or _LINE_BREAKS.search(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def _yaml(value: Mapping[str, Any], *, flow_leaves: bool = False) -> str:
    # A very wide line: a long title stays on one line of the file instead of being folded.
    return yaml.dump(
        dict(value),
        Dumper=_Dumper,
        sort_keys=not flow_leaves,
        allow_unicode=True,
        default_flow_style=None if flow_leaves else False,
        width=1_000_000,
        indent=2,
    )


def render_manifest(document: Mapping[str, Any]) -> str:
    """The manifest's text: a header comment, then version, owner, imports (keys sorted) and adopt (sorted by
    key), each value quoted wherever YAML would read it as something else."""
    parts = [
        _header(document["owner"]),
        _yaml({"version": document["version"]}),
        _yaml({"owner": document["owner"]}),
        _yaml({"imports": document["imports"]}),
    ]
    if "adopt" in document:
        parts.append("\n# Take over each import above under its key (a no-op once applied).\n")
        # One line per entry, key first, as written by hand: `- {key: customers, id: import_...}`.
        parts.append(_yaml({"adopt": document["adopt"]}, flow_leaves=True))
    return "".join(parts)
