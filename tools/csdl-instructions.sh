#!/usr/bin/env bash
# Instructions of CSDL parse + resolve beside a bare quick-xml event scan of the same bytes
# (default config, as the `csdl` bench's baseline), with the model freed and, as the bench's
# "drop excluded", without freeing it, for the largest corpus file and the synthetic 1,000-table
# document of the `csdl` bench. Counted by callgrind, so a loaded machine changes nothing.
# Reading the file (or building the synthetic document) is counted alone and subtracted.
#
#   tools/csdl-instructions.sh [file.xml ...]
#     (default: the v8 corpus file under $DYNAMICS_METADATA_CORPUS or ../shared/metadata)
set -euo pipefail
# A failure inside `$(...)` must stop the script too, not print a figure for a failed step.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }

corpus="${DYNAMICS_METADATA_CORPUS:-../shared/metadata}"
if [ "$#" -eq 0 ]; then
  set -- "$corpus/dynamics-crm-v8-simple-odata-client.xml"
fi
for f in "$@"; do
  [ -f "$f" ] || { echo "no such file: $f" >&2; exit 1; }
done

bench=$(cargo bench -p dynamics-codegen --bench csdl_instructions --no-run --message-format=json 2>/dev/null |
  grep '"name":"csdl_instructions"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "could not build the csdl_instructions bench" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg" "$bench" "$1" "$2" >/dev/null 2>"$dir/err" ||
    { cat "$dir/err" >&2; exit 1; }
  local total
  total=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$dir/cg")
  [ -n "$total" ] || { echo "no total in the callgrind output" >&2; exit 1; }
  echo "$total"
}
for input in "$@" synthetic; do
  load=$(count load "$input")
  scan=$(( $(count scan "$input") - load ))
  parse=$(( $(count parse "$input") - load ))
  kept=$(( $(count parse-kept "$input") - load ))
  awk -v name="$(basename "$input")" -v s="$scan" -v p="$parse" -v k="$kept" 'BEGIN {
    printf "%s: bare scan %d instructions\n", name, s
    printf "  parse + resolve, drop excluded: %d (%.2fx)\n", k, k / s
    printf "  parse + resolve + drop:         %d (%.2fx)\n", p, p / s }'
done
