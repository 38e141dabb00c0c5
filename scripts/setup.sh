#!/usr/bin/env bash
# Installs the system parts advisor needs, from Debian's packages.
#
#   scripts/setup.sh          what the demo needs (make setup): a PostgreSQL
#                             server with contrib (pg_stat_statements) and the
#                             matching hypopg, and Redis
#   scripts/setup.sh --test   that and what the tests add (make setup-test,
#                             run by make test): wrk and tmux, the Python
#                             reference target's packages (FastAPI, uvicorn,
#                             SQLAlchemy, psycopg2, prometheus-client), and
#                             Node.js for the Express one, whose npm packages
#                             are installed from its lock file, and Prometheus
#                             (the fleet tests run their own server: the
#                             system service the package starts is stopped
#                             and disabled)
#
# Silent and fast when everything is present. As root it installs what is
# missing with apt-get; otherwise it prints the exact commands to run and
# exits 1. SETUP_SYSROOT, for this script's tests, is prepended to the paths
# it looks at.
set -euo pipefail

usage() {
	echo "usage: scripts/setup.sh [--test]" >&2
	exit 2
}
tests=false
case "${1:-}" in
"") ;;
--test) tests=true ;;
*) usage ;;
esac
[ $# -le 1 ] || usage

root=${SETUP_SYSROOT:-}

pg_major() {
	local newest=""
	for bin in "$root"/usr/lib/postgresql/*/bin/postgres; do
		[ -x "$bin" ] || continue
		local v
		v=$(basename "$(dirname "$(dirname "$bin")")")
		if [ -z "$newest" ] || [ "$v" -gt "$newest" ] 2>/dev/null; then newest=$v; fi
	done
	echo "$newest"
}

# pg_candidate is the major version Debian's postgresql package would
# install, when apt-cache knows it: hypopg's package is named after it.
pg_candidate() {
	command -v apt-cache >/dev/null 2>&1 || return 0
	apt-cache depends postgresql 2>/dev/null | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n 1
}

missing() {
	local pkgs=() v
	v=$(pg_major)
	if [ -z "$v" ]; then
		pkgs+=(postgresql postgresql-contrib)
		v=$(pg_candidate)
		[ -z "$v" ] || pkgs+=("postgresql-$v-hypopg")
	else
		[ -f "$root/usr/share/postgresql/$v/extension/pg_stat_statements.control" ] || pkgs+=(postgresql-contrib)
		[ -f "$root/usr/share/postgresql/$v/extension/hypopg.control" ] || pkgs+=("postgresql-$v-hypopg")
	fi
	command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
	if $tests; then
		command -v wrk >/dev/null 2>&1 || pkgs+=(wrk)
		command -v tmux >/dev/null 2>&1 || pkgs+=(tmux)
		command -v prometheus >/dev/null 2>&1 || pkgs+=(prometheus)
		# The reference targets (targets/): Debian's Python packages for
		# Debian's python3 (not another python3 first on PATH), Node.js.
		local py
		for py in fastapi uvicorn sqlalchemy psycopg2 prometheus_client; do
			"$root/usr/bin/python3" -c "import $py" >/dev/null 2>&1 || pkgs+=("python3-${py//_/-}")
		done
		command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
		command -v npm >/dev/null 2>&1 || pkgs+=(npm)
	fi
	echo "${pkgs[@]:-}"
}

install() {
	# shellcheck disable=SC2206
	local pkgs=($1)
	echo "setup: installing ${pkgs[*]}" >&2
	# A new machine's package lists may be empty or old.
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
	case " ${pkgs[*]} " in
	*" prometheus "*) quiet_prometheus ;;
	esac
}

# quiet_prometheus stops and disables the system Prometheus that Debian's
# package starts (on :9090, scraping the machine): the tests start their
# own on private ports, and nothing else here wants one running.
quiet_prometheus() {
	if command -v systemctl >/dev/null 2>&1 && [ -d "$root/run/systemd/system" ]; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	else
		if command -v service >/dev/null 2>&1; then service prometheus stop >/dev/null 2>&1 || true; fi
		if command -v update-rc.d >/dev/null 2>&1; then update-rc.d prometheus disable >/dev/null 2>&1 || true; fi
	fi
}

# explain prints the commands that install the packages in $1, for a user
# who is not root.
explain() {
	local need=$1 what="the demo needs"
	if $tests; then what="the tests need"; fi
	echo "setup: $what these Debian packages: $need" >&2
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "setup: there is no apt-get here: install them (or their equivalents) with the system's package manager, then run this again" >&2
		exit 1
	fi
	local sudo=""
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo "
		echo "setup: install them with:" >&2
	else
		echo "setup: install them as root with:" >&2
	fi
	echo "" >&2
	echo "  ${sudo}apt-get update" >&2
	echo "  ${sudo}apt-get install -y --no-install-recommends $need" >&2
	echo "" >&2
	case " $need " in
	*" postgresql "*)
		case "$need" in
		*-hypopg*) ;;
		*) echo "setup: then run this again: hypopg's package is named after the PostgreSQL version installed" >&2 ;;
		esac
		;;
	esac
	exit 1
}

# npm_targets installs the npm packages of each Node reference target from its
# lock file, when they are missing or older than the lock.
npm_targets() {
	local dir
	for dir in targets/*/; do
		[ -f "$dir/package-lock.json" ] || continue
		if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
			echo "setup: npm ci in $dir" >&2
			(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
			touch "$dir/node_modules"
		fi
	done
}

cd "$(dirname "$0")/.."
need=$(missing)
if [ -z "$need" ]; then
	if $tests; then npm_targets; fi
	exit 0
fi

[ "$(id -u)" -eq 0 ] || explain "$need"

install "$need"
# The hypopg package is named after the server's major version, which is only
# known once the server is installed when apt-cache could not tell.
need=$(missing)
[ -n "$need" ] && install "$need"
need=$(missing)
if [ -n "$need" ]; then
	echo "setup: still missing after apt-get install: $need" >&2
	exit 1
fi
if $tests; then npm_targets; fi
echo "setup: done" >&2
