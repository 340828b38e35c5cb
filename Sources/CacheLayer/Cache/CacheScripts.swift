/// The Lua scripts that make the cache's multi-key steps atomic in Redis.
enum CacheScripts {
    /// Stores an entry only if nothing it depends on changed since the loader read Redis (no stale
    /// set), records it under each of its dependencies, and releases the fill lease if this filler
    /// holds it.
    ///
    /// Unchanged means: every tag generation is what the reader saw; and, for an entry with
    /// dependencies, no dependency of its slot was invalidated after the sequence number the reader
    /// saw (when the slot's sequence moved, each dependency's last change is looked up; if that
    /// record does not reach back to the sequence seen — lost, and created again since — the
    /// store is refused).
    ///
    /// A range dependency is refused when a range change after the sequence seen meets it (or the
    /// list of range changes was trimmed past that sequence). Bounds are 17-digit zero-padded, so
    /// comparing them as strings is exact.
    ///
    /// KEYS: entry, lease, generation keys (g)..., then for an entry with dependencies: the slot's
    /// sequence, its change record, and two keys per dependency (`CacheKeyScheme.dependencyKeys`).
    /// ARGV: value, ttl ms, lease token, g, expected generations (g)..., then for an entry with
    /// dependencies: the sequence seen, and each dependency's name.
    static let storeIfUnchanged = """
        local g = tonumber(ARGV[4])
        local unchanged = true
        for i = 1, g do
            if (redis.call('GET', KEYS[2 + i]) or '0') ~= ARGV[4 + i] then unchanged = false break end
        end
        local d0 = 3 + g
        if unchanged and #KEYS > 2 + g then
            local seen = ARGV[5 + g]
            local now = redis.call('GET', KEYS[d0]) or '0'
            -- Below what the reader saw: the sequence went back (lost, or a failover to a replica
            -- whose clock is behind); nothing recorded since can be trusted to cover the gap.
            if tonumber(now) < tonumber(seen) then unchanged = false end
            if unchanged and now ~= seen then
                -- The change record must cover every change since the sequence seen: it covers
                -- those after '~since' (the sequence when it was created), so a record lost and
                -- created again refuses.
                local changes = KEYS[d0 + 1]
                local floor = tonumber(seen)
                local since = redis.call('HGET', changes, '~since')
                if not since or tonumber(since) > floor then
                    unchanged = false
                else
                    local k = d0 + 2
                    for j = 6 + g, #ARGV do
                        local lo, hi = string.match(ARGV[j], '@(%d+)%.%.(%d+)$')
                        if lo then
                            -- A range: any range change after the sequence seen that meets it.
                            local trimmed = redis.call('HGET', changes, '~rcsince')
                            if trimmed and tonumber(trimmed) > floor then unchanged = false break end
                            local list = redis.call('LRANGE', KEYS[k + 1], 0, -1)
                            for i = #list, 1, -1 do
                                local seq, a, b = string.match(list[i], '^(%d+):(%d+):(%d+)$')
                                if tonumber(seq) <= floor then break end
                                if a <= hi and lo <= b then unchanged = false break end
                            end
                            if not unchanged then break end
                        else
                            local at = redis.call('HGET', changes, ARGV[j])
                            if at and tonumber(at) > floor then unchanged = false break end
                        end
                        k = k + 2
                    end
                end
            end
        end
        if unchanged then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            -- Dependents sets and range hashes carry no TTL (like generations: one evicted or
            -- expired would let an invalidation miss a live entry); what names expired entries
            -- goes with the next invalidation that meets it.
            local k = d0 + 2
            for j = 6 + g, #ARGV do
                local lo, hi = string.match(ARGV[j], '@(%d+)%.%.(%d+)$')
                if lo then
                    redis.call('HSET', KEYS[k], KEYS[1], lo .. ':' .. hi)
                else
                    redis.call('SADD', KEYS[k], KEYS[1])
                end
                k = k + 2
            end
        end
        if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
        if unchanged then return 1 end
        return 0
        """

    /// Bumps generations, invalidates dependencies, and tells every process's near-cache.
    ///
    /// A bump sets a generation or sequence to the larger of its value + 1 and the server's clock
    /// in microseconds, never just `INCR`: a counter that lost bumps (a restart without persistence,
    /// an eviction, a failover to a replica that had not received them) then cannot climb back to
    /// a value a reader saw, so a load that began before the loss can never be stored, or shared,
    /// as if it were current. (Exact as long as the nodes' clocks agree within the time a failover
    /// takes, seconds.)
    ///
    /// A dependency: its slot's sequence is advanced and recorded as the dependency's last change
    /// (so a fill that read the sequence before is refused), and every entry stored under it is
    /// deleted (the entries sit in the same slot as the set that names them). A change record
    /// created here covers the changes after `~since`, the sequence before this one.
    ///
    /// A range (`slot/part@LOW..HIGH`): recorded in the part's list of range changes, and every
    /// entry whose stored range meets it deleted. When the list is trimmed, `~rcsince` keeps the
    /// sequence of the newest change dropped.
    ///
    /// KEYS: generation keys (g)..., then per dependency: its slot's sequence, change record and
    /// its two keys (`CacheKeyScheme.dependencyKeys`). ARGV: channel, message, g, each dependency's
    /// name.
    /// Returns the entry keys deleted.
    static let invalidate = """
        local now = redis.call('TIME')
        local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
        -- Lua numbers are doubles: exact up to 2^53, centuries of microseconds away.
        local function bump(key)
            local current = tonumber(redis.call('GET', key) or '') or 0
            local value = math.max(current + 1, clock)
            redis.call('SET', key, string.format('%d', value))
            return value, current
        end
        local g = tonumber(ARGV[3])
        for i = 1, g do bump(KEYS[i]) end
        local deleted = {}
        local d = 3
        for i = g + 1, #KEYS, 4 do
            d = d + 1
            local sequence, before = bump(KEYS[i])
            if redis.call('EXISTS', KEYS[i + 1]) == 0 then
                -- A sequence that was missing too covers nothing before this change.
                if before == 0 then before = sequence - 1 end
                redis.call('HSET', KEYS[i + 1], '~since', string.format('%d', before))
            end
            local lo, hi = string.match(ARGV[d], '@(%d+)%.%.(%d+)$')
            if lo then
                -- A range: recorded (the last 10,000, and up to which sequence some were dropped),
                -- and every entry whose range meets it deleted.
                -- string.format, not `..`: Lua writes a number of more than 14 digits in exponent form.
                redis.call('RPUSH', KEYS[i + 3], string.format('%d', sequence) .. ':' .. lo .. ':' .. hi)
                if redis.call('LLEN', KEYS[i + 3]) > 10000 then
                    local dropped = redis.call('LPOP', KEYS[i + 3])
                    redis.call('HSET', KEYS[i + 1], '~rcsince', string.match(dropped, '^(%d+):'))
                end
                local pages = redis.call('HGETALL', KEYS[i + 2])
                for p = 1, #pages, 2 do
                    local a, b = string.match(pages[p + 1], '^(%d+):(%d+)$')
                    if a and a <= hi and lo <= b then
                        if redis.call('DEL', pages[p]) == 1 then deleted[#deleted + 1] = pages[p] end
                        redis.call('HDEL', KEYS[i + 2], pages[p])
                    end
                end
            else
                redis.call('HSET', KEYS[i + 1], ARGV[d], string.format('%d', sequence))
                for _, key in ipairs(redis.call('SMEMBERS', KEYS[i + 2])) do
                    if redis.call('DEL', key) == 1 then deleted[#deleted + 1] = key end
                end
                redis.call('DEL', KEYS[i + 2])
            end
        end
        redis.call('PUBLISH', ARGV[1], ARGV[2])
        return deleted
        """

    /// Releases a fill lease if the caller still holds it (its loader failed).
    ///
    /// KEYS: lease. ARGV: token.
    static let releaseLease = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """
}
