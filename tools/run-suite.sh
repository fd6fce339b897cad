#!/bin/sh
# tools/run-suite.sh NAME CMD...: runs one test suite that prints TAP, shows
# its output, and keeps it (plus "# exit N") in build/test/NAME.tap for
# tools/tap-summary.sh.
name=$1; shift
mkdir -p build/test
out=build/test/$name.tap
echo "== $name: $*"
"$@" > "$out" 2>&1
rc=$?
echo "# exit $rc" >> "$out"
grep -v '^ok ' "$out" | grep -v '^# exit 0$' || true
# (not the "N passed, N failed" form: only the last line, over all suites, has it)
printf '== %s done (exit %s): ok %s, not ok %s\n' "$name" "$rc" "$(grep -c '^ok ' "$out")" "$(grep -c '^not ok ' "$out")"
exit 0
