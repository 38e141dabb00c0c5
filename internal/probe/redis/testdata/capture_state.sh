#!/bin/sh
# capture_state.sh PORT: starts a throwaway redis-server on 127.0.0.1:PORT
# (its files in a temporary directory, removed at the end) and writes two
# `INFO all` captures for the parser's tests of the state rules:
#
#   info_bgsave_err.txt  save points configured, the dump file's path made a
#                        directory after start: BGSAVE fails
#                        (rdb_last_bgsave_status:err) and writes are refused
#                        (errorstat_MISCONF)
#   info_fragmented.txt  300,000 values of 900 bytes written, nine in ten
#                        deleted, activedefrag off: mem_fragmentation_ratio
#                        and allocator_frag_bytes high
#
# Usage: sh capture_state.sh 26690
set -eu
port=${1:?usage: capture_state.sh PORT}
out=$(pwd)
dir=$(mktemp -d)
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
redis-server --port "$port" --bind 127.0.0.1 --save "3600 1 300 100 60 10000" \
	--appendonly no --dir "$dir" --dbfilename dump.rdb --daemonize yes \
	--pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
sleep 0.5
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
# The executable's and the directory's paths are the machine's.
capture() {
	cli info all | tr -d '\r' | sed 's|^executable:.*|executable:redis-server|' >"$out/$1"
}

mkdir "$dir/dump.rdb"
cli set state:a 1 >/dev/null
cli bgsave >/dev/null
sleep 1
cli set state:b 2 >/dev/null || true # MISCONF: writes refused
capture info_bgsave_err.txt

rmdir "$dir/dump.rdb"
cli config set save "" >/dev/null
seq 1 300000 | awk -v v="$(printf '%0900d' 0)" '{print "SET frag:" $1 " " v}' | cli --pipe >/dev/null
seq 1 300000 | awk '$1 % 10 != 0 {print "DEL frag:" $1}' | cli --pipe >/dev/null
sleep 1
capture info_fragmented.txt
