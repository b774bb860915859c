#!/usr/bin/env bash
# A worker handed a shm segment of another layout version refuses to start.
. "$(dirname "$0")/lib.sh"
new_confdir shmversion
seg=$CONF/fake-shm
truncate -s 1M "$seg"
# magic "SBSM" (0x5342534d little-endian), version 999
printf 'MSBS\xe7\x03\x00\x00' | dd of="$seg" conv=notrunc status=none
out=$("$SB_BIN/routerd" -c "$CONF" -s routerd -i 0 -S 0 -F shm=3 3<>"$seg" 2>&1); rc=$?
check_eq "routerd exits 1 on a segment of another version" 1 "$rc"
check "it says why ($out)" grep -q "another layout" <<<"$out"
printf 'XXXX' | dd of="$seg" conv=notrunc status=none
out=$("$SB_BIN/sipd" -c "$CONF" -s sipd -i 0 -S 0 -F shm=3 3<>"$seg" 2>&1); rc=$?
check "a segment with a wrong magic is refused too ($out)" [ "$rc" = 1 ]
finish
