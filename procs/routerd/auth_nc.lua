-- The nonce-count check of one nonce (RFC 7616 3.4: nc grows with each request that
-- uses the nonce). KEYS[1] sb:nc:{NONCE}; ARGV[1] nc (decimal), ARGV[2] the key's TTL, s.
-- Returns 1 when nc is larger than every count seen with this nonce (then remembered),
-- 0 for a replay.
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local nc = tonumber(ARGV[1])
if nc == nil or nc <= last then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
