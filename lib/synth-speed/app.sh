#!/bin/sh
# The CDK app as cdk.json runs it: the type-check of the app and the handlers beside the app itself.
#
# `tsc -b` skips the check when no source is newer than its build info, and it judges by file
# times. The build info is written when the check ends, so a file saved while the check ran would
# look checked. After a successful check the build info therefore takes the time the check started
# at: anything saved since is newer, and is checked on the next synth.
set -u
cd "$(dirname "$0")/../.." || exit 1

build_info=node_modules/.cache/lgtm-fleet/app.tsbuildinfo
mkdir -p "$(dirname "$build_info")"
started=$(mktemp)
trap 'rm -f "$started"' EXIT
# Stop the type-check when synth is interrupted, rather than leave it to write its build info.
trap 'kill "$typecheck" 2>/dev/null; exit 130' INT TERM

node_modules/.bin/tsc -b bin --singleThreaded &
typecheck=$!

node --import tsx bin/lgtm-fleet.ts
app=$?

if wait "$typecheck"; then
  if [ -f "$build_info" ]; then touch -r "$started" "$build_info"; fi
else
  exit 1
fi
exit "$app"
