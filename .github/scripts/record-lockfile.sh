#!/usr/bin/env bash
# Record the websets.lock an apply left in the working tree back in the repository.
#
#   record-lockfile.sh MODE LOCKFILE [PULL_REQUEST]
#
#   push          commit it on top of the branch head and push; when another push lands first (a
#                 non-fast-forward), fetch the head again and retry, up to 3 times.
#   pull-request  commit it on top of the branch head on a branch of its own, and open or update ONE pull
#                 request "Record apply of #N in websets.lock" (works with branch protection).
#   none          leave it: the next plan or apply rebuilds it from the remote stamps.
#
# The apply ran at the merge commit, but the lockfile is committed onto the branch head as it is now, so a
# merge that landed since is kept. The new websets.lock replaces the head's: it is what the remote holds
# after the latest apply (applies are serialised), so that is how the rebase resolves it.
# Nothing is committed when the lockfile is the one the applied commit already had.
#
# Reads GITHUB_REPOSITORY, GITHUB_REF (refs/heads/BRANCH), GITHUB_SHA and GITHUB_SERVER_URL; GH_TOKEN
# authenticates gh, and git through an HTTP header passed in the environment (never in a URL or an
# argument, so no command line or log shows it).
set -euo pipefail

retries=3

fail() {
  echo "::error::$1"
  exit 1
}

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  fail "usage: record-lockfile.sh push|pull-request|none LOCKFILE [PULL_REQUEST]"
fi
mode=$1
lockfile=${2#./}
pr=${3:-}

case "$mode" in
  none)
    echo "lockfile-mode none: websets.lock is not recorded; the next plan or apply rebuilds it from the remote stamps"
    exit 0
    ;;
  push | pull-request) ;;
  *)
    fail "lockfile-mode '$mode': use push, pull-request or none"
    ;;
esac

if [ ! -f "$lockfile" ]; then
  echo "There is no $lockfile to record"
  exit 0
fi
case "$GITHUB_REF" in
  refs/heads/*) branch=${GITHUB_REF#refs/heads/} ;;
  *) fail "websets.lock is recorded on a branch, and $GITHUB_REF is none" ;;
esac
case "$lockfile" in
  /* | ../*) fail "$lockfile: the lockfile must lie inside the repository" ;;
esac
path="$(git rev-parse --show-prefix)$lockfile"
blob=$(git hash-object -w -- "$lockfile")
if [ "$(git rev-parse -q --verify "HEAD:$path" || true)" = "$blob" ]; then
  echo "$path is unchanged: nothing to record"
  exit 0
fi

if [ -n "$pr" ]; then
  applied="#$pr"
else
  applied=$(git rev-parse --short "$GITHUB_SHA")
fi
title="Record apply of $applied in websets.lock"

: "${GIT_AUTHOR_NAME:=github-actions[bot]}"
: "${GIT_AUTHOR_EMAIL:=41898282+github-actions[bot]@users.noreply.github.com}"
: "${GIT_COMMITTER_NAME:=$GIT_AUTHOR_NAME}"
: "${GIT_COMMITTER_EMAIL:=$GIT_AUTHOR_EMAIL}"
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

if [ -n "${GH_TOKEN:-}" ]; then
  # As actions/checkout does it, but through GIT_CONFIG_* so that nothing is written to .git/config.
  header="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$GH_TOKEN" | base64 | tr -d '\n')"
  echo "::add-mask::${header#AUTHORIZATION: basic }"
  n=${GIT_CONFIG_COUNT:-0}
  export "GIT_CONFIG_KEY_$n=http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader"
  export "GIT_CONFIG_VALUE_$n=$header"
  export GIT_CONFIG_COUNT=$((n + 1))
fi

head=
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch_head() {
  # Sets head to the branch head as the remote has it now.
  if ! git fetch --quiet --no-tags origin "+refs/heads/$branch:refs/remotes/origin/$branch"; then
    fail "could not fetch $branch from origin (see the git error above)"
  fi
  head=$(git rev-parse "refs/remotes/origin/$branch")
}

on_top() {
  # A commit on $1 whose only change is the new lockfile; nothing when $1 already has it.
  local base=$1 tree
  if [ "$(git rev-parse -q --verify "$base:$path" || true)" = "$blob" ]; then
    return 0
  fi
  rm -f "$work/index"
  GIT_INDEX_FILE="$work/index" git read-tree "$base"
  GIT_INDEX_FILE="$work/index" git update-index --add --cacheinfo "100644,$blob,$path"
  tree=$(GIT_INDEX_FILE="$work/index" git write-tree)
  git commit-tree "$tree" -p "$base" -m "$2"
}

record_by_push() {
  local attempt=0 commit out
  while :; do
    fetch_head
    commit=$(on_top "$head" "$title")
    if [ -z "$commit" ]; then
      echo "$branch already records this websets.lock"
      return 0
    fi
    if out=$(git push --porcelain origin "$commit:refs/heads/$branch" 2>&1); then
      echo "Recorded websets.lock on $branch as $commit"
      return 0
    fi
    if ! grep -q -e '(non-fast-forward)' -e '(fetch first)' <<< "$out"; then
      echo "$out"
      fail "could not push websets.lock to $branch (if the branch is protected, use lockfile-mode: pull-request)"
    fi
    if [ "$attempt" -ge "$retries" ]; then
      fail "could not push websets.lock to $branch: it moved on each of $((retries + 1)) attempts; the next apply records the lockfile again"
    fi
    attempt=$((attempt + 1))
    echo "$branch moved while websets.lock was being recorded; fetching it again (retry $attempt of $retries)"
  done
}

open_pull_request() {
  local pulls
  pulls=$(gh api --method GET "repos/$GITHUB_REPOSITORY/pulls" -f state=open -f "head=${GITHUB_REPOSITORY%%/*}:$1" \
    -f "base=$branch") || return 1
  python3 -c '
import json, sys
pulls = json.load(sys.stdin)
print(pulls[0]["number"] if pulls else "")
' <<< "$pulls"
}

record_by_pull_request() {
  local lock_branch="websets-reconciler/lockfile-$branch" commit open created number
  fetch_head
  commit=$(on_top "$head" "$title")
  if ! open=$(open_pull_request "$lock_branch"); then
    fail "could not list the pull requests of $GITHUB_REPOSITORY (see the gh error above)"
  fi
  if [ -z "$commit" ]; then
    echo "$branch already records this websets.lock"
    if [ -n "$open" ]; then
      # It proposes an older lockfile, which merging would bring back.
      gh api --method PATCH "repos/$GITHUB_REPOSITORY/pulls/$open" -f state=closed > /dev/null
      echo "Closed pull request #$open: $branch already records the newer websets.lock"
    fi
    return 0
  fi
  if ! git push --quiet --force origin "$commit:refs/heads/$lock_branch"; then
    fail "could not push the branch $lock_branch (see the git error above)"
  fi
  cat > "$work/body.md" <<BODY
Records \`$path\` as the apply of $applied (commit $GITHUB_SHA) left it.

Merge it to keep the lockfile in the repository. Every apply updates this pull request until it is merged; if
it is closed instead, nothing is lost: the next plan or apply rebuilds the lockfile from the remote stamps.
BODY
  if [ -n "$open" ]; then
    gh api --method PATCH "repos/$GITHUB_REPOSITORY/pulls/$open" -f "title=$title" -F "body=@$work/body.md" > /dev/null
    echo "Updated pull request #$open: $title"
  else
    if ! created=$(gh api --method POST "repos/$GITHUB_REPOSITORY/pulls" -f "title=$title" -f "head=$lock_branch" \
      -f "base=$branch" -F "body=@$work/body.md"); then
      fail "could not open the pull request for websets.lock (the token must be allowed to create pull requests: see the gh error above)"
    fi
    number=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["number"])' <<< "$created")
    echo "Opened pull request #$number: $title"
  fi
}

if [ "$mode" = push ]; then
  record_by_push
else
  record_by_pull_request
fi
