#!/bin/sh
# tools/deps.sh: installs what building and testing socket2 needs, from
# Debian's archive, when it is missing. Safe to run again: it only acts when
# something is missing. Extra package names may be passed as arguments.
set -e
need=""
command -v luajit >/dev/null 2>&1 || need="$need luajit"
[ -f /usr/include/luajit-2.1/lua.h ] || need="$need libluajit-5.1-dev"
[ -f /usr/share/lua/5.1/busted/runner.lua ] || need="$need lua-busted"
[ -f /usr/include/liburing.h ] || need="$need liburing-dev"
command -v gcc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v make >/dev/null 2>&1 || need="$need make"
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"
done
[ -z "$need" ] && exit 0
echo "socket2: installing:$need"
if [ "$(id -u)" != 0 ]; then
  echo "socket2: run as root (or install these packages yourself):$need" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# no service a package brings (nginx, redis, memcached) is started by its
# install: tests start their own on loopback ports (invoke-rc.d honours it)
export RUNLEVEL=1
apt-get update -qq
# never pull OpenResty's luajit2 in beside Debian's luajit: apt would remove luajit
apt-get install -y -qq --no-install-recommends $need >/dev/null
