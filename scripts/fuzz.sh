#!/bin/sh
# Runs every fuzz harness built in BUILD: first replays fuzz/regressions/NAME
# (inputs that once crashed; must pass), then fuzzes for SECONDS seconds from
# the seed corpus fuzz/corpus/NAME.  New crashes stop the run (non-zero).
# FUZZ_SEED (default 1) fixes libFuzzer's random seed so that `make test`
# explores the same inputs on every machine and a failure reproduces;
# FUZZ_SEED=0 picks a new seed per run, for longer exploratory runs
# (FUZZ_SEED=0 make fuzz FUZZ_SECONDS=600).
set -eu
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-20}
SEED=${FUZZ_SEED:-1}
status=0
ran=0
failed=0
for h in "$BUILD"/fuzz_*; do
    [ -x "$h" ] || continue
    name=$(basename "$h")
    seeds="fuzz/corpus/$name"
    regress="fuzz/regressions/$name"
    work=$(mktemp -d)
    [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
    if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
        echo "fuzz: $name: replaying $(ls "$regress" | wc -l) regression inputs"
        "$h" -runs=0 "$regress"/* >/dev/null 2>&1 || { echo "fuzz: $name: a regression input fails again"; status=1; failed=$((failed + 1)); continue; }
    fi
    echo "fuzz: $name: ${SECONDS_EACH}s"
    if ! "$h" -seed="$SEED" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="$work/" -print_final_stats=1 "$work" >"$work.log" 2>&1; then
        echo "fuzz: $name: FAILED; last lines of the log:"
        tail -40 "$work.log"
        ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null || true
        status=1
        failed=$((failed + 1))
    else
        ran=$((ran + 1))
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work.log" | sed "s/^/fuzz: $name: /"
    fi
    rm -rf "$work" "$work.log"
done
# What `make test`'s closing line counts: harnesses that ran clean, and not.
echo "$ran $failed" >"$BUILD/fuzz-results.txt"
exit $status
