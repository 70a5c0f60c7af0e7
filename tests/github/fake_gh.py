#!/usr/bin/env python3
"""A stand-in for the `gh` CLI: the few REST calls the example workflows make, against a JSON file.

State: {"comments": [{"id", "issue", "body"}], "issues": [...], "labels": [...], "calls": [[argv...]]}
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    path = os.environ["FAKE_GH_STATE"]
    empty = {"comments": [], "issues": [], "labels": [], "calls": []}
    state = json.loads(Path(path).read_text()) if os.path.exists(path) else empty
    state["calls"].append(argv)
    assert os.environ.get("GH_TOKEN"), "gh needs GH_TOKEN"
    out = None
    if argv[0] == "api":
        method, fields, target = "GET", {}, None
        i = 1
        while i < len(argv):
            arg = argv[i]
            if arg == "--method":
                method, i = argv[i + 1], i + 2
            elif arg == "-F":
                name, _, value = argv[i + 1].partition("=")
                fields[name] = Path(value[1:]).read_text() if value.startswith("@") else value
                i += 2
            elif arg in ("--paginate", "--slurp"):
                i += 1
            else:
                target, i = arg, i + 1
        route = target.split("?")[0]
        if method == "GET" and (m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/(\d+)/comments", route)):
            page = [c for c in state["comments"] if c["issue"] == int(m.group(1))]
            out = [page] if "--slurp" in argv else page
        elif method == "PATCH" and (m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/comments/(\d+)", route)):
            comment = next(c for c in state["comments"] if c["id"] == int(m.group(1)))
            comment["body"] = fields["body"]
            out = comment
        elif method == "POST" and (m := re.fullmatch(r"repos/[^/]+/[^/]+/issues/(\d+)/comments", route)):
            comment = {"id": 1000 + len(state["comments"]), "issue": int(m.group(1)), "body": fields["body"]}
            state["comments"].append(comment)
            out = comment
        else:
            print(f"fake gh: unsupported api call {argv}", file=sys.stderr)
            return 1
    elif argv[:2] == ["label", "create"]:
        if argv[2] not in state["labels"]:
            state["labels"].append(argv[2])
    elif argv[:2] == ["issue", "list"]:
        label = argv[argv.index("--label") + 1]
        found = [i for i in state["issues"] if i["state"] == "open" and label in i["labels"]]
        assert argv[argv.index("--jq") + 1] == ".[0].number // empty", "the stand-in knows this query only"
        if found:
            print(found[0]["number"])
    elif argv[:2] == ["issue", "create"]:
        assert argv[argv.index("--label") + 1] in state["labels"], "gh fails on a label that does not exist"
        number = 1 + len(state["issues"])
        body = Path(argv[argv.index("--body-file") + 1]).read_text()
        title = argv[argv.index("--title") + 1]
        state["issues"].append(
            {
                "number": number,
                "title": title,
                "body": body,
                "state": "open",
                "labels": [argv[argv.index("--label") + 1]],
            }
        )
    elif argv[:2] == ["issue", "edit"]:
        issue = next(i for i in state["issues"] if i["number"] == int(argv[2]))
        issue["body"] = Path(argv[argv.index("--body-file") + 1]).read_text()
    elif argv[:2] == ["issue", "close"]:
        issue = next(i for i in state["issues"] if i["number"] == int(argv[2]))
        issue["state"] = "closed"
        issue["closing_comment"] = argv[argv.index("--comment") + 1]
    else:
        print(f"fake gh: unsupported command {argv}", file=sys.stderr)
        return 1
    Path(path).write_text(json.dumps(state))
    if out is not None:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
