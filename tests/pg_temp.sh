#!/bin/sh
# A throw-away PostgreSQL for tests, from Debian's `postgresql` package (scripts/setup.sh
# installs it): no system service, nothing outside DIR.
#
#   sh tests/pg_temp.sh start DIR   initdb into DIR/data, start on 127.0.0.1 at a free port
#                                   with the socket in DIR; prints the URL on stdout
#                                   (postgresql://omni@127.0.0.1:PORT/postgres) and writes
#                                   it to DIR/url. DIR must not exist or be empty.
#   sh tests/pg_temp.sh restart DIR restarts the server (same port): clients' connections break
#   sh tests/pg_temp.sh stop DIR    stops the server and removes DIR
#
# fsync is off unless PG_TEMP_FSYNC=on: what the tests kill is omni, never this server, and a
# committed transaction is the server's whether or not it reached the disk (benchmarks that
# report commit cost set PG_TEMP_FSYNC=on). PostgreSQL refuses to run as root, so as root (CI) the server runs as `nobody` and DIR is
# handed to it. Authentication is `trust` on loopback only (a test database). Exits non-zero
# with a message on stderr when the server cannot be made or started — tests fail on that,
# they do not skip.
set -u
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg_temp.sh start|restart|stop DIR" >&2; exit 2; }

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { bindir=$d; break; }
  done
fi
if [ -z "$bindir" ] && command -v pg_ctl >/dev/null 2>&1; then bindir=$(dirname "$(command -v pg_ctl)"); fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] || {
  echo "pg_temp.sh: PostgreSQL server binaries not found (apt-get install postgresql; scripts/setup.sh does)" >&2; exit 1; }

as_pg() { # runs a PostgreSQL binary as the owner of the data folder
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir" || exit 1
  dir=$(cd "$dir" && pwd)
  [ -z "$(ls -A "$dir")" ] || { echo "pg_temp.sh: $dir is not empty" >&2; exit 1; }
  if [ "$(id -u)" = 0 ]; then
    chown nobody "$dir" || exit 1
    # nobody must reach DIR: every folder above it needs the x bit for others
    p=$(dirname "$dir"); while [ "$p" != / ]; do chmod o+x "$p" 2>/dev/null; p=$(dirname "$p"); done
  fi
  if ! as_pg "$bindir/initdb" -D "$dir/data" -U omni -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
    echo "pg_temp.sh: initdb failed:" >&2; tail -n 20 "$dir/initdb.log" >&2; exit 1
  fi
  tries=0
  while :; do
    tries=$((tries + 1))
    port=$(( 20000 + ($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000) ))
    if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
         -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${PG_TEMP_FSYNC:-off} -c max_connections=200" start >/dev/null 2>&1; then
      break
    fi
    if [ $tries -ge 5 ]; then
      echo "pg_temp.sh: the server did not start:" >&2; tail -n 20 "$dir/server.log" >&2; exit 1
    fi
  done
  url="postgresql://omni@127.0.0.1:$port/postgres"
  echo "$url" > "$dir/url"
  echo "$url"
  ;;
restart)
  [ -f "$dir/data/postmaster.pid" ] || { echo "pg_temp.sh: no server running in $dir" >&2; exit 1; }
  as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null 2>&1 || {
    echo "pg_temp.sh: restart failed:" >&2; tail -n 20 "$dir/server.log" >&2; exit 1; }
  ;;
stop)
  [ -d "$dir" ] || exit 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: pg_temp.sh start|restart|stop DIR" >&2; exit 2 ;;
esac
