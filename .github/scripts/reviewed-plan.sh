#!/usr/bin/env bash
# The plan that was reviewed on the pull request a push merged, and the comment for a plan that moved.
#
#   reviewed-plan.sh find
#       Finds the pull request whose merge made GITHUB_SHA and its plan comment, and appends to GITHUB_OUTPUT
#       `pull-request=N` and `digest=HEX` (empty when the reviewed plan had no changes: such a plan
#       carries no digest). Fails, with one ::error:: line, when there is no such pull request or comment,
#       or the comment's digest is not one.
#   reviewed-plan.sh comment N FILE
#       Posts the Markdown in FILE as a comment on pull request N.
#
# Reads GITHUB_REPOSITORY and GITHUB_SHA; gh authenticates with GH_TOKEN.
set -euo pipefail

# Written by `plan --format markdown` (reconciler/render/plan_markdown.py: MARKER, DIGEST_MARKER).
plan_marker='<!-- websets-reconciler:plan -->'
digest_marker='<!-- websets-reconciler:digest='

fail() {
  echo "::error::$1"
  exit 1
}

merged_pull_request() {
  # Only the pull request whose merge commit is this very commit: one that merely contains it (a branch
  # opened from main, say) was not merged by this push, and its plan was not the one reviewed for it.
  local pulls
  pulls=$(gh api "repos/$GITHUB_REPOSITORY/commits/$GITHUB_SHA/pulls?per_page=100") || return 1
  python3 -c '
import json, sys
sha = sys.argv[1]
merged = [p["number"] for p in json.load(sys.stdin) if p.get("merged_at") and p.get("merge_commit_sha") == sha]
print(merged[0] if len(merged) == 1 else "")
' "$GITHUB_SHA" <<< "$pulls"
}

plan_comment_digest() {
  # The first comment with the plan marker written by a bot (the plan workflow's token or an app), as the
  # plan workflow keeps it: a person's comment that quotes the marker is never taken for the reviewed plan.
  # Prints `digest HEX`, `no-digest`, `none`, `several` or `malformed`.
  local pages
  pages=$(gh api "repos/$GITHUB_REPOSITORY/issues/$1/comments?per_page=100" --paginate --slurp) || return 1
  python3 -c '
import json, re, sys
plan_marker, digest_marker = sys.argv[1], sys.argv[2]
comments = [c for page in json.load(sys.stdin) for c in page]
plans = [c for c in comments if plan_marker in (c.get("body") or "") and (c.get("user") or {}).get("type") == "Bot"]
if not plans:
    print("none")
    sys.exit()
body = plans[0]["body"]
found = re.search(re.escape(digest_marker) + r"([0-9a-f]{64}) -->", body)
if body.count(digest_marker) == 0:
    print("no-digest")
elif body.count(digest_marker) > 1:
    print("several")
elif found:
    print("digest", found.group(1))
else:
    print("malformed")
' "$plan_marker" "$digest_marker" <<< "$pages"
}

find_reviewed_plan() {
  local pr answer
  if ! pr=$(merged_pull_request); then
    fail "could not read the pull requests of commit $GITHUB_SHA (see the gh error above): nothing was applied"
  fi
  if [ -z "$pr" ]; then
    fail "no pull request was merged as commit $GITHUB_SHA, so there is no reviewed plan to apply: nothing was applied (merge through a pull request, or set require-reviewed-plan: false)"
  fi
  if ! answer=$(plan_comment_digest "$pr"); then
    fail "could not read the comments of pull request #$pr (see the gh error above): nothing was applied"
  fi
  case "$answer" in
    "digest "*)
      echo "Pull request #$pr was merged with the reviewed plan ${answer#digest }"
      { echo "pull-request=$pr"; echo "digest=${answer#digest }"; } >> "$GITHUB_OUTPUT"
      ;;
    no-digest)
      echo "Pull request #$pr was merged with a reviewed plan that had no changes: apply goes ahead only if it still finds none"
      { echo "pull-request=$pr"; echo "digest="; } >> "$GITHUB_OUTPUT"
      ;;
    none)
      fail "pull request #$pr has no plan comment (one with $plan_marker, written by the plan workflow), so there is no reviewed plan to apply: nothing was applied"
      ;;
    several)
      fail "the plan comment of pull request #$pr carries more than one digest: nothing was applied"
      ;;
    *)
      fail "the plan comment of pull request #$pr carries a digest that is not 64 hexadecimal digits: nothing was applied"
      ;;
  esac
}

comment() {
  local pr=$1 body=$2
  if ! [[ $pr =~ ^[0-9]+$ ]]; then
    fail "reviewed-plan.sh comment: '$pr' is not a pull request number"
  fi
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$pr/comments" -F "body=@$body" > /dev/null
  echo "Commented the plan apply would carry out now on pull request #$pr"
}

case "${1:-}" in
  find)
    find_reviewed_plan
    ;;
  comment)
    if [ "$#" -ne 3 ]; then
      fail "usage: reviewed-plan.sh comment PULL_REQUEST MARKDOWN_FILE"
    fi
    comment "$2" "$3"
    ;;
  *)
    fail "usage: reviewed-plan.sh find | comment PULL_REQUEST MARKDOWN_FILE"
    ;;
esac
