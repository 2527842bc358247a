#!/usr/bin/env bash
# Time added by `dynamics_entities!` for 5 tables of a `$metadata` document: a clean
# `cargo check` of a scratch crate holding only the macro call, beside the same crate empty.
# Both depend on dynamics-client (with its `macros` feature); the dependencies are built
# first, so only the crate under test is timed. Each is timed RUNS times (default 3); the
# medians and their difference are printed.
#
#   benches/macro-time.sh METADATA [RUNS]
#   e.g. benches/macro-time.sh ../shared/metadata/dynamics-crm-v8-simple-odata-client.xml
#
# When the `dynamics-codegen` binary is given as CODEGEN_BIN, a third crate holds the same 5
# tables written out by it (no macro), which splits the added time into the macro's own work
# (reading the document, generating) and checking the code it generates.
#
# CARGO_TARGET_DIR is honoured (a scratch one is used and removed otherwise). With
# MACRO_OPT=1 both crates set `[profile.dev.build-override] opt-level = 3`, so the proc macro
# and the parser it calls are optimised (what a user can put in their own Cargo.toml).
set -euo pipefail
# A failure inside `$(...)` must stop the script too, not print a figure for a failed step.
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/.." && pwd)"
metadata="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
runs="${2:-3}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$scratch/target}"

# The first 5 tables that have an entity set.
tables="$(grep -o '<EntitySet Name="[^"]*" EntityType="[^"]*"' "$metadata" \
  | sed 's/.*EntityType="[^"]*\.\([^".]*\)"/\1/' | sed -n 1,5p | paste -sd, -)"

make_crate() { # name, lib.rs text
  mkdir -p "$scratch/$1/src"
  cat > "$scratch/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
dynamics-client = { path = "$root/dynamics-client" }
[workspace]
TOML
  if [ "${MACRO_OPT:-0}" = 1 ]; then
    printf '[profile.dev.build-override]\nopt-level = 3\n' >> "$scratch/$1/Cargo.toml"
  fi
  cp "$metadata" "$scratch/$1/metadata.xml"
  printf '%s\n' "$2" > "$scratch/$1/src/lib.rs"
}

time_check() { # crate -> seconds of a `cargo check` of that crate alone
  (cd "$scratch/$1" && cargo clean -q -p "$1" 2>/dev/null || true)
  local start end
  start=$(date +%s.%N)
  (cd "$scratch/$1" && cargo check -q)
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

make_crate empty_crate '//! Nothing: the baseline.'
make_crate macro_crate "//! Five tables through the macro.
dynamics_client::dynamics_entities! {
    metadata = \"metadata.xml\",
    entities = [${tables}],
}"
crates=(empty_crate macro_crate)
if [ -n "${CODEGEN_BIN:-}" ]; then
  "$CODEGEN_BIN" --metadata "$metadata" --entities "$tables" -o "$scratch/generated.rs"
  make_crate generated_crate "$(cat "$scratch/generated.rs")"
  crates+=(generated_crate)
  (cd "$scratch/generated_crate" && cargo check -q)
fi
(cd "$scratch/empty_crate" && cargo check -q) # dependencies, once
(cd "$scratch/macro_crate" && cargo check -q) # and the macro itself

echo "metadata: $(basename "$metadata") ($(wc -c < "$metadata") bytes); tables: $tables"
declare -A times
for _ in $(seq "$runs"); do
  for c in "${crates[@]}"; do times[$c]+="$(time_check "$c") "; done
done
for c in "${crates[@]}"; do
  # shellcheck disable=SC2086
  m="$(median ${times[$c]})"
  declare "median_$c=$m"
  printf '%-16s %6.2f s  (runs: %s)\n' "$c" "$m" "${times[$c]}"
done
printf 'macro adds       %6.2f s over the empty crate\n' "$(echo "$median_macro_crate - $median_empty_crate" | bc -l)"
if [ -n "${CODEGEN_BIN:-}" ]; then
  printf 'of which         %6.2f s checking the generated code, %.2f s the macro itself\n' \
    "$(echo "$median_generated_crate - $median_empty_crate" | bc -l)" \
    "$(echo "$median_macro_crate - $median_generated_crate" | bc -l)"
fi
