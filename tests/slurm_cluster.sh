#!/usr/bin/env bash
# A throwaway one-node Slurm cluster for tests/it_slurm.sh: munged, slurmctld and slurmd started as root from a
# configuration generated in DIR (the machine's real CPUs and memory, one CPU-only partition, select/cons_tres,
# proctrack/linuxproc so no cgroups are needed, MpiDefault=pmix, free ports), and stopped again: only the
# daemons whose pid files are in DIR, and only if their command line names DIR.
#   tests/slurm_cluster.sh start DIR   # prints SLURM_CONF=DIR/slurm.conf; exit 1 (with the reason) if it cannot start
#   tests/slurm_cluster.sh stop DIR    # cancels the cluster's jobs, stops its daemons
# Needs the Debian packages slurm-wlm and munge (launch/setup.sh --test installs them).
set -u
cmd=${1:?usage: slurm_cluster.sh start|stop DIR}
dir=${2:?usage: slurm_cluster.sh start|stop DIR}

daemons=(slurmd slurmctld munged)

stop() {
    [ -f "$dir/slurm.conf" ] && SLURM_CONF="$dir/slurm.conf" timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1 &&
        for _ in $(seq 1 50); do
            [ -z "$(SLURM_CONF="$dir/slurm.conf" timeout 5 squeue -h -t RUNNING,COMPLETING 2>/dev/null)" ] && break
            sleep 0.2
        done
    for d in "${daemons[@]}"; do
        local pid
        pid=$(cat "$dir/$d.pid" 2>/dev/null) || continue
        # only our own daemon: its command line names our directory
        [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir" || continue
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        rm -f "$dir/$d.pid"
    done
    return 0
}

fail_start() { echo "slurm_cluster: $*" >&2; stop; exit 1; }

# A TCP port nobody listens on, from a random start.
free_port() {
    local used p
    used=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 20000 ))
        grep -qx "$p" <<<"$used" || { echo "$p"; return; }
    done
    echo 26817
}

start() {
    [ "$(id -u)" -eq 0 ] || { echo "slurm_cluster: needs root (slurmd runs jobs as their user)" >&2; exit 1; }
    for b in munged slurmctld slurmd sbatch; do
        command -v "$b" >/dev/null || { echo "slurm_cluster: $b not installed (bash launch/setup.sh --test)" >&2; exit 1; }
    done
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" || exit 1
    chmod 700 "$dir" "$dir/munge"
    head -c 1024 /dev/urandom > "$dir/munge/munge.key" && chmod 400 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" --pid-file="$dir/munged.pid" \
        --log-file="$dir/munged.log" --seed-file="$dir/munge/seed" || fail_start "munged did not start: $(tail -n 3 "$dir/munged.log" 2>/dev/null)"

    # The node as slurmd sees it (CPUs, sockets, cores, threads, memory), named after this host.
    local node hw
    node=$(hostname -s)
    hw=$(slurmd -C 2>/dev/null | head -n 1 | sed 's/^NodeName=[^ ]* //') || true
    [ -n "$hw" ] || fail_start "slurmd -C printed nothing"
    cat > "$dir/slurm.conf" <<EOF
ClusterName=rlvrtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerType=sched/backfill
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=600
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$SLURM_CONF" -c || fail_start "slurmctld did not start: $(tail -n 3 "$dir/slurmctld.log" 2>/dev/null)"
    slurmd -f "$SLURM_CONF" || fail_start "slurmd did not start: $(tail -n 3 "$dir/slurmd.log" 2>/dev/null)"
    for _ in $(seq 1 150); do
        case "$(timeout 5 sinfo -h -N -o %T 2>/dev/null)" in idle*) echo "SLURM_CONF=$SLURM_CONF"; return 0 ;; esac
        sleep 0.2
    done
    fail_start "the node did not become idle in 30 s: $(timeout 5 sinfo -h -N -o '%T %E' 2>&1; tail -n 3 "$dir/slurmd.log")"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: slurm_cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
