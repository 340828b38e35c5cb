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
    /// KEYS: entry, lease, generation keys (g)..., then for an entry with dependencies: the slot's
    /// sequence, its change record, and the dependents set of each dependency.
    /// ARGV: value, ttl ms, lease token, g, expected generations (g)..., then for an entry with
    /// dependencies: the sequence seen, and each dependency's name.
    static let storeIfUnchanged = """
        local g = tonumber(ARGV[4])
        local unchanged = true
        for i = 1, g do
            if (redis.call('GET', KEYS[2 + i]) or '0') ~= ARGV[4 + i] then unchanged = false break end
        end
        if unchanged and #KEYS > 2 + g then
            local seen = ARGV[5 + g]
            if (redis.call('GET', KEYS[3 + g]) or '0') ~= seen then
                -- The change record must cover every change since the sequence seen: it starts
                -- ('~since') when it is created, so a record lost and created again refuses.
                local changes = KEYS[4 + g]
                local floor = tonumber(seen)
                local since = redis.call('HGET', changes, '~since')
                if not since or tonumber(since) > floor + 1 then
                    unchanged = false
                else
                    for j = 6 + g, #ARGV do
                        local at = redis.call('HGET', changes, ARGV[j])
                        if at and tonumber(at) > floor then unchanged = false break end
                    end
                end
            end
        end
        if unchanged then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            -- The dependents sets carry no TTL (like generations: an evicted or expired set would let
            -- an invalidation miss a live entry); members of expired entries go with the next
            -- invalidation of the dependency.
            for k = 5 + g, #KEYS do redis.call('SADD', KEYS[k], KEYS[1]) end
        end
        if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
        if unchanged then return 1 end
        return 0
        """

    /// Bumps generations, invalidates dependencies, and tells every process's near-cache.
    ///
    /// A generation or sequence that does not exist (never bumped, or lost: a restart without
    /// persistence, an eviction) starts from the server's clock in microseconds, not from 0: a
    /// counter that restarted at 0 would climb back to values readers already saw, and a load that
    /// began before the loss could then be stored, or shared, as if it were current.
    ///
    /// A dependency: its slot's sequence is advanced and recorded as the dependency's last change
    /// (so a fill that read the sequence before is refused), and every entry stored under it is
    /// deleted (the entries sit in the same slot as the set that names them).
    ///
    /// KEYS: generation keys (g)..., then per dependency: its slot's sequence, change record and
    /// dependents set. ARGV: channel, message, g, each dependency's name.
    /// Returns the entry keys deleted.
    static let invalidate = """
        local now = redis.call('TIME')
        local start = tonumber(now[1]) * 1000000 + tonumber(now[2])
        local g = tonumber(ARGV[3])
        for i = 1, g do
            if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SET', KEYS[i], string.format('%d', start)) end
            redis.call('INCR', KEYS[i])
        end
        local deleted = {}
        local d = 3
        for i = g + 1, #KEYS, 3 do
            d = d + 1
            if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SET', KEYS[i], string.format('%d', start)) end
            local sequence = redis.call('INCR', KEYS[i])
            if redis.call('EXISTS', KEYS[i + 1]) == 0 then redis.call('HSET', KEYS[i + 1], '~since', sequence) end
            redis.call('HSET', KEYS[i + 1], ARGV[d], sequence)
            for _, key in ipairs(redis.call('SMEMBERS', KEYS[i + 2])) do
                if redis.call('DEL', key) == 1 then deleted[#deleted + 1] = key end
            end
            redis.call('DEL', KEYS[i + 2])
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
