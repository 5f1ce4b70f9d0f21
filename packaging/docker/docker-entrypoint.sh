#!/usr/bin/env bash
# zkr's container entrypoint: the official ZooKeeper image's environment, so a compose file or a
# Helm chart written for `zookeeper:3.9` runs zkr unchanged.
#
# When $ZOO_CONF_DIR/zoo.cfg does not exist it is written from:
#   ZOO_DATA_DIR, ZOO_DATA_LOG_DIR, ZOO_TICK_TIME, ZOO_INIT_LIMIT, ZOO_SYNC_LIMIT,
#   ZOO_AUTOPURGE_SNAPRETAINCOUNT, ZOO_AUTOPURGE_PURGEINTERVAL, ZOO_MAX_CLIENT_CNXNS,
#   ZOO_STANDALONE_ENABLED, ZOO_ADMINSERVER_ENABLED, ZOO_SERVERS (space-separated server.N=...
#   entries; default: one server), ZOO_4LW_COMMANDS_WHITELIST, ZOO_CFG_EXTRA (space-separated
#   key=value lines appended as they are)
# and, zkr's own, ZOO_METRICS_PORT (Prometheus /metrics, metricsProvider.httpPort; default
# 7000) and ZOO_AUDIT_ENABLED (audit.enable).
# $ZOO_DATA_DIR/myid is written from ZOO_MY_ID (default 1) when it does not exist.
# Logs go to stderr (the container's log); set ZOO_LOG_DIR to write rotated files there instead.
set -euo pipefail

: "${ZOO_CONF_DIR:=/conf}"
: "${ZOO_DATA_DIR:=/data}"
: "${ZOO_DATA_LOG_DIR:=/datalog}"
: "${ZOO_TICK_TIME:=2000}"
: "${ZOO_INIT_LIMIT:=5}"
: "${ZOO_SYNC_LIMIT:=2}"
: "${ZOO_AUTOPURGE_SNAPRETAINCOUNT:=3}"
: "${ZOO_AUTOPURGE_PURGEINTERVAL:=0}"
: "${ZOO_MAX_CLIENT_CNXNS:=60}"
: "${ZOO_STANDALONE_ENABLED:=true}"
: "${ZOO_ADMINSERVER_ENABLED:=true}"
: "${ZOO_METRICS_PORT:=7000}"

CONFIG="$ZOO_CONF_DIR/zoo.cfg"
if [[ ! -f "$CONFIG" ]]; then
    mkdir -p "$ZOO_CONF_DIR"
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"
        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
        echo "metricsProvider.httpPort=$ZOO_METRICS_PORT"
        if [[ -n "${ZOO_AUDIT_ENABLED:-}" ]]; then
            echo "audit.enable=$ZOO_AUDIT_ENABLED"
        fi
        for server in ${ZOO_SERVERS:-server.1=localhost:2888:3888;2181}; do
            echo "$server"
        done
        if [[ -n "${ZOO_4LW_COMMANDS_WHITELIST:-}" ]]; then
            echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST"
        fi
        for extra in ${ZOO_CFG_EXTRA:-}; do
            echo "$extra"
        done
    } > "$CONFIG"
fi

mkdir -p "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"
if [[ ! -f "$ZOO_DATA_DIR/myid" ]]; then
    echo "${ZOO_MY_ID:-1}" > "$ZOO_DATA_DIR/myid"
fi

if [[ $# -eq 0 ]]; then
    set -- zkr node --zoo-cfg "$CONFIG"
fi
exec "$@"
