#!/usr/bin/env bash
# The layer rules of DESIGN.md §2, checked on the import graph of non-test code:
#   gin only under api/; Temporal's workflow package only under flows/ and scripting/;
#   pgx only under store/ and migrations/; the embedded Temporal server only from cmd/.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0
while read -r pkg imports; do
  rel=${pkg#"$mod"}; rel=${rel#/}
  for imp in $imports; do
    case "$imp" in
      github.com/gin-gonic/gin*) allowed='^api(/|$)' ;;
      go.temporal.io/sdk/workflow) allowed='^(flows|scripting)(/|$)' ;;
      github.com/jackc/pgx*) allowed='^(store|migrations)(/|$)' ;;
      "$mod"/workers/devserver) allowed='^cmd/' ;;
      *) continue ;;
    esac
    if ! [[ "$rel" =~ $allowed ]]; then
      echo "layer rule broken: $rel imports $imp"
      fail=1
    fi
  done
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
exit $fail
