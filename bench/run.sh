#!/usr/bin/env bash
# Every benchmark of bench/, one after the other (make bench runs this after building).
# Each script prints its tables and a "# BEGIN name" ... "# END name" key=value block;
# the whole output is also kept in bench/out/NAME.txt (BENCH_OUT to put it elsewhere).
# Figures never fail the run: it exits 0 unless a bench could not measure at all.
# Budget: about 5 minutes in all (foundation.sh: ~2.5 min on 2 cores).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${BENCH_OUT:-$here/out}
mkdir -p "$out"
BENCHES=(foundation register media api calls)   # a new bench is one more name here
failed=""
for b in "${BENCHES[@]}"; do
  echo "=== bench/$b.sh"
  start=$SECONDS
  "$here/$b.sh" 2>&1 | tee "$out/$b.txt"
  rc=${PIPESTATUS[0]}
  echo "=== bench/$b.sh: exit $rc in $((SECONDS - start)) s (output: $out/$b.txt)"
  [ "$rc" = 0 ] || failed="$failed $b"
done
if [ -n "$failed" ]; then
  echo "bench: could not measure:$failed"
  exit 1
fi
exit 0
