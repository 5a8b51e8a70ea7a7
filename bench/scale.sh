#!/usr/bin/env bash
# How clusterdns scales with the cluster: for each size, the test API server (testkit's
# k8s-fixture, which serves lists as kube-apiserver's watch cache does) holds N services with an
# EndpointSlice of 2 endpoints each, and clusterdns (the dist build, confined to core 0) syncs
# from it with default options. Per size:
#   first answer  process start until svc-(N-1) is answered (the server listens once synced)
#   rss MB        resident memory 3 s after the sync, and per 1,000 services
#   relist peak   the resident peak while a 410 forces every kind to be listed again, over the
#                 steady figure (VmHWM, reset before the relist)
#   new after 410 a service added with the 410 until it resolves
#   cpu us/q      clusterdns's CPU per query with dnsperf sending 10,000 QPS of all N names, the
#                 median of ROUNDS runs of DUR seconds (one run varies by up to a quarter here)
# A last row adds 150,000 pods with `pods verified` to 10,000 services.
#   SIZES="1000 10000 50000 100000" PODS=150000 DUR=5 ROUNDS=5 bash bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1000 10000 50000 100000}
DUR=${DUR:-5}
ROUNDS=${ROUNDS:-5}
PODS=${PODS:-150000}

command -v dnsperf >/dev/null && command -v dig >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq dnsperf bind9-dnsutils >/dev/null; }
# The shipped build; PROFILE=release builds in a fraction of the time.
if [ "${PROFILE:-dist}" = dist ]; then
    BIN=$(bash bench/dist.sh)
else
    cargo build --profile "$PROFILE" --features jemalloc --quiet --bin clusterdns
    BIN=target/$PROFILE/clusterdns
fi
cargo build --release --quiet -p testkit --bin k8s-fixture

source bench/lib.sh

hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }
since() { python3 -c "print(round($(now)-$1,3))"; }
# answers PORT NAME: until NAME resolves (polling every 5 ms)
answers() { until dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" 2>/dev/null | grep -q '^[0-9]'; do sleep 0.005; done; }

srow() { printf '%-22s %14s %8s %10s %12s %16s %18s\n' "$@"; }
srow "services" "first answer s" "rss MB" "MB/1k svc" "relist peak" "new after 410 s" "cpu us/q"
# size N PODS OPTIONS: one row
size() {
    local n=$1 pods=$2 options=$3 dir="$WORK/$1-$2"
    mkdir -p "$dir"; mkfifo "$dir/ctl"
    # The API server shares dnsperf's core, off the server's.
    taskset -c 1 target/release/k8s-fixture "$n" "$dir" "$pods" <"$dir/ctl" >"$dir/fixture.log" 2>&1 &
    local fixture=$!; PIDS+=($fixture)
    exec 3>"$dir/ctl"
    for _ in $(seq 3000); do grep -q ready "$dir/fixture.log" 2>/dev/null && break; sleep 0.1; done
    local p; p=$(port)
    printf '.:%s {\n    bind 127.0.0.1\n    kubernetes cluster.local {\n        kubeconfig %s\n%s    }\n}\n' \
        "$p" "$dir/kubeconfig" "$options" >"$dir/Corefile"
    local start; start=$(now)
    pinned 0 "$BIN" -quiet -conf "$dir/Corefile" >"$dir/server.log" 2>&1
    local cd=$!; PIDS+=($cd)
    answers "$p" "svc-$((n - 1)).bench.svc.cluster.local"
    local first; first=$(since "$start")
    sleep 3
    local rss; rss=$(rss_mb "$cd")
    # The relist: VmHWM reset, then a 410 for every watch and a new service with it.
    echo 5 >"/proc/$cd/clear_refs"
    local t410; t410=$(now)
    echo compact >&3
    echo "add late 10.95.255.1" >&3
    answers "$p" late.bench.svc.cluster.local
    local late; late=$(since "$t410")
    sleep 3
    local peak; peak=$(hwm_mb "$cd")
    local runs=() us
    for _ in $(seq "$ROUNDS"); do
        read -r _ _ us <<<"$(fixed "$cd" "$p" "$dir/queries.txt" 10000)"
        runs+=("$us")
    done
    us=$(python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f'{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})')" "${runs[@]}")
    confined "$cd" 0 clusterdns
    local label="$n"; [ "$pods" -gt 0 ] && label="$n + $pods pods"
    srow "$label" "$first" "$rss" "$(python3 -c "print(round($rss*1000/$n,2))")" \
        "$(python3 -c "print(f'{$peak/$rss:.2f}x')")" "$late" "$us"
    kill "$cd" "$fixture" 2>/dev/null || true
    exec 3>&-
}
for n in $SIZES; do size "$n" 0 ""; done
size 10000 "$PODS" $'        pods verified\n'
