#!/bin/sh
# capture.sh PORT: runs a little workload against the Redis on 127.0.0.1:PORT
# and writes its `INFO all` to info_all.txt, for the parser's tests.
# Used with the test stack's Redis: sh capture.sh 56380
set -eu
port=${1:?usage: capture.sh PORT}
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@" >/dev/null; }
for i in 1 2 3 4 5 6 7 8 9 10; do
	cli set "probe_redis_capture:$i" "value-$i"
	cli get "probe_redis_capture:$i"
	cli get "probe_redis_capture:missing:$i"
done
cli set probe_redis_capture:ttl v EX 600
cli hset probe_redis_capture:h f1 v1 f2 v2
cli client list
cli incr probe_redis_capture:1 || true     # ERR: not an integer
cli nosuchcommand || true                  # ERR unknown command
cli slowlog get 10
# The executable's path is the machine's: keep it out of testdata.
redis-cli -h 127.0.0.1 -p "$port" info all | tr -d '\r' |
	sed 's|^executable:.*|executable:redis-server|' >info_all.txt
