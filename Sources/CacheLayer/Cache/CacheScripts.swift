/// The Lua scripts that make the cache's multi-key steps atomic in Redis.
enum CacheScripts {
    /// Stores an entry only if every tag generation is still what the loader read before loading
    /// (no stale set), and releases the fill lease if this filler holds it.
    ///
    /// KEYS: entry, lease, generation keys... ARGV: value, ttl ms, lease token, expected generations...
    static let storeIfUnchanged = """
        local unchanged = true
        for i = 3, #KEYS do
            if (redis.call('GET', KEYS[i]) or '0') ~= ARGV[i + 1] then unchanged = false break end
        end
        if unchanged then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
        if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
        if unchanged then return 1 end
        return 0
        """

    /// Bumps generations and tells every process's near-cache.
    ///
    /// A generation that does not exist (never bumped, or lost: a restart without persistence, an
    /// eviction) starts from the server's clock in microseconds, not from 0: a counter that
    /// restarted at 0 would climb back to values readers already saw, and a load that began before
    /// the loss could then be stored, or shared, as if it were current.
    ///
    /// KEYS: generation keys to bump. ARGV: channel, message.
    static let invalidate = """
        local now = redis.call('TIME')
        local start = tonumber(now[1]) * 1000000 + tonumber(now[2])
        for i = 1, #KEYS do
            if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SET', KEYS[i], string.format('%d', start)) end
            redis.call('INCR', KEYS[i])
        end
        redis.call('PUBLISH', ARGV[1], ARGV[2])
        return #KEYS
        """

    /// Releases a fill lease if the caller still holds it (its loader failed).
    ///
    /// KEYS: lease. ARGV: token.
    static let releaseLease = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """
}
