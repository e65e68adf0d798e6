#!/usr/bin/env bash
# Stop the single-node SLURM that .ci/slurm-up.sh started (its jobs, slurmd, slurmctld,
# munged) and remove its folder. Safe to run when nothing is running.
set -uo pipefail
D="${GVCBENCH_SLURM_DIR:-/tmp/gvcbench-slurm}"
[ -d "$D" ] || exit 0
export SLURM_CONF="$D/slurm.conf"
if [ -f "$SLURM_CONF" ]; then
  scancel --full --quiet --partition="$(sed -n 's/^PartitionName=\([^ ]*\).*/\1/p' "$SLURM_CONF" | head -1)" 2>/dev/null
  sleep 1
fi
stop() {  # the daemon whose pid file is $1: TERM, then KILL after 10 s
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null
}
stop "$D/slurmd.pid"
stop "$D/slurmctld.pid"
stop "$D/munge/munged.pid"
rm -rf "$D"
