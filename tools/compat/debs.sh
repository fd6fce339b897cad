#!/bin/sh
# tools/compat/debs.sh DEST: the Debian packages of OpenResty libraries that
# must never be installed with apt (they depend on nginx-extras, which pulls
# OpenResty's LuaJIT in and removes Debian's luajit), unpacked into DEST
# (build/compat) for spec/compat: their Lua files land in
# DEST/usr/share/lua/5.1/nginx/. The .debs are kept in
# ${SOCKET2_CACHE:-/var/cache/socket2}/debs, so a fresh clone does not
# download them again. Safe to run again: it does nothing when DEST is done.
set -e
dest=${1:-build/compat}
cache=${SOCKET2_CACHE:-/var/cache/socket2}/debs
pkgs="lua-nginx-redis lua-nginx-memcached lua-nginx-websocket lua-nginx-redis-connector"
stamp="$dest/.unpacked"
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pkgs" ] && exit 0
mkdir -p "$cache" "$dest"
missing=
for p in $pkgs; do
  deb=$(ls "$cache"/${p}_*.deb 2>/dev/null | tail -1)
  if [ -z "$deb" ]; then
    echo "socket2: downloading $p (apt-get download: never installed, see tools/compat/debs.sh)"
    (cd "$cache" && apt-get download "$p" >/dev/null 2>&1) || {
      (cd "$cache" && apt-get update -qq >/dev/null 2>&1 && apt-get download "$p" >/dev/null 2>&1) || {
        echo "socket2: cannot download $p: the specs that need it will be skipped" >&2; missing=1; continue; }
    }
    deb=$(ls "$cache"/${p}_*.deb | tail -1)
  fi
  dpkg-deb -x "$deb" "$dest"
done
[ -z "$missing" ] && echo "$pkgs" > "$stamp"
exit 0
