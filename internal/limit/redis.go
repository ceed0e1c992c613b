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
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local burst = tonumber(ARGV[3*i-1])
  local every = tonumber(ARGV[3*i])
  local cost = tonumber(ARGV[3*i+1])
  local b = redis.call('HMGET', key, 't', 'l')
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
  if cost ~= 0 then
    redis.call('HSET', key, 't', string.format('%.17g', tokens), 'l', string.format('%d', last))
    redis.call('PEXPIRE', key, math.max(1, math.ceil((burst - tokens) * every)))
  end
  out[2*i-1] = taken
  out[2*i] = string.format('%.17g', tokens)
end
return out
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

// Take implements Counter: one script call for every step.
func (r *Redis) Take(ctx context.Context, steps []Step, now time.Time) ([]Result, error) {
	keys := make([]string, len(steps))
	args := make([]any, 0, 1+3*len(steps))
	args = append(args, now.UnixMilli())
	for i, st := range steps {
		keys[i] = r.prefix + st.Key
		args = append(args, st.Burst, st.Every.Milliseconds(), st.Cost)
	}
	res, err := takeScript.Run(ctx, r.client, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("limit: redis: %w", err)
	}
	if len(res) != 2*len(steps) {
		return nil, fmt.Errorf("limit: redis: unexpected reply %v", res)
	}
	out := make([]Result, len(steps))
	for i := range steps {
		taken, _ := res[2*i].(int64)
		s, _ := res[2*i+1].(string)
		tokens, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("limit: redis: unexpected tokens %q", s)
		}
		out[i] = Result{Tokens: tokens, Taken: taken == 1}
	}
	return out, nil
}
