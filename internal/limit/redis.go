package limit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeScript is Counter.Take in Redis: one script, so the read, the refill and the write
// of a bucket are one atomic step whichever replica runs it. A bucket is a hash of its
// tokens (t) and the time of its last step in milliseconds (l); its TTL is the time until
// it is full again, after which it holds no information and Redis drops it. Numbers go
// back as strings: Redis truncates a Lua number reply to an integer.
var takeScript = redis.NewScript(`
local burst = tonumber(ARGV[1])
local every = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 't', 'l')
local tokens, last = burst, now
if b[1] and b[2] then
  tokens = tonumber(b[1])
  last = tonumber(b[2])
end
if now > last then
  tokens = tokens + (now - last) / every
  last = now
end
tokens = math.min(burst, tokens)
local taken = 0
if tokens >= cost then
  tokens = math.min(burst, tokens - cost)
  taken = 1
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'l', string.format('%d', last))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) * every)))
return {taken, string.format('%.17g', tokens)}
`)

// Redis is the Counter kept in Redis (the redis_url setting).
type Redis struct {
	client *redis.Client
	prefix string
}

// NewRedis connects to url (redis://[user:password@]host:port/db); keys are prefixed
// with prefix, so several deployments (or tests) can share one Redis.
func NewRedis(url, prefix string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("limit: redis_url: %w", err)
	}
	return &Redis{client: redis.NewClient(opt), prefix: prefix}, nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// Take implements Counter.
func (r *Redis) Take(ctx context.Context, key string, burst int, every time.Duration, cost float64, now time.Time) (float64, bool, error) {
	res, err := takeScript.Run(ctx, r.client, []string{r.prefix + key},
		burst, every.Milliseconds(), cost, now.UnixMilli()).Slice()
	if err != nil {
		return 0, false, fmt.Errorf("limit: redis: %w", err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("limit: redis: unexpected reply %v", res)
	}
	taken, _ := res[0].(int64)
	s, _ := res[1].(string)
	tokens, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("limit: redis: unexpected tokens %q", s)
	}
	return tokens, taken == 1, nil
}
