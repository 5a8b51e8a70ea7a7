# Helpers shared by bench/run.sh and bench/scale.sh: a work directory cleaned up on exit,
# servers confined to one core, process figures from /proc, dnsperf at a fixed rate.
# Sourced after `cd` to the repository root, with DUR set.
HZ=$(getconf CLK_TCK)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rmdir "$CPUSET"-* 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# pinned CORE CMD... : runs CMD in the background, confined to CORE. taskset alone does not
# confine Knot: its UDP workers set their own affinity, one per online CPU (udp-handler.c), so one
# of them would answer on dnsperf's core. A cpuset cgroup bounds what a process may ask for; where
# none can be made, taskset is used and `confined` reports any thread that left the core.
CPUSET=/sys/fs/cgroup/cpuset/clusterdns-bench-$$
for core in 0 1; do # cgroup v1 cpusets, one per core, where this host lets us make them
    mkdir "$CPUSET-$core" 2>/dev/null && echo "$core" >"$CPUSET-$core/cpuset.cpus" &&
        cat /sys/fs/cgroup/cpuset/cpuset.mems >"$CPUSET-$core/cpuset.mems" || rmdir "$CPUSET-$core" 2>/dev/null || true
done
pinned() {
    local core=$1 dir="$CPUSET-$1"; shift
    if [ -f "$dir/cgroup.procs" ]; then
        sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$@" &
    else
        taskset -c "$core" "$@" &
    fi
}
# confined PID CORE NAME -> warns on stderr about threads allowed off CORE
confined() {
    local t
    for t in /proc/"$1"/task/*; do
        [ "$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status" 2>/dev/null)" = "$2" ] ||
            echo "warning: a $3 thread ($(cat "$t/comm")) may run off core $2; its figures are not one core's" >&2
    done
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
wait_udp() { for _ in $(seq 200); do dig +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

# fixed PID PORT FILE QPS -> "completed lost cpu_us_per_query" (asking $SERVER, 127.0.0.1 unless set)
fixed() {
    local t0 t1 out completed lost
    t0=$(ticks "$1")
    out=$(taskset -c 1 dnsperf -s "${SERVER:-127.0.0.1}" -p "$2" -d "$3" -l "$DUR" -Q "$4" -c 20 2>&1)
    t1=$(ticks "$1")
    completed=$(echo "$out" | awk '/Queries completed/ {print $3}')
    lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
    echo "$completed $lost $(python3 -c "print(round(($t1-$t0)*1e6/$HZ/max($completed,1),2))")"
}
# turns PID_A PORT_A PID_B PORT_B FILE QPS -> "median_a range_a lost_a median_b range_b lost_b"
turns() {
    local a=() b=() la=0 lb=0 us lost
    for _ in $(seq "$ROUNDS"); do
        read -r _ lost us <<<"$(fixed "$1" "$2" "$5" "$6")"; a+=("$us"); la=$((la + lost))
        read -r _ lost us <<<"$(fixed "$3" "$4" "$5" "$6")"; b+=("$us"); lb=$((lb + lost))
    done
    python3 - "$la" "$lb" "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
la, lb, a, b = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
def fmt(v):
    v = [float(x) for x in v]
    return f"{statistics.median(v):.1f} {min(v):.1f}-{max(v):.1f}"
print(fmt(a), la, fmt(b), lb)
PY
}
row() { printf '%-40s %8s %11s %10s %8s %6s\n' "$@"; }
# maxqps PORT FILE -> queries per second with 100 queries outstanding
maxqps() { taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$DUR" -c 20 -q 100 2>&1 | awk '/Queries per second/ {printf "%d", $4}'; }

