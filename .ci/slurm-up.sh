#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine from the Debian packages (slurm-wlm,
# munge): a munge key and daemon, a minimal slurm.conf for this host (one partition,
# the machine's cores and memory), slurmctld and slurmd as root. Everything lives under
# $GVCBENCH_SLURM_DIR (default /tmp/gvcbench-slurm); nothing under /etc is changed.
# Waits until `sinfo` shows the node idle, then prints the line to use it:
#   export SLURM_CONF=/tmp/gvcbench-slurm/slurm.conf
# Stop it with .ci/slurm-down.sh. Exits 1 with a reason when SLURM cannot start here.
set -euo pipefail
D="${GVCBENCH_SLURM_DIR:-/tmp/gvcbench-slurm}"
PARTITION="${GVCBENCH_SLURM_PARTITION:-debug}"
fail() { echo "slurm-up: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (slurmd starts jobs as their user)"
for prog in munged mungekey slurmctld slurmd sinfo sbatch scontrol; do
  command -v "$prog" >/dev/null || fail "$prog not found: apt-get install slurm-wlm munge"
done
if [ -f "$D/slurmctld.pid" ] && kill -0 "$(cat "$D/slurmctld.pid")" 2>/dev/null \
   && SLURM_CONF="$D/slurm.conf" sinfo -h >/dev/null 2>&1; then
  echo "slurm-up: already running from $D (.ci/slurm-down.sh stops it)" >&2
  echo "export SLURM_CONF=$D/slurm.conf"
  exit 0
fi

rm -rf "$D"
mkdir -p "$D/munge" "$D/ctld" "$D/spool" "$D/jobs"
chmod 700 "$D/munge"
HOST="$(hostname -s)"

# munge: own key, socket and logs in $D, so a system munged (if any) is left alone.
mungekey --create --keyfile="$D/munge/munge.key" --force >/dev/null 2>&1 \
  || dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$D/munge/munge.key"
munged --force --key-file="$D/munge/munge.key" --socket="$D/munge/munge.socket" \
  --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed" \
  || fail "munged did not start: $(tail -3 "$D/munge/munged.log" 2>/dev/null)"

# This host's CPUs and memory as slurmd sees them (its NodeName line, renamed to HOST).
NODE="$(slurmd -C | head -1 | sed -E "s/^NodeName=[^ ]+/NodeName=$HOST/; s/ UpTime=.*//")"
cat > "$D/slurm.conf" <<CONF
ClusterName=gvcbench
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$D/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmctldPort=${GVCBENCH_SLURMCTLD_PORT:-6817}
SlurmdPort=${GVCBENCH_SLURMD_PORT:-6818}
# No cgroups in containers: track job processes by parentage, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=60
InactiveLimit=0
SlurmdTimeout=60
$NODE State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$D/slurm.conf"

slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -5 "$D/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start: $(tail -5 "$D/slurmd.log" 2>/dev/null)"

for _ in $(seq 1 60); do
  state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)"
  if [ "$state" = idle ]; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.5
done
fail "the node did not become idle in 30 s (sinfo says: ${state:-nothing}); logs: $D/slurmctld.log $D/slurmd.log"
