#!/usr/bin/env bash
# The Slurm recipe of docs/batch.md on a one-node cluster started here: munged
# and slurmctld/slurmd from Debian's munge and slurm-wlm, as root, on
# localhost, with private sockets, ports and spool directories and no cgroups
# (proctrack/linuxproc, task/none). An array job of 4 tasks runs
# `docvl batch --shard $SLURM_ARRAY_TASK_ID/4`; the outputs and the journal
# must be those of a single process. Skipped (exit 77) only where the
# daemons are missing or slurmd cannot start, with the reason.
set -euo pipefail
. "$(dirname "$0")/batch_common.sh"

skip() {
    echo "SKIP: $*"
    exit 77
}
for p in munged mungekey slurmctld slurmd sbatch sinfo; do
    command -v "$p" >/dev/null || skip "$p is not installed (DOCVL_DEPS_CI=1 scripts/deps installs munge and slurm-wlm)"
done
[ "$(id -u)" -eq 0 ] || skip "slurmd needs root (this test starts its own one-node cluster)"

make_reference 120
chmod 0700 "$work"
cluster=$work/cluster
mkdir -m 0700 -p "$cluster/state" "$cluster/spool" "$cluster/munge"

# munge: a key of our own and a socket no other munged uses
mungekey -c -k "$cluster/munge/key" >/dev/null 2>&1 || skip "mungekey cannot create a key"
chmod 0600 "$cluster/munge/key"
sock=$cluster/munge/socket
munged --key-file="$cluster/munge/key" --socket="$sock" --pid-file="$cluster/munge/pid" \
    --log-file="$cluster/munge/log" --seed-file="$cluster/munge/seed" --force \
    >"$cluster/munge/out" 2>&1 || skip "munged cannot start: $(tail -3 "$cluster/munge/out")"
cleanup_hooks+=("kill \$(cat '$cluster/munge/pid')")

host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
cpus=$(nproc)
export SLURM_CONF=$cluster/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=docvltest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$cluster/state
SlurmdSpoolDir=$cluster/spool
SlurmctldPidFile=$cluster/slurmctld.pid
SlurmdPidFile=$cluster/slurmd.pid
SlurmctldLogFile=$cluster/slurmctld.log
SlurmdLogFile=$cluster/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=10 State=UP
CONF

slurmctld -D -i -f "$SLURM_CONF" >"$cluster/slurmctld.out" 2>&1 &
ctld=$!
cleanup_hooks+=("kill $ctld")
slurmd -D -f "$SLURM_CONF" -N "$host" >"$cluster/slurmd.out" 2>&1 &
sd=$!
cleanup_hooks+=("kill $sd")

# The node is up when sinfo says idle; slurmd that exits or never registers
# means this machine cannot run it (a container without the needed rights).
for _ in $(seq 60); do
    if ! kill -0 $sd 2>/dev/null; then
        skip "slurmd cannot start here: $(tail -3 "$cluster/slurmd.out" "$cluster/slurmd.log" 2>/dev/null | tr '\n' ' ')"
    fi
    if ! kill -0 $ctld 2>/dev/null; then
        echo "FAIL: slurmctld stopped: $(tail -5 "$cluster/slurmctld.log" 2>/dev/null)" >&2
        exit 1
    fi
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || skip "slurmd did not register with slurmctld (node state '$state'): $(tail -3 "$cluster/slurmd.log" 2>/dev/null | tr '\n' ' ')"
echo "ok: one-node Slurm cluster up ($host, $cpus CPUs)"

# The recipe's array job, as docs/batch.md gives it.
cat >"$work/docvl-array.sh" <<JOB
#!/bin/bash
#SBATCH --job-name=docvl
#SBATCH --array=1-4
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/slurm-%A_%a.out
docvl=$docvl
OUT=$work/slurm-out
INPUT=$work/corpus
"\$docvl" batch -q --text-layer only --threads \$SLURM_CPUS_PER_TASK -o "\$OUT" \\
    --shard \$SLURM_ARRAY_TASK_ID/\$SLURM_ARRAY_TASK_COUNT "\$INPUT"
rc=\$?
# 5: some documents failed or were partial; they are in the journal
[ \$rc -eq 0 ] || [ \$rc -eq 5 ]
JOB
if ! timeout 300 sbatch --wait "$work/docvl-array.sh" >"$work/sbatch.out" 2>&1; then
    echo "FAIL: the array job failed: $(cat "$work/sbatch.out")" >&2
    tail -5 "$work"/slurm-*.out >&2 || true
    exit 1
fi
tasks=$(ls "$work"/slurm-*_*.out | wc -l)
if [ "$tasks" -ne 4 ]; then
    echo "FAIL: $tasks array tasks ran, not 4" >&2
    exit 1
fi
same_as_reference "$work/slurm-out" "Slurm array job, 4 shards"
