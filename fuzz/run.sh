#!/usr/bin/env bash
# Runs every fuzz target of cubist for a bounded time and fails on any crash, panic or hang.
#
#   bash fuzz/run.sh                  # 60 s per target
#   FUZZ_SECONDS=600 bash fuzz/run.sh # longer
#   bash fuzz/run.sh load_tree        # some targets only
#
# Installs cargo-fuzz when it is missing. libFuzzer's instrumentation flags are nightly-only:
# RUSTC_BOOTSTRAP=1 lets this stable toolchain take them. No sanitizer (the code is safe Rust:
# the targets look for panics, hangs and disagreements), dev profile (a much shorter build).
# Builds go to fuzz/target, new inputs to fuzz/target/corpus, crashes to fuzz/artifacts (all
# ignored by git); the seeds in fuzz/corpus/<target>/ are read, never written.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(yaml_readers load_tree render_model)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --dev)
cargo fuzz build "${flags[@]}"

failed=()
for target in "${targets[@]}"; do
  work="fuzz/target/corpus/$target"
  mkdir -p "$work"
  echo "fuzz/run.sh: $target for ${seconds}s" >&2
  # A single input that runs for more than 60 s counts as a hang, and fails the target.
  # libFuzzer prints a line per new input: keep it in a log, show its end (all of it on a crash).
  log="fuzz/target/$target.log"
  if cargo fuzz run "${flags[@]}" "$target" "$work" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units)' "$log" >&2 || tail -n 3 "$log" >&2
  else
    tail -n 60 "$log" >&2
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz/run.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/; replay with" \
    "RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} <target> <input>)" >&2
  exit 1
fi
echo "fuzz/run.sh: no crash in ${targets[*]}" >&2
