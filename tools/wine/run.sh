#!/bin/sh
# tools/wine/run.sh PROGRAM.exe [args]: runs a Windows program under Wine
# with socket2's private prefix (quietly; its exit status passes through).
. "$(dirname "$0")/env.sh"
exec wine "$@"
