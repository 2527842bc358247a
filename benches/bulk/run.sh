#!/usr/bin/env bash
# The bulk benchmark of BENCHMARKS.md: 100,000 accounts through dynamics-client's bulk engine
# against an emulator with Dataverse's service protection and a stated cost model, its ratio to
# the ceiling the limits allow, peak heap at 10,000 and 100,000 records, and the same load
# through Microsoft's Python client and `dynamics-web-api`. The peers are installed into a
# scratch folder (a Python venv, an npm folder) that is removed afterwards; nothing is committed.
#
#   benches/bulk/run.sh [RECORDS] [TIME_SCALE]      (defaults 100000 and 20)
set -euo pipefail
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
peers="$scratch/peers.txt"
: > "$peers"
if python3 -m venv "$scratch/venv" && "$scratch/venv/bin/pip" install -q PowerPlatform-Dataverse-Client; then
  echo "python: $("$scratch/venv/bin/pip" show PowerPlatform-Dataverse-Client | sed -n 's/^Version: /PowerPlatform-Dataverse-Client /p')"
  echo "powerplatform-dataverse-client $scratch/venv/bin/python $root/benches/bulk/peer_python.py" >> "$peers"
else
  echo "python peer not installed"
fi
if (cd "$scratch" && npm install --silent --no-audit --no-fund dynamics-web-api@2.5.0 >/dev/null); then
  echo "node: dynamics-web-api $(node -p "require('$scratch/node_modules/dynamics-web-api/package.json').version"), node $(node --version)"
  echo "dynamics-web-api NODE_PATH=$scratch/node_modules node $root/benches/bulk/peer_node.cjs" >> "$peers"
else
  echo "node peer not installed"
fi
BULK_RECORDS="${1:-100000}" BULK_TIME_SCALE="${2:-20}" BULK_PEERS="$peers" \
  cargo bench -q --manifest-path "$root/Cargo.toml" -p dynamics-client --bench bulk_load
