package dashboard

import (
	"context"
	"sort"
	"time"

	"github.com/conexor/conexor/internal/chart"
	"github.com/conexor/conexor/storage"
	"github.com/conexor/conexor/templates"
)

// usageHours is how far back the usage charts look: the last 7 days, hour by hour, the
// current (partial) hour last.
const usageHours = 7 * 24

// noToken names the counters of MCP requests refused before any client was known (no
// token, or one that is not valid): the gateway counts them under client "".
const noToken = "No valid token"

// usageStart is the first hour of the charts.
func (h *Handler) usageStart() time.Time {
	return h.now().UTC().Truncate(time.Hour).Add(-(usageHours - 1) * time.Hour)
}

// usageSlot is the chart slot of a counter's hour, false when it is outside the charts.
func usageSlot(start, hour time.Time) (int, bool) {
	i := int(hour.UTC().Sub(start) / time.Hour)
	return i, i >= 0 && i < usageHours
}

// serverUsage builds the Usage section of srv's page from its hourly counters: tokens
// issued per client, and MCP requests per client, allowed and refused. Clients are shown
// by name when they still exist, else by ID.
func (h *Handler) serverUsage(ctx context.Context, srv *storage.Server) (*templates.UsageView, error) {
	start := h.usageStart()
	counts, err := h.Store.Usage(ctx, []string{srv.Path()}, start)
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, c := range counts {
		if c.ClientID != "" && !seen[c.ClientID] {
			seen[c.ClientID] = true
			ids = append(ids, c.ClientID)
		}
	}
	names, err := h.Store.ClientNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	label := clientLabels(ids, names)

	// One series per client and kind, keyed "kind/client".
	type key struct{ kind, client string }
	series := map[key][]int64{}
	for _, c := range counts {
		i, ok := usageSlot(start, c.Hour)
		if !ok {
			continue
		}
		k := key{c.Kind, c.ClientID}
		if series[k] == nil {
			series[k] = make([]int64, usageHours)
		}
		series[k][i] += c.Count
	}
	keys := make([]key, 0, len(series))
	for k := range series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].client < keys[j].client })
	// One colour per client in both charts: by the client's tokens and allowed requests
	// together, busiest first.
	busy := map[string]int64{}
	for k, v := range series {
		if k.kind != storage.UsageMCPRefused {
			for _, n := range v {
				busy[k.client] += n
			}
		}
	}
	colour := clientColours(busy, label)
	tokens := chart.Bars{ID: "usage-tokens", Title: "Tokens issued per hour", Noun: "tokens", Start: start, Hours: usageHours}
	mcp := chart.Bars{ID: "usage-mcp", Title: "MCP requests per hour", Noun: "requests", Start: start, Hours: usageHours}
	for _, k := range keys {
		name := noToken
		if k.client != "" {
			name = label[k.client]
		}
		switch k.kind {
		case storage.UsageTokens:
			tokens.Series = append(tokens.Series, chart.Series{Name: name, Colour: colour[k.client], Values: series[k]})
		case storage.UsageMCPAllowed:
			mcp.Series = append(mcp.Series, chart.Series{Name: name, Colour: colour[k.client], Values: series[k]})
		case storage.UsageMCPRefused:
			mcp.Series = append(mcp.Series, chart.Series{Name: name + " (refused)", Refused: true, Values: series[k]})
		}
	}
	return &templates.UsageView{Tokens: tokens.HTML(), MCP: mcp.HTML()}, nil
}

// clientColours gives the busiest clients the palette's colours in order (chart.Series
// Colour) and the rest its last one, the colour of "Other clients".
func clientColours(busy map[string]int64, label map[string]string) map[string]int {
	ids := make([]string, 0, len(busy))
	for id := range busy {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if busy[ids[i]] != busy[ids[j]] {
			return busy[ids[i]] > busy[ids[j]]
		}
		return label[ids[i]] < label[ids[j]]
	})
	out := make(map[string]int, len(ids))
	for i, id := range ids {
		out[id] = min(i+1, len(chart.Palette))
	}
	return out
}

// clientLabels names each client ID: its client's name, with the ID added when two
// clients share a name, or the ID alone when the client is gone (deleted, or a client ID
// metadata document never stored).
func clientLabels(ids []string, names map[string]string) map[string]string {
	uses := map[string]int{}
	for _, id := range ids {
		if n := names[id]; n != "" {
			uses[n]++
		}
	}
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		switch n := names[id]; {
		case n == "":
			out[id] = id
		case uses[n] > 1:
			out[id] = n + " (" + id + ")"
		default:
			out[id] = n
		}
	}
	return out
}

// sparklines returns, for each server path, the sparkline of its tokens issued per hour
// over the charts' 7 days, from one query for all of them.
func (h *Handler) sparklines(ctx context.Context, paths []string) (map[string]templates.Chart, error) {
	start := h.usageStart()
	counts, err := h.Store.Usage(ctx, paths, start)
	if err != nil {
		return nil, err
	}
	values := make(map[string][]int64, len(paths))
	for _, p := range paths {
		values[p] = make([]int64, usageHours)
	}
	for _, c := range counts {
		i, ok := usageSlot(start, c.Hour)
		if v := values[c.ServerPath]; ok && v != nil && c.Kind == storage.UsageTokens {
			v[i] += c.Count
		}
	}
	out := make(map[string]templates.Chart, len(paths))
	for p, v := range values {
		out[p] = chart.Sparkline{Label: p + ": tokens issued per hour", Noun: "tokens", Values: v}.HTML()
	}
	return out, nil
}
