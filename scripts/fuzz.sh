#!/bin/sh
# Runs every fuzz harness built in BUILD: first replays fuzz/regressions/NAME
# (inputs that once crashed; must pass), then fuzzes for SECONDS seconds from
# the seed corpus fuzz/corpus/NAME.  New crashes stop the run (non-zero).
# FUZZ_SEED (default 1) fixes libFuzzer's random seed, and each harness runs
# a fixed number of inputs (about SECONDS of work on a 2-core EPYC, capped
# at 3x SECONDS of wall time), so that `make test` explores the same inputs
# on every machine whatever its speed and a failure reproduces; FUZZ_SEED=0
# picks a new seed per run and fuzzes for SECONDS, for longer exploratory
# runs (FUZZ_SEED=0 make fuzz FUZZ_SECONDS=600).
set -eu
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-20}
SEED=${FUZZ_SEED:-1}
# Executions per second of each harness under ASan+UBSan, measured on the
# reference machine (2-core EPYC); a harness not listed gets 2000.
rate_of() {
    case "$1" in
        fuzz_npy) echo 300000 ;;
        fuzz_safetensors) echo 150000 ;;
        fuzz_jsonnum) echo 45000 ;;
        fuzz_image) echo 16000 ;;
        fuzz_format1) echo 14000 ;;
        fuzz_exifsources|fuzz_pngtext|fuzz_reader|fuzz_schema) echo 11000 ;;
        fuzz_serve_api|fuzz_stealth) echo 6000 ;;
        fuzz_index_row) echo 4000 ;;
        *) echo 2000 ;;
    esac
}
status=0
ran=0
failed=0
# Failures are repeated at the very end, because CI shows only the tail of
# the output; the inputs that failed are kept in $BUILD/fuzz-failures.
summary=$(mktemp)
mkdir -p "$BUILD/fuzz-failures"
for h in "$BUILD"/fuzz_*; do
    [ -x "$h" ] || continue
    name=$(basename "$h")
    seeds="fuzz/corpus/$name"
    regress="fuzz/regressions/$name"
    work=$(mktemp -d)
    [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
    if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
        echo "fuzz: $name: replaying $(ls "$regress" | wc -l) regression inputs"
        if ! "$h" -runs=0 "$regress"/* >"$work.log" 2>&1; then
            echo "fuzz: $name: a regression input fails again" | tee -a "$summary"
            grep -E "ERROR|SUMMARY|Running:" "$work.log" | head -8 | sed "s/^/    /" >>"$summary"
            status=1; failed=$((failed + 1)); rm -rf "$work" "$work.log"; continue
        fi
    fi
    if [ "$SEED" = 0 ]; then
        limits="-max_total_time=$SECONDS_EACH"
        echo "fuzz: $name: ${SECONDS_EACH}s"
    else
        runs=$(( $(rate_of "$name") * SECONDS_EACH ))
        limits="-runs=$runs -max_total_time=$((3 * SECONDS_EACH))"
        echo "fuzz: $name: $runs inputs (seed $SEED)"
    fi
    # shellcheck disable=SC2086 # $limits holds two options
    if ! "$h" -seed="$SEED" $limits -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="$work/" -print_final_stats=1 "$work" >"$work.log" 2>&1; then
        echo "fuzz: $name: FAILED; last lines of the log:"
        tail -40 "$work.log"
        ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null || true
        echo "fuzz: $name: FAILED" >>"$summary"
        grep -E "ERROR|SUMMARY|==[0-9]+==|unexpected|Test unit written" "$work.log" | head -12 | sed "s/^/    /" >>"$summary"
        for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
            [ -f "$a" ] || continue
            cp "$a" "$BUILD/fuzz-failures/$name-$(basename "$a")"
            echo "    input ($(wc -c <"$a") bytes, base64): $(head -c 3000 "$a" | base64 -w0)" >>"$summary"
        done
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
if [ -s "$summary" ]; then
    echo "fuzz: $failed harness(es) failed:"
    cat "$summary"
fi
rm -f "$summary"
exit $status
