"""Seeding an emulator with imports as the tool would have made them."""

from __future__ import annotations

from pathlib import Path

from reconciler.model import STAMP_IDENTIFIER, STAMP_KEY, STAMP_OWNER, STAMP_SHA256

CSV = "url,name\nhttps://a.example,A\nhttps://b.example,B\n"


def write_manifest(root: Path, keys: list[str], owner: str = "growth", extra: str = "") -> Path:
    (root / "data.csv").write_text(CSV)
    body = "".join(f"  {k}: {{title: T {k}, csv: data.csv}}\n" for k in keys)
    manifest = root / "websets.yaml"
    body = body or "  {}\n"
    manifest.write_text(f"version: 1\nowner: {owner}\ndefaults: {{entity: {{type: company}}}}\n{extra}imports:\n{body}")
    return manifest


def seed(
    emu,
    key: str,
    *,
    owner: str = "growth",
    title: str | None = None,
    content: str = CSV,
    metadata: dict | None = None,
    upload: bool = True,
    stamped: bool = True,
) -> str:
    import hashlib

    data = content.encode()
    stamps = (
        {
            STAMP_OWNER: owner,
            STAMP_KEY: key,
            STAMP_SHA256: hashlib.sha256(data).hexdigest(),
            STAMP_IDENTIFIER: "0",
        }
        if stamped
        else {}
    )
    view, token, _ = emu.store.create(
        {
            "format": "csv",
            "size": len(data),
            "count": content.count("\n") - 1,
            "title": title if title is not None else f"T {key}",
            "metadata": {**(metadata or {}), **stamps},
            "entity": {"type": "company"},
            "identifier": 0,
        }
    )
    if upload:
        emu.store.upload(token, data)
    return view["id"]
