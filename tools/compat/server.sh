#!/bin/sh
# tools/compat/server.sh: the servers the compat specs (spec/compat) talk
# to, on 127.0.0.1 only, each in a directory of its own with a pid file.
#   server.sh start NAME DIR PORT [ARG]   starts NAME; its pid lands in DIR/pid
#   server.sh stop DIR                    stops the server of DIR by its pid, removes DIR
# NAME: redis (DIR/redis.sock too), memcached, dnsmasq, tcdns (truncating
# DNS: tcdns.py), websocketd (ARG: text | binary), websocketd-tls (ARG: a
# directory with server.pem and server.key, as tools/tls/certs.sh makes),
# smtpd (python's smtpd, messages in DIR/log), http (python's http.server
# serving ARG).
# Exit 0 once the pid file exists; otherwise 1 and why on stdout. Waiting
# for the port is the caller's (it connects until it may). Servers run
# without the ASan preload of the sanitizer suite.
set -u
cmd=$1
here=$(cd "$(dirname "$0")" && pwd)
unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS 2>/dev/null || true
PY=/usr/bin/python3 # Debian's: the python3 on PATH may not see dist-packages

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "$1 is not installed (make test installs it: tools/deps.sh)"; exit 1; }
}

wait_pid() { # the pid file of a daemon, up to 5 s
  i=0
  while [ ! -s "$1" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then echo "no pid file after 5 s: $(tail -5 "$2" 2>/dev/null)"; exit 1; fi
    sleep 0.05
  done
}

alive() { # is process $1 running? (a zombie waiting for its parent to reap it is not)
  if [ -r "/proc/$1/stat" ]; then
    ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
  else
    kill -0 "$1" 2>/dev/null
  fi
}

bg() { # runs "$@" in the background, its pid into $dir/pid
  nohup "$@" > "$dir/log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
}

case "$cmd" in
start)
  name=$2; dir=$3; port=$4; arg=${5:-}
  mkdir -p "$dir"
  case "$name" in
  redis)
    need redis-server
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/pid" --dir "$dir" --logfile "$dir/log" --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
      > "$dir/start.log" 2>&1 || { cat "$dir/start.log"; exit 1; }
    wait_pid "$dir/pid" "$dir/log" ;;
  memcached)
    need memcached
    memcached -p "$port" -U 0 -l 127.0.0.1 -u "$(id -un)" -d -P "$dir/pid" > "$dir/log" 2>&1 || { cat "$dir/log"; exit 1; }
    wait_pid "$dir/pid" "$dir/log" ;;
  dnsmasq)
    need dnsmasq
    dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
      --port="$port" --address=/example.test/127.0.0.42 --address=/example.test/fd00::42 --address=/nx.test/ \
      --txt-record=txt.example.test,"hello world" --pid-file="$dir/pid" --user="$(id -un)" --log-facility="$dir/log" \
      > "$dir/start.log" 2>&1 || { cat "$dir/start.log"; exit 1; }
    wait_pid "$dir/pid" "$dir/log" ;;
  tcdns)
    [ -x $PY ] && $PY -c 'import dnslib' 2>/dev/null || { echo "python3-dnslib is not installed"; exit 1; }
    nohup $PY "$here/tcdns.py" "$port" "$dir/pid" > "$dir/log" 2>&1 < /dev/null &
    wait_pid "$dir/pid" "$dir/log" ;;
  websocketd)
    need websocketd
    if [ "$arg" = binary ]; then bg websocketd --port "$port" --address 127.0.0.1 --binary=true cat
    else bg websocketd --port "$port" --address 127.0.0.1 cat; fi ;;
  websocketd-tls)
    need websocketd
    bg websocketd --port "$port" --address 127.0.0.1 --ssl --sslcert "$arg/server.pem" --sslkey "$arg/server.key" cat ;;
  smtpd)
    [ -x $PY ] && $PY -W ignore -c 'import smtpd' 2>/dev/null || { echo "python3's smtpd module is missing"; exit 1; }
    bg $PY -W ignore -u -m smtpd -n -c DebuggingServer "127.0.0.1:$port" ;;
  http)
    [ -x $PY ] || { echo "$PY is missing"; exit 1; }
    bg $PY -m http.server "$port" --bind 127.0.0.1 --directory "$arg" ;;
  *) echo "unknown server $name"; exit 1 ;;
  esac
  echo ok ;;
stop)
  dir=$2
  if [ -s "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null
    i=0
    while alive "$pid"; do
      i=$((i + 1))
      if [ $i -gt 100 ]; then kill -9 "$pid" 2>/dev/null; break; fi
      sleep 0.05
    done
  fi
  rm -rf "$dir"
  echo ok ;;
*) echo "usage: server.sh start NAME DIR PORT [ARG] | stop DIR"; exit 2 ;;
esac
