# Shared settings for the project's scripts. Sourced, never run.
# Every value can be overridden from the environment.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${GATEWAY_DATA_DIR:-$ROOT/.data}"
VENV_DIR="${GATEWAY_VENV_DIR:-$ROOT/.venv}"
PG_PORT="${GATEWAY_PG_PORT:-55432}"
REDIS_PORT="${GATEWAY_REDIS_PORT:-56379}"
MONGO_PORT="${GATEWAY_MONGO_PORT:-57017}"
REDIS_CLUSTER_PORT="${GATEWAY_REDIS_CLUSTER_PORT:-46101}"
PG_REPLICA_PORT="${GATEWAY_PG_REPLICA_PORT:-55433}"
PG_DATABASE="${GATEWAY_PG_DATABASE:-catalog}"
SECANTUS_VERSION="0.7.0b3"
OPENAPI_VALIDATOR_VERSION="0.9.0"
HADOLINT_VERSION="2.15.1"
CHECK_JSONSCHEMA_VERSION="0.39.0"
KUBERNETES_VALIDATE_VERSION="1.37.0"
PG_BIN="${GATEWAY_PG_BIN:-/usr/lib/postgresql/15/bin}"

export GATEWAY_POSTGRES_URL="${GATEWAY_POSTGRES_URL:-postgres://postgres@127.0.0.1:$PG_PORT/$PG_DATABASE}"
export GATEWAY_MONGO_URL="${GATEWAY_MONGO_URL:-mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true&serverSelectionTimeoutMS=3000}"
export GATEWAY_MONGO_DATABASE="${GATEWAY_MONGO_DATABASE:-catalog}"
export GATEWAY_REDIS_URL="${GATEWAY_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"
# The streaming replica of the local PostgreSQL, for tests and runs of GATEWAY_POSTGRES_READ_URL
# (not set by default: the gateway reads the primary unless told otherwise).
export GATEWAY_POSTGRES_REPLICA_URL="${GATEWAY_POSTGRES_REPLICA_URL:-postgres://postgres@127.0.0.1:$PG_REPLICA_PORT/$PG_DATABASE}"
# The cluster's seed nodes (any of them will do; the client reads the rest from CLUSTER SLOTS).
export GATEWAY_REDIS_CLUSTER_URL="${GATEWAY_REDIS_CLUSTER_URL:-redis://127.0.0.1:$REDIS_CLUSTER_PORT,127.0.0.1:$((REDIS_CLUSTER_PORT + 1)),127.0.0.1:$((REDIS_CLUSTER_PORT + 2))?cluster=true}"
export GATEWAY_SECANTUS_PYTHON="${GATEWAY_SECANTUS_PYTHON:-$VENV_DIR/bin/python}"
export GATEWAY_PG_BIN="$PG_BIN"

redis_cluster_ports() { seq "$REDIS_CLUSTER_PORT" $((REDIS_CLUSTER_PORT + 5)); }

say() { printf '==> %s\n' "$*" >&2; }
fail() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Waits until something accepts TCP connections on 127.0.0.1:$1, for at most $2 seconds.
wait_for_port() {
    local port=$1 seconds=$2 name=$3 i
    for ((i = 0; i < seconds * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    fail "$name did not start listening on 127.0.0.1:$port within ${seconds}s (see $DATA_DIR/$name.log)"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL refuses to run as root: as root, its data folder belongs to the postgres user, who
# must be able to reach it. When the checkout sits under a folder that user cannot enter, the
# cluster lives under /var/tmp instead.
pg_data_dir() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$DATA_DIR/postgres"
        return
    fi
    mkdir -p "$DATA_DIR"
    if su postgres -s /bin/sh -c "test -x '$DATA_DIR'" 2>/dev/null; then
        echo "$DATA_DIR/postgres"
    else
        echo "/var/tmp/catalog-gateway-$(echo "$ROOT" | cksum | cut -d' ' -f1)/postgres"
    fi
}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}
