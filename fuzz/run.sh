#!/usr/bin/env bash
# Runs each fuzz target (fuzz/fuzz_targets) for SECONDS seconds, default 30, starting from the
# committed seeds (fuzz/seeds/TARGET) and the working corpus (fuzz/corpus/TARGET, not committed).
#
#   bash fuzz/run.sh          # the short run CI makes
#   bash fuzz/run.sh 3600     # a long run; crashes land in fuzz/artifacts/TARGET
#
# cargo-fuzz passes nightly-only flags to rustc; this machine has one stable toolchain, so
# RUSTC_BOOTSTRAP lets it take them. No sanitizer: the project's crates forbid unsafe code.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
for target in query corefile; do
    mkdir -p "corpus/$target"
    log=$(mktemp)
    status=0
    cargo fuzz run --sanitizer none --release "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -a -E '^(stat::|Done|==|SUMMARY|thread|panicked|artifact_prefix|Test unit)' "$log" || true
    # A crash leaves its input in artifacts/; a crash, a hang or a build failure ends cargo fuzz
    # with an error: fail the run.
    if [ "$status" -ne 0 ] || compgen -G "artifacts/$target/*" >/dev/null; then
        echo "fuzz target $target failed (status $status):"
        tail -40 "$log"
        ls artifacts/"$target"/ 2>/dev/null || true
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
done
