#!/bin/sh
# tools/tap-summary.sh FILE...: sums TAP results over every suite's output
# and prints the one closing line CI reads: "N passed, N failed, N skipped".
# Skipped counts TAP skips and TODO tests (known bugs), never as passed.
# A suite whose file ends in a line "# exit N" with N != 0 but has no
# failing test counts one failure (it crashed or could not start).
awk '
  FNR == 1 { if (prev_file != "" && crashed) failed++; prev_file = FILENAME; crashed = 0; nfail_file = 0 }
  /^ok / { if ($0 ~ /# [Ss][Kk][Ii][Pp]/) skipped++; else passed++ }
  /^not ok / {
    if ($0 ~ /# [Tt][Oo][Dd][Oo]/) skipped++  # a known, filed bug: not a pass
    else { failed++; nfail_file++ }
  }
  /^# exit [0-9]+$/ { if ($3 != 0 && nfail_file == 0) crashed = 1 }
  END {
    if (prev_file != "" && crashed) failed++
    printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
    exit (failed > 0 || passed == 0) ? 1 : 0
  }' "$@"
