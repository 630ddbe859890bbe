#!/bin/sh
# The closing line of `make test`, counted from the results the runs left
# behind: ctest's JUnit reports (the normal and the ASan+UBSan run) and the
# fuzz harnesses' tally (scripts/fuzz.sh).  A missing report counts as a
# failure, so a step that did not run cannot pass unseen.
#   scripts/test-summary.sh CTEST.xml ASAN.xml FUZZ.txt
passed=0
failed=0
for xml in "$1" "$2"; do
    if [ ! -f "$xml" ]; then
        echo "test-summary: no results in $xml"
        failed=$((failed + 1))
        continue
    fi
    # <testsuite ... tests="N" failures="F" ... skipped="S" ...>
    head=$(head -c 4096 "$xml" | tr '\n\t' '  ' | grep -o '<testsuite [^>]*>' | head -1)
    n=$(echo "$head" | sed -n 's/.* tests="\([0-9]*\)".*/\1/p')
    f=$(echo "$head" | sed -n 's/.* failures="\([0-9]*\)".*/\1/p')
    s=$(echo "$head" | sed -n 's/.* skipped="\([0-9]*\)".*/\1/p')
    if [ -z "$n" ] || [ -z "$f" ]; then
        echo "test-summary: $xml is not a ctest JUnit report"
        failed=$((failed + 1))
        continue
    fi
    passed=$((passed + ${n:-0} - ${f:-0} - ${s:-0}))
    failed=$((failed + ${f:-0}))
done
if [ -f "$3" ]; then
    read -r fr ff <"$3"
    passed=$((passed + fr))
    failed=$((failed + ff))
else
    echo "test-summary: no fuzz results in $3"
    failed=$((failed + 1))
fi
echo "make test: ctest twice (plain and ASan+UBSan) and every fuzz harness"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
