"""Per-key rate limits: a token bucket per key in this gateway process (N gateway processes
allow N times the rate; put a shared limiter in front for a hard cap). No I/O."""
import math
import time


class RateLimiter:
    def __init__(self, per_minute, clock=time.monotonic):
        self.per_minute, self.clock, self.buckets = per_minute, clock, {}

    def take(self, key_id, per_minute=None):
        """0 when the request may go ahead; else the seconds to wait before trying again."""
        rate = (per_minute or self.per_minute) / 60.0           # tokens per second
        capacity = max(10.0, rate * 10)                         # ten seconds' worth of burst
        now = self.clock()
        tokens, last = self.buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens >= 1:
            self.buckets[key_id] = (tokens - 1, now)
            return 0
        self.buckets[key_id] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / rate))
