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
printf '%s: %s passed, %s failed, %s todo\n' "$name" "$(grep -c '^ok ' "$out")" \
  "$(grep '^not ok ' "$out" | grep -vic '# todo')" "$(grep '^not ok ' "$out" | grep -ic '# todo')"
exit 0
