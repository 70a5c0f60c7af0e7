#!/usr/bin/env python3
"""A stand-in for the `gh` CLI: the few REST calls the action and the example workflows make, against a JSON file.

State: {"comments": [{"id", "issue", "body", "user"}], "issues": [...], "labels": [...],
"pulls": [{"number", "state", "title", "body", "head": {"ref"}, "base": {"ref"}, "merged_at", "merge_commit_sha"}],
"calls": [[argv...]]}. What it writes is by the workflow's token, so its comments are a bot's.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

BOT = {"login": "github-actions[bot]", "type": "Bot"}
REPO = r"repos/[^/]+/[^/]+"


def _number(state: dict) -> int:
    """Issues and pull requests share one sequence of numbers, as on GitHub."""
    return 1 + max([0, *(i["number"] for i in state["issues"]), *(p["number"] for p in state["pulls"])])


def _api(argv: list[str], state: dict) -> tuple[int, object]:
    method, fields, target = "GET", {}, None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--method":
            method, i = argv[i + 1], i + 2
        elif arg in ("-F", "-f"):
            name, _, value = argv[i + 1].partition("=")
            typed = arg == "-F"
            fields[name] = Path(value[1:]).read_text() if typed and value.startswith("@") else value
            i += 2
        elif arg in ("--paginate", "--slurp"):
            i += 1
        elif arg.startswith("-"):
            raise AssertionError(f"the stand-in does not know the option {arg}")
        else:
            target, i = arg, i + 1
    assert target is not None
    route = target.split("?")[0]
    if method == "GET" and (m := re.fullmatch(rf"{REPO}/issues/(\d+)/comments", route)):
        page = [c for c in state["comments"] if c["issue"] == int(m.group(1))]
        return 0, [page] if "--slurp" in argv else page
    if method == "PATCH" and (m := re.fullmatch(rf"{REPO}/issues/comments/(\d+)", route)):
        comment = next(c for c in state["comments"] if c["id"] == int(m.group(1)))
        comment["body"] = fields["body"]
        return 0, comment
    if method == "POST" and (m := re.fullmatch(rf"{REPO}/issues/(\d+)/comments", route)):
        comment = {"id": 1000 + len(state["comments"]), "issue": int(m.group(1)), "body": fields["body"], "user": BOT}
        state["comments"].append(comment)
        return 0, comment
    if method == "GET" and (m := re.fullmatch(rf"{REPO}/commits/([0-9a-f]{{40}})/pulls", route)):
        sha = m.group(1)
        return 0, [p for p in state["pulls"] if p.get("merge_commit_sha") == sha or sha in p.get("commits", [])]
    if method == "GET" and re.fullmatch(rf"{REPO}/pulls", route):
        owner = route.split("/")[1]
        found = [
            p
            for p in state["pulls"]
            if p["state"] == fields.get("state", "open")
            and ("head" not in fields or f"{owner}:{p['head']['ref']}" == fields["head"])
            and ("base" not in fields or p["base"]["ref"] == fields["base"])
        ]
        return 0, found
    if method == "POST" and re.fullmatch(rf"{REPO}/pulls", route):
        if any(
            p["state"] == "open" and p["head"]["ref"] == fields["head"] and p["base"]["ref"] == fields["base"]
            for p in state["pulls"]
        ):
            print("gh: Validation Failed: A pull request already exists (HTTP 422)", file=sys.stderr)
            return 1, None
        pull = {
            "number": _number(state),
            "state": "open",
            "title": fields["title"],
            "body": fields["body"],
            "head": {"ref": fields["head"]},
            "base": {"ref": fields["base"]},
            "merged_at": None,
            "merge_commit_sha": None,
            "user": BOT,
        }
        state["pulls"].append(pull)
        return 0, pull
    if method == "PATCH" and (m := re.fullmatch(rf"{REPO}/pulls/(\d+)", route)):
        pull = next(p for p in state["pulls"] if p["number"] == int(m.group(1)))
        pull.update({k: v for k, v in fields.items() if k in ("title", "body", "state")})
        return 0, pull
    print(f"fake gh: unsupported api call {argv}", file=sys.stderr)
    return 1, None


def main(argv: list[str]) -> int:
    path = os.environ["FAKE_GH_STATE"]
    empty = {"comments": [], "issues": [], "labels": [], "pulls": [], "calls": []}
    state = {**empty, **(json.loads(Path(path).read_text()) if os.path.exists(path) else {})}
    state["calls"].append(argv)
    assert os.environ.get("GH_TOKEN"), "gh needs GH_TOKEN"
    out = None
    if argv[0] == "api":
        code, out = _api(argv, state)
        if code:
            Path(path).write_text(json.dumps(state))
            return code
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
        body = Path(argv[argv.index("--body-file") + 1]).read_text()
        title = argv[argv.index("--title") + 1]
        state["issues"].append(
            {
                "number": _number(state),
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
