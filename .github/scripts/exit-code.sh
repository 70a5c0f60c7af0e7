#!/usr/bin/env bash
# The result of the action's step for websets-reconciler's exit code, as the action documents it:
#   0 succeeds; 1 fails (the tool has printed its one-line error);
#   2 succeeds only when `plan --detailed-exitcode` saved a plan that has changes (has-changes=true),
#     because click and other tools also exit 2 on a usage error; otherwise it fails as 1;
#   any other code (130 for an interrupt, a signal's 128+N) fails with that code.
#
# Usage: exit-code.sh COMMAND CODE PLAN_HAS_CHANGES
# Exits with the step's code; a failure the tool did not explain itself gets an ::error:: line.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "::error::exit-code.sh: expected COMMAND CODE PLAN_HAS_CHANGES, got $# arguments"
  exit 1
fi
command=$1
code=$2
plan_has_changes=$3

if ! [[ $code =~ ^[0-9]{1,3}$ ]] || [ "$code" -gt 255 ]; then
  echo "::error::websets-reconciler $command: '$code' is not an exit code"
  exit 1
fi
case "$code" in
  0 | 1)
    exit "$code"
    ;;
  2)
    if [ "$command" = plan ] && [ "$plan_has_changes" = true ]; then
      exit 0
    fi
    echo "::error::websets-reconciler $command exited 2 without saving a plan with changes: check the args input"
    exit 1
    ;;
  130)
    echo "::error::websets-reconciler $command was interrupted (exit code 130)"
    exit 130
    ;;
  *)
    echo "::error::websets-reconciler $command exited with code $code"
    exit "$code"
    ;;
esac
