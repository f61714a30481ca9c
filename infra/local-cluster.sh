#!/usr/bin/env bash
# A real multi-node Ray cluster on this machine, on loopback only: one head and N worker nodes.
#   infra/local-cluster.sh start [WORKERS] [PORT]   then: mousegpt analyze ... --address 127.0.0.2:PORT
#   infra/local-cluster.sh stop
# Nodes use 127.0.0.2: Ray rewrites 127.0.0.1 to the machine's network address. Token
# authentication is off for this loopback-only cluster (RAY_AUTH_MODE=disabled); clients
# need the same setting.
set -euo pipefail
action=${1:-start}
workers=${2:-1}
port=${3:-6390}
ray_bin=${RAY:-ray}
ip=127.0.0.2
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
case "$action" in
  start)
    "$ray_bin" start --head --node-ip-address "$ip" --port "$port" --num-cpus 1 --include-dashboard false >/dev/null
    for _ in $(seq "$workers"); do
      "$ray_bin" start --address "$ip:$port" --node-ip-address "$ip" --num-cpus 1 >/dev/null
    done
    echo "ray cluster at $ip:$port with $((workers + 1)) nodes"
    ;;
  stop)
    # `ray stop` stops every Ray process on this machine, not only this cluster.
    "$ray_bin" stop --force >/dev/null
    ;;
  *)
    echo "usage: $0 start [WORKERS] [PORT] | stop" >&2
    exit 2
    ;;
esac
