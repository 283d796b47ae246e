#!/usr/bin/env bash
# Real engines for the test suites: RabbitMQ and PostgreSQL on loopback.
#
# Two ways to use it (the functions are safe under `set -euo pipefail`):
#   source tests/engines.sh && engines_start   # exports RELAIS_TEST_AMQP / RELAIS_TEST_POSTGRES
#   tests/engines.sh start|stop|status         # `start` prints the export lines on stdout
#
# It installs Debian's packages when missing, starts the engines without
# systemd (CI containers have none), waits until they really accept clients,
# and remembers in a state file which engines it started itself, so `stop`
# never stops an engine that somebody else was running. Every step is
# idempotent: a second `start` while running changes nothing.
#
# Written for Debian 12 as root (CI: CI=true, no stdin). Logs go to stderr.

ENGINES_STATE_FILE="${RELAIS_ENGINES_STATE:-}"
if [[ -z "$ENGINES_STATE_FILE" ]]; then
	if [[ -d /run && -w /run ]]; then
		# /run is emptied at boot, exactly when every engine we started is gone.
		ENGINES_STATE_FILE=/run/relais-engines.state
	else
		ENGINES_STATE_FILE="${TMPDIR:-/tmp}/relais-engines.state"
	fi
fi

ENGINES_PG_USER="${RELAIS_TEST_PG_USER:-relais}"
ENGINES_PG_DB="${RELAIS_TEST_PG_DB:-relais_test}"
# A throwaway password for a loopback-only test database.
ENGINES_PG_PASSWORD="${RELAIS_TEST_PG_PASSWORD:-relais-test-only}"
ENGINES_AMQP_PORT="${RELAIS_TEST_AMQP_PORT:-5672}"

engines_log() { printf 'engines: %s\n' "$*" >&2; }

engines_fail() {
	engines_log "ERROR: $*"
	return 1
}

# --- state file: which engines this script started -----------------------

engines_state_get() { # name -> prints the value or nothing
	[[ -f "$ENGINES_STATE_FILE" ]] || return 0
	sed -n "s/^$1=//p" "$ENGINES_STATE_FILE" | tail -n 1
}

engines_state_set() { # name value
	local tmp="$ENGINES_STATE_FILE.tmp"
	{
		if [[ -f "$ENGINES_STATE_FILE" ]]; then
			grep -v "^$1=" "$ENGINES_STATE_FILE" || true
		fi
		printf '%s=%s\n' "$1" "$2"
	} >"$tmp" && mv "$tmp" "$ENGINES_STATE_FILE"
}

engines_state_clear() { # name
	[[ -f "$ENGINES_STATE_FILE" ]] || return 0
	local tmp="$ENGINES_STATE_FILE.tmp"
	grep -v "^$1=" "$ENGINES_STATE_FILE" >"$tmp" || true
	mv "$tmp" "$ENGINES_STATE_FILE"
	[[ -s "$ENGINES_STATE_FILE" ]] || rm -f "$ENGINES_STATE_FILE"
}

# --- packages --------------------------------------------------------------

ENGINES_APT_UPDATED=""

engines_apt_install() { # package...
	export DEBIAN_FRONTEND=noninteractive
	if [[ -z "$ENGINES_APT_UPDATED" ]]; then
		engines_log "apt-get update"
		apt-get update -qq </dev/null >&2 || return 1
		ENGINES_APT_UPDATED=1
	fi
	engines_log "apt-get install $*"
	apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2
}

# A killed process stays a zombie until reaped, and kill -0 still finds it.
engines_pid_alive() { # pid
	local state
	[[ -n "$1" ]] || return 1
	state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
	[[ -n "$state" && "$state" != Z* ]]
}

engines_port_open() { # port
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --- RabbitMQ ----------------------------------------------------------------

engines_rabbit_env() {
	local host
	host="$(hostname -s)"
	# The node name must resolve; fall back to localhost on hosts whose short
	# name is not in /etc/hosts.
	getent hosts "$host" >/dev/null 2>&1 || host=localhost
	export RABBITMQ_NODENAME="rabbit@$host"
	# Loopback only: AMQP listener, Erlang distribution and the port mapper.
	export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
	export RABBITMQ_NODE_PORT="$ENGINES_AMQP_PORT"
	export ERL_EPMD_ADDRESS=127.0.0.1
	export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
	ENGINES_RABBIT_PIDFILE="/var/lib/rabbitmq/mnesia/$RABBITMQ_NODENAME.pid"
}

engines_rabbit_installed() { command -v rabbitmq-server >/dev/null 2>&1; }

engines_rabbit_running() {
	engines_rabbit_env
	if [[ -f "$ENGINES_RABBIT_PIDFILE" ]] && engines_pid_alive "$(cat "$ENGINES_RABBIT_PIDFILE" 2>/dev/null)"; then
		return 0
	fi
	# A broker started some other way (another pid file location). Not
	# `rabbitmqctl ping`: the CLI would leave an epmd daemon behind.
	engines_port_open "$RABBITMQ_NODE_PORT"
}

engines_rabbit_start() {
	engines_rabbit_env
	if ! engines_rabbit_installed; then
		engines_apt_install rabbitmq-server || return 1
	fi
	if engines_rabbit_running; then
		engines_log "rabbitmq already running ($RABBITMQ_NODENAME)"
	else
		engines_log "starting rabbitmq ($RABBITMQ_NODENAME, 127.0.0.1:$RABBITMQ_NODE_PORT)"
		# A pid file left by a killed broker would make `rabbitmqctl wait`
		# watch the dead process instead of the new one.
		rm -f "$ENGINES_RABBIT_PIDFILE"
		rabbitmq-server -detached </dev/null >&2 || return 1
		engines_state_set rabbitmq started
	fi
	# `rabbitmqctl wait PIDFILE` returns once the app is fully booted, listeners
	# included; await_startup right after -detached fails (code 69) and a bare
	# ping answers before 5672 listens.
	if [[ -f "$ENGINES_RABBIT_PIDFILE" || "$(engines_state_get rabbitmq)" == started ]]; then
		rabbitmqctl wait --timeout 120 "$ENGINES_RABBIT_PIDFILE" >&2 ||
			engines_fail "rabbitmq did not become ready; see /var/log/rabbitmq/" || return 1
	fi
	local i
	for ((i = 0; i < 60; i++)); do
		engines_port_open "$RABBITMQ_NODE_PORT" && return 0
		sleep 1
	done
	engines_fail "rabbitmq is running but 127.0.0.1:$RABBITMQ_NODE_PORT does not accept connections"
}

engines_rabbit_stop() {
	engines_rabbit_env
	if [[ "$(engines_state_get rabbitmq)" != started ]]; then
		engines_log "rabbitmq: not started by this script, left alone"
		return 0
	fi
	if engines_rabbit_running; then
		engines_log "stopping rabbitmq"
		# Returns only once the broker process has exited.
		rabbitmqctl stop "$ENGINES_RABBIT_PIDFILE" >&2 || return 1
	fi
	epmd -kill >/dev/null 2>&1 || true
	engines_state_clear rabbitmq
}

# --- PostgreSQL ----------------------------------------------------------------

# Sets ENGINES_PG_VERSION / ENGINES_PG_CLUSTER / ENGINES_PG_PORT from the
# first existing cluster, or the newest installed server version.
engines_pg_detect() {
	ENGINES_PG_VERSION="" ENGINES_PG_CLUSTER="" ENGINES_PG_PORT=""
	command -v pg_lsclusters >/dev/null 2>&1 || return 0
	local line
	line="$(pg_lsclusters -h 2>/dev/null | sort -k1,1V -k2,2 | awk '$2 == "main"' | tail -n 1)"
	[[ -n "$line" ]] || line="$(pg_lsclusters -h 2>/dev/null | tail -n 1)"
	if [[ -n "$line" ]]; then
		read -r ENGINES_PG_VERSION ENGINES_PG_CLUSTER ENGINES_PG_PORT _ <<<"$line"
		return 0
	fi
	ENGINES_PG_VERSION="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
	ENGINES_PG_CLUSTER=main
}

engines_pg_running() {
	engines_pg_detect
	[[ -n "$ENGINES_PG_VERSION" ]] || return 1
	pg_lsclusters -h 2>/dev/null |
		awk -v v="$ENGINES_PG_VERSION" -v c="$ENGINES_PG_CLUSTER" '$1 == v && $2 == c && $4 == "online" { ok = 1 } END { exit !ok }'
}

engines_psql() { # psql options; the SQL comes on stdin
	runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$ENGINES_PG_PORT" -d postgres "$@"
}

engines_pg_start() {
	engines_pg_detect
	if [[ -z "$ENGINES_PG_VERSION" || ! -x "/usr/lib/postgresql/$ENGINES_PG_VERSION/bin/postgres" ]]; then
		engines_apt_install postgresql || return 1
		engines_pg_detect
	fi
	[[ -n "$ENGINES_PG_VERSION" ]] || engines_fail "no PostgreSQL server version found" || return 1
	if ! pg_lsclusters -h 2>/dev/null | awk -v v="$ENGINES_PG_VERSION" '$1 == v { f = 1 } END { exit !f }'; then
		engines_log "creating PostgreSQL cluster $ENGINES_PG_VERSION/$ENGINES_PG_CLUSTER"
		pg_createcluster "$ENGINES_PG_VERSION" "$ENGINES_PG_CLUSTER" >&2 || return 1
		engines_pg_detect
	fi
	if engines_pg_running; then
		engines_log "postgresql $ENGINES_PG_VERSION/$ENGINES_PG_CLUSTER already running"
	else
		engines_log "starting postgresql $ENGINES_PG_VERSION/$ENGINES_PG_CLUSTER"
		pg_ctlcluster "$ENGINES_PG_VERSION" "$ENGINES_PG_CLUSTER" start >&2 || return 1
		engines_state_set postgres "started $ENGINES_PG_VERSION $ENGINES_PG_CLUSTER"
	fi
	pg_isready -q -t 60 -h 127.0.0.1 -p "$ENGINES_PG_PORT" ||
		engines_fail "postgresql on 127.0.0.1:$ENGINES_PG_PORT is not ready" || return 1

	# Role and database for the tests, created once, password kept in sync.
	engines_psql -v user="$ENGINES_PG_USER" -v pw="$ENGINES_PG_PASSWORD" <<'SQL' >&2 || return 1
SELECT format(CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user')
                   THEN 'ALTER ROLE %I WITH LOGIN PASSWORD %L'
                   ELSE 'CREATE ROLE %I WITH LOGIN PASSWORD %L' END, :'user', :'pw') \gexec
SQL
	engines_psql -v user="$ENGINES_PG_USER" -v db="$ENGINES_PG_DB" <<'SQL' >&2 || return 1
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

engines_pg_stop() {
	local state version cluster
	state="$(engines_state_get postgres)"
	if [[ "$state" != started* ]]; then
		engines_log "postgresql: not started by this script, left alone"
		return 0
	fi
	read -r _ version cluster <<<"$state"
	if pg_lsclusters -h 2>/dev/null | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c && $4 == "online" { ok = 1 } END { exit !ok }'; then
		engines_log "stopping postgresql $version/$cluster"
		pg_ctlcluster "$version" "$cluster" stop >&2 || return 1
	fi
	engines_state_clear postgres
}

# --- public entry points ---------------------------------------------------------

# Exports the URLs the Go tests read.
engines_env() {
	engines_pg_detect
	export RELAIS_TEST_AMQP="amqp://guest:guest@127.0.0.1:$ENGINES_AMQP_PORT/"
	export RELAIS_TEST_POSTGRES="postgres://$ENGINES_PG_USER:$ENGINES_PG_PASSWORD@127.0.0.1:${ENGINES_PG_PORT:-5432}/$ENGINES_PG_DB?sslmode=disable"
}

engines_start() {
	[[ "$(id -u)" == 0 ]] || engines_fail "must run as root (installs packages, starts system services)" || return 1
	engines_rabbit_start || return 1
	engines_pg_start || return 1
	engines_env
	engines_log "ready: RabbitMQ on 127.0.0.1:$ENGINES_AMQP_PORT, PostgreSQL on 127.0.0.1:${ENGINES_PG_PORT:-5432}"
}

# Stops only what engines_start started; tries both even if one fails.
engines_stop() {
	local rc=0
	engines_rabbit_stop || rc=1
	engines_pg_stop || rc=1
	return "$rc"
}

engines_status() {
	local rc=0 owner
	owner="$(engines_state_get rabbitmq)"
	if engines_rabbit_running; then
		echo "rabbitmq: running (${owner:-not started by this script})"
	else
		echo "rabbitmq: stopped"
		rc=1
	fi
	owner="$(engines_state_get postgres)"
	if engines_pg_running; then
		echo "postgresql $ENGINES_PG_VERSION/$ENGINES_PG_CLUSTER: running (${owner:-not started by this script})"
	else
		echo "postgresql: stopped"
		rc=1
	fi
	return "$rc"
}

engines_main() {
	case "${1:-}" in
	start)
		engines_start || return 1
		# The values contain no single quote (fixed user names, no-quote password).
		printf "export RELAIS_TEST_AMQP='%s'\n" "$RELAIS_TEST_AMQP"
		printf "export RELAIS_TEST_POSTGRES='%s'\n" "$RELAIS_TEST_POSTGRES"
		;;
	stop) engines_stop ;;
	status) engines_status ;;
	*)
		echo "usage: $0 start|stop|status" >&2
		return 2
		;;
	esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -uo pipefail
	engines_main "$@"
	exit $?
fi
