#!/usr/bin/env bash
# The peer comparison of BENCHMARKS.md: the same CRUD + query workload through the
# `dynamics-web-api` npm package (Node) and through dynamics-client, against one emulator,
# each given the same bearer token. Installs the npm package into a scratch folder (nothing
# is committed or left behind), then runs dynamics-client/benches/peer_workload.rs.
#
#   benches/peer/run.sh [ITERATIONS]        (default 200; 3 alternating rounds of each)
set -euo pipefail
# A failure inside `$(...)` must stop the script too, not print a figure for a failed step.
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && npm install --silent --no-audit --no-fund dynamics-web-api@2.5.0 >/dev/null)
echo "dynamics-web-api $(node -p "require('$scratch/node_modules/dynamics-web-api/package.json').version"), node $(node --version)"
PEER_NODE_MODULES="$scratch/node_modules" PEER_ITERATIONS="${1:-200}" \
  cargo bench -q --manifest-path "$root/Cargo.toml" -p dynamics-client --bench peer_workload
