/* location_lua - the script that applies one REGISTER (see location.h, docs/registrar.md).
 *
 * KEYS[1] sb:reg:{AOR} (hash URI -> record), KEYS[2] sb:regexp:{AOR} (zset URI by expiry).
 * ARGV[1] now_ms, ARGV[2] deadline_ms, ARGV[3] Call-ID, ARGV[4] CSeq, ARGV[5] "1" for
 * Contact: *, ARGV[6] n, then n times: URI, expires_at_ms ("0": remove), record.
 * Returns {"ok", URI, record, ...} with every binding left, {"stale", URI} or {"late"}.
 * TIME in a script is fine from Redis 5 on (scripts replicate their effects). */
#include "location.h"

const char loc_register_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "local t = redis.call('TIME')\n"
    "if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[2]) then\n"
    "  return {'late'}\n"
    "end\n"
    /* RFC 3261 10.3: expired bindings are gone before anything is decided. */
    "local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "for i = 1, #lapsed, 256 do\n"
    "  local j = math.min(i + 255, #lapsed)\n"
    "  redis.call('HDEL', KEYS[1], unpack(lapsed, i, j))\n"
    "  redis.call('ZREM', KEYS[2], unpack(lapsed, i, j))\n"
    "end\n"
    "local call_id, cseq = ARGV[3], tonumber(ARGV[4])\n"
    /* Steps 6-7: same Call-ID with a CSeq not lower than the request's fails it all. */
    "local function stale(rec)\n"
    "  local ok, r = pcall(cjson.decode, rec)\n"
    "  return ok and type(r) == 'table' and r.call_id == call_id and\n"
    "    type(r.cseq) == 'number' and r.cseq >= cseq\n"
    "end\n"
    "local n = tonumber(ARGV[6])\n"
    "if ARGV[5] == '1' then\n"
    "  local all = redis.call('HGETALL', KEYS[1])\n"
    "  for i = 1, #all, 2 do\n"
    "    if stale(all[i + 1]) then return {'stale', all[i]} end\n"
    "  end\n"
    "  redis.call('DEL', KEYS[1], KEYS[2])\n"
    "  return {'ok'}\n"
    "end\n"
    "for i = 0, n - 1 do\n"
    "  local old = redis.call('HGET', KEYS[1], ARGV[7 + 3 * i])\n"
    "  if old and stale(old) then return {'stale', ARGV[7 + 3 * i]} end\n"
    "end\n"
    "for i = 0, n - 1 do\n"
    "  local uri, exp = ARGV[7 + 3 * i], ARGV[8 + 3 * i]\n"
    "  if exp == '0' then\n"
    "    redis.call('HDEL', KEYS[1], uri)\n"
    "    redis.call('ZREM', KEYS[2], uri)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[1], uri, ARGV[9 + 3 * i])\n"
    "    redis.call('ZADD', KEYS[2], exp, uri)\n"
    "  end\n"
    "end\n"
    /* Both keys live exactly as long as their last binding. */
    "local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')\n"
    "if #last == 0 then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2])\n"
    "  return {'ok'}\n"
    "end\n"
    "redis.call('PEXPIREAT', KEYS[1], last[2])\n"
    "redis.call('PEXPIREAT', KEYS[2], last[2])\n"
    "local out = redis.call('HGETALL', KEYS[1])\n"
    "table.insert(out, 1, 'ok')\n"
    "return out\n";
