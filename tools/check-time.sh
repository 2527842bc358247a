#!/usr/bin/env bash
# `cargo check` time of generated code beside its floor: plain serde structs with the same
# Option fields. Both are checked in scratch crates that depend on dynamics-client, after the
# dependencies are built once, so only the crate under test is timed. Prints seconds and ratios.
#
#   tools/check-time.sh METADATA [TABLE-COUNTS...]     e.g. tools/check-time.sh ../shared/metadata/x.xml 10 all
set -euo pipefail
# A failure inside `$(...)` must stop the script too, not print a figure for a failed step.
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/.." && pwd)"
metadata="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
if [ $# -gt 0 ]; then counts=("$@"); else counts=(10 all); fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export CARGO_TARGET_DIR="$scratch/target"

cargo build -q --release -p dynamics-codegen --features format --bin dynamics-codegen --example serde_floor --manifest-path "$root/Cargo.toml"
bin="$CARGO_TARGET_DIR/release"

tables_of() { # the first N tables with an entity set, or * (sed, not head: with pipefail, head closing the pipe early kills grep with SIGPIPE)
  if [ "$1" = all ]; then echo '*'; return; fi
  grep -o '<EntitySet Name="[^"]*" EntityType="[^"]*"' "$metadata" \
    | sed 's/.*EntityType="[^"]*\.\([^".]*\)"/\1/' | sed -n "1,$1p" | paste -sd, -
}

make_crate() { # name, source file
  mkdir -p "$scratch/$1/src"
  cat > "$scratch/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
dynamics-client = { path = "$root/dynamics-client", default-features = false }
[workspace]
TOML
  cp "$2" "$scratch/$1/src/lib.rs"
}

time_check() { # crate dir -> seconds of a clean `cargo check` of that crate alone
  (cd "$scratch/$1" && cargo check -q) # dependencies
  (cd "$scratch/$1" && touch src/lib.rs && cargo clean -q -p "$1" 2>/dev/null || true)
  local start end
  start=$(date +%s.%N)
  (cd "$scratch/$1" && cargo check -q)
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

printf '%-8s %10s %10s %8s\n' tables floor-s generated-s ratio
for n in "${counts[@]}"; do
  tables="$(tables_of "$n")"
  "$bin/examples/serde_floor" "$metadata" "$tables" > "$scratch/floor.rs"
  "$bin/dynamics-codegen" --metadata "$metadata" --entities "$tables" -o "$scratch/generated.rs"
  make_crate "floor_$n" "$scratch/floor.rs"
  make_crate "generated_$n" "$scratch/generated.rs"
  floor=$(time_check "floor_$n")
  generated=$(time_check "generated_$n")
  printf '%-8s %10.2f %10.2f %8.2f\n' "$n" "$floor" "$generated" "$(echo "$generated / $floor" | bc -l)"
done
