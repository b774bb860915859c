-- regstore_unregister: removes one AOR, or one binding of it, in one atomic step, and
-- publishes a registration.removed event per binding removed (routerd publishes the same
-- events for REGISTERs). Returns the number of bindings removed.
--   KEYS[1] sb:reg:{AOR}      hash: contact URI -> binding record
--   KEYS[2] sb:regexp:{AOR}   sorted set: contact URI by expiry
--   ARGV[1] the contact URI to remove, '' for every binding
--   ARGV[2] the AOR   ARGV[3] node_id   ARGV[4] now in ms   ARGV[5] the event channel
local uris
if ARGV[1] == '' then uris = redis.call('HKEYS', KEYS[1])
elseif redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then uris = {ARGV[1]}
else uris = {} end
if #uris == 0 then return 0 end
if ARGV[1] == '' then redis.call('DEL', KEYS[1], KEYS[2])
else redis.call('HDEL', KEYS[1], ARGV[1]); redis.call('ZREM', KEYS[2], ARGV[1]) end
for _, u in ipairs(uris) do
  redis.call('PUBLISH', ARGV[5], cjson.encode({type='registration.removed',
    aor=ARGV[2], contact=u, expires=0, node_id=ARGV[3], ts_ms=tonumber(ARGV[4])}))
end
return #uris
