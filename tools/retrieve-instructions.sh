#!/usr/bin/env bash
# Instructions per retrieve: the client (token cached) beside raw reqwest with a fixed bearer
# token (body read; body decoded into the same generated struct), against the same in-process
# emulator route. Counted by callgrind, so a loaded machine changes nothing. Both sides include
# the emulator's work for the request, as the wall-clock bench does.
#
#   tools/retrieve-instructions.sh [retrieves per phase]      (default 500)
#
# One process: the setup, then two rounds of one phase per kind; callgrind writes a profile
# per phase (`--dump-before` the phase boundary), so the setup is left out.
set -euo pipefail
# A failure inside `$(...)` must stop the script too, not print a figure for a failed step.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
count="${1:-500}"
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }

bench=$(cargo bench -p dynamics-client --bench client --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "could not build the client bench" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
RETRIEVE_LOOP="$count" valgrind --tool=callgrind --callgrind-out-file="$dir/cg" \
  --dump-before='*retrieve_phase_boundary*' "$bench" >/dev/null 2>&1
# Dumps .1 (setup) then .2 .. .7: raw, decoded, client, raw, decoded, client.
total() { sed -n 's/^totals: \([0-9]*\).*/\1/p' "$dir/cg.$1"; }
kinds=(raw decoded client)
declare -A sum
for i in 0 1 2 3 4 5; do
  kind=${kinds[$((i % 3))]}
  sum[$kind]=$(( ${sum[$kind]:-0} + $(total $((i + 2))) ))
done
for kind in "${kinds[@]}"; do
  echo "$kind: $(( sum[$kind] / (2 * count) )) instructions per retrieve"
done
awk -v c="${sum[client]}" -v r="${sum[raw]}" -v d="${sum[decoded]}" 'BEGIN {
  printf "client / raw (body read): %.3f (%+d per retrieve)\n", c / r, (c - r) / (2 * '"$count"')
  printf "client / raw (decoded):   %.3f (%+d per retrieve)\n", c / d, (c - d) / (2 * '"$count"') }'
