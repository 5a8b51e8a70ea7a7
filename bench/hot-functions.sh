#!/usr/bin/env bash
# Lists the functions node-cache's role runs (start-up, rules, filling its cache, answering from
# it) into bench/hot-functions.txt, by name without hashes, for bench/dist.sh to link together
# at the start of the text: they are about 1.7 of 10.9 MB of code, and where they lie apart
# every page around each one is mapped too (fault-around), so the order decides most of the
# binary's resident size. Run it again after large changes (it needs valgrind):
#   bash bench/hot-functions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
BIN=$(realpath "${BIN:-$(bash bench/dist.sh)}")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# node-cache's process under callgrind; the upstream it forwards to as it is.
cat >"$out/wrap" <<WRAP
#!/bin/sh
case " \$* " in
*" -localip "*) exec valgrind --tool=callgrind --dump-instr=no --callgrind-out-file=$out/cg "$BIN" "\$@" ;;
esac
exec "$BIN" "\$@"
WRAP
chmod +x "$out/wrap"
# Dumped every few seconds: the process is killed at the end, before it could write its last.
(while sleep 5; do callgrind_control -d >/dev/null 2>&1 || true; done) &
dumper=$!
BIN=$out/wrap N=2000 ROUNDS=1 bash bench/nodecache.sh >&2 || true
kill "$dumper" 2>/dev/null || true
# Names as callgrind writes them (demangled, no hash), recursion marks ('2) dropped.
cat "$out"/cg* | grep -oP '^c?fn=\(\d+\) \K.*' | sed "s/'[0-9]*\$//" | grep -v '^(below main)$' |
    LC_ALL=C sort -u >bench/hot-functions.txt
count=$(wc -l <bench/hot-functions.txt)
echo "$count functions" >&2
# Fewer means the run failed (its output is above).
[ "$count" -gt 1000 ]
