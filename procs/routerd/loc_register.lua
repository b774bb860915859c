-- NAME
--   loc_register - applies one REGISTER to an AOR's bindings, atomically (location.h,
--   docs/registrar.md). Compiled into routerd as loc_register_lua[] (lib/embed_gen.sh).
-- DESCRIPTION
--   KEYS[1] sb:reg:{AOR} (hash URI -> record).
--   ARGV[1] now_ms, ARGV[2] deadline_ms, ARGV[3] Call-ID, ARGV[4] CSeq, ARGV[5] "1" for
--   Contact: *, ARGV[6] n, ARGV[7] the AOR and ARGV[8] node_id as JSON strings (for the
--   events), ARGV[9] the most bindings the AOR may hold ("0": no cap), then n times: URI
--   (the hash field), expires_at_ms ("0": remove), record (for a removal: "" or a text the
--   stored record must contain to be removed, its flow).
--   Returns {"ok", URI, record, ...} with every binding left, {"stale", URI}, {"late"} or
--   {"toomany", max} when the request would add bindings past the cap (nothing changed;
--   refreshes and removals always pass, as with Kamailio's max_contacts).
--   A binding's expiry is read from its record: the "expires_at_ms" that ends every record
--   routerd writes (cjson.decode for any other); a record without one counts as lapsed.
--   Publishes one event per binding it adds, refreshes or removes on sb:events (keys.h,
--   SB_EVENTS_CHANNEL), in the same atomic step as the change; lapsed bindings it drops
--   are not events.
--   Few calls, each for every contact at once: the hash is read once (HGETALL) and the
--   reply is built from what it held and what changed. TIME in a script is fine from
--   Redis 5 on (scripts replicate their effects).
local now = tonumber(ARGV[1])
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[2]) then
  return {'late'}
end
local function expiry(rec)
  local e = string.match(rec, '"expires_at_ms":(%d+)}$')
  if e then return tonumber(e) end
  local ok, r = pcall(cjson.decode, rec)
  return ok and type(r) == 'table' and type(r.expires_at_ms) == 'number' and
    r.expires_at_ms or 0
end
-- RFC 3261 10.3: expired bindings are gone before anything is decided.
local held = redis.call('HGETALL', KEYS[1])
local all, lapsed, exps = {}, {}, {}
for i = 1, #held, 2 do
  local e = expiry(held[i + 1])
  if e <= now then lapsed[#lapsed + 1] = held[i] else
    all[#all + 1] = held[i]
    all[#all + 1] = held[i + 1]
    exps[held[i]] = e
  end
end
for i = 1, #lapsed, 256 do
  redis.call('HDEL', KEYS[1], unpack(lapsed, i, math.min(i + 255, #lapsed)))
end
local call_id, cseq = ARGV[3], tonumber(ARGV[4])
-- Steps 6-7: same Call-ID with a CSeq not lower than the request's fails it all.
local function stale(rec)
  local ok, r = pcall(cjson.decode, rec)
  return ok and type(r) == 'table' and r.call_id == call_id and
    type(r.cseq) == 'number' and r.cseq >= cseq
end
local function event(kind, uri, expires)
  redis.call('PUBLISH', 'sb:events', '{"type":"registration.' .. kind ..
    '","aor":' .. ARGV[7] .. ',"contact":' .. cjson.encode(uri) ..
    ',"expires":' .. expires .. ',"node_id":' .. ARGV[8] ..
    ',"ts_ms":' .. ARGV[1] .. '}')
end
local n = tonumber(ARGV[6])
if ARGV[5] == '1' then
  for i = 1, #all, 2 do
    if stale(all[i + 1]) then return {'stale', all[i]} end
  end
  if #all > 0 then
    redis.call('DEL', KEYS[1])
    for i = 1, #all, 2 do event('removed', all[i], 0) end
  end
  return {'ok'}
end
local at = {}
for i = 1, #all, 2 do at[all[i]] = i end
for i = 0, n - 1 do
  local old = at[ARGV[10 + 3 * i]]
  if old and stale(all[old + 1]) then return {'stale', ARGV[10 + 3 * i]} end
end
-- Each URI once, as its last mention in the request says (later wins, as in order).
local order, pend, cond = {}, {}, {}
for i = 0, n - 1 do
  local uri = ARGV[10 + 3 * i]
  if pend[uri] == nil then order[#order + 1] = uri end
  pend[uri] = ARGV[11 + 3 * i] ~= '0' and i
  cond[uri] = ARGV[12 + 3 * i]
end
local before = #all / 2
local sets, dels, evs = {}, {}, {}
for _, uri in ipairs(order) do
  local i, old = pend[uri], at[uri]
  if not i then
    if old and (cond[uri] == '' or string.find(all[old + 1], cond[uri], 1, true)) then
      dels[#dels + 1] = uri
      all[old + 1] = false
      evs[#evs + 1] = {'removed', uri, 0}
    end
  else
    local exp, rec = ARGV[11 + 3 * i], ARGV[12 + 3 * i]
    sets[#sets + 1] = uri
    sets[#sets + 1] = rec
    if old then all[old + 1] = rec else
      all[#all + 1] = uri
      all[#all + 1] = rec
    end
    exps[uri] = tonumber(exp)
    evs[#evs + 1] = {old and 'refreshed' or 'added', uri, (exps[uri] - now) / 1000}
  end
end
-- The cap: a request that would leave more bindings than allowed, and more than before,
-- changes nothing.
local cap = tonumber(ARGV[9])
if cap > 0 then
  local after = 0
  for i = 2, #all, 2 do if all[i] then after = after + 1 end end
  if after > cap and after > before then return {'toomany', ARGV[9]} end
end
if #dels > 0 then redis.call('HDEL', KEYS[1], unpack(dels)) end
if #sets > 0 then redis.call('HSET', KEYS[1], unpack(sets)) end
-- What is left: the reply, and the key's expiry (its latest binding's).
local out, last = {'ok'}, -1
for i = 1, #all, 2 do
  if all[i + 1] then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
    if exps[all[i]] > last then last = exps[all[i]] end
  end
end
-- The key lives exactly as long as its last binding.
if #out == 1 then
  if #held > 0 then redis.call('DEL', KEYS[1]) end
elseif #sets > 0 or #dels > 0 or #lapsed > 0 then
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', last))
end
for i = 1, #evs do event(evs[i][1], evs[i][2], evs[i][3]) end
return out
