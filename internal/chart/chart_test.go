package chart

import (
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// start is the first hour of the seeded charts: a Monday 14:00 UTC, so the 168 hours
// cross eight dates.
var start = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

// seeded is a tokens-and-requests chart with known counts: hour 10 is the busiest (40 in
// all), hour 20 has exactly half of it, hour 30 one request, and a client's name is markup.
func seeded() Bars {
	export := make([]int64, 168)
	hostile := make([]int64, 168)
	anon := make([]int64, 168)
	export[10], hostile[10], anon[10] = 25, 10, 5 // 40: the peak
	export[20] = 20                               // half the peak
	anon[30] = 1                                  // one refused request: at least one unit
	export[100], hostile[100] = 7, 3
	hostile[167] = 12
	return Bars{ID: "mcp", Title: "MCP requests per hour", Noun: "requests", Start: start, Hours: 168,
		Series: []Series{
			{Name: "Nightly export", Values: export},
			{Name: "no valid token", Refused: true, Values: anon},
			{Name: `<script>alert("x")</script>`, Values: hostile},
			{Name: "idle client", Values: make([]int64, 168)},
		}}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the golden file (run go test ./internal/chart -update to write it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file %s (rerun with -update after checking the change):\ngot:\n%s", name, path, got)
	}
}

// TestBarsGolden: the seeded chart's markup is the golden file's.
func TestBarsGolden(t *testing.T) {
	golden(t, "bars.svg.html", string(seeded().HTML()))
	golden(t, "bars_empty.svg.html", string(Bars{ID: "tok", Title: "Tokens issued per hour", Noun: "tokens", Start: start, Hours: 168,
		Series: []Series{{Name: "unused", Values: make([]int64, 168)}}}.HTML()))
}

// bar is one parsed <g class="bar">.
type bar struct {
	hour          string
	total, height int64
	rects         []rect
}

type rect struct{ y, height, count int64 }

// parseBars reads the chart's SVG as XML and returns its bars by hour, checking that the
// markup is well-formed on the way.
func parseBars(t *testing.T, markup string) map[string]*bar {
	t.Helper()
	i := strings.Index(markup, `<svg class="chart-svg"`)
	j := strings.Index(markup[i:], `</svg>`)
	if i < 0 || j < 0 {
		t.Fatalf("no chart SVG in %s", markup)
	}
	d := xml.NewDecoder(strings.NewReader(markup[i : i+j+len(`</svg>`)]))
	bars := map[string]*bar{}
	var cur *bar
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			a := attrs(t, el)
			switch {
			case el.Name.Local == "g" && a["class"] == "bar":
				cur = &bar{hour: a["data-hour"], total: num(t, a["data-total"]), height: num(t, a["data-height"])}
				bars[cur.hour] = cur
			case el.Name.Local == "rect" && cur != nil:
				cur.rects = append(cur.rects, rect{y: num(t, a["y"]), height: num(t, a["height"]), count: num(t, a["data-count"])})
			}
		case xml.EndElement:
			if el.Name.Local == "g" {
				cur = nil
			}
		}
	}
	return bars
}

func attrs(t *testing.T, el xml.StartElement) map[string]string {
	m := map[string]string{}
	for _, a := range el.Attr {
		m[a.Name.Local] = a.Value
	}
	return m
}

func num(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// TestBarsHeights: each bar's drawn height is its total's share of the busiest hour's,
// computed here in floating point: the busiest hour fills the plot, half of it is half,
// one request is one unit, an hour with nothing has no bar; the segments of a bar stack
// without gaps from the base line and add up to the bar.
func TestBarsHeights(t *testing.T) {
	b := seeded()
	bars := parseBars(t, string(b.HTML()))
	hourKey := func(h int) string { return start.Add(time.Duration(h) * time.Hour).Format("2006-01-02T15:04Z") }
	want := map[int]int64{10: 40, 20: 20, 30: 1, 100: 10, 167: 12}
	if len(bars) != len(want) {
		t.Errorf("%d bars drawn, want %d (one per hour with counts)", len(bars), len(want))
	}
	const peak = 40
	for h, total := range want {
		got := bars[hourKey(h)]
		if got == nil {
			t.Errorf("hour %d (%d requests) has no bar", h, total)
			continue
		}
		if got.total != total {
			t.Errorf("hour %d: data-total %d, want %d", h, got.total, total)
		}
		wantH := int64(math.Max(1, math.Round(float64(total)*PlotHeight/peak)))
		var sum, counted int64
		y := int64(PlotTop + PlotHeight)
		for _, r := range got.rects {
			y -= r.height
			if r.y != y {
				t.Errorf("hour %d: a segment at y=%d, want %d (stacked without gaps)", h, r.y, y)
			}
			sum += r.height
			counted += r.count
		}
		if sum != wantH || got.height != wantH {
			t.Errorf("hour %d: %d requests drawn %d high (data-height %d), want %d", h, total, sum, got.height, wantH)
		}
		if counted != total {
			t.Errorf("hour %d: segments count %d, want %d", h, counted, total)
		}
	}
	if h := bars[hourKey(10)]; h == nil || h.height != PlotHeight {
		t.Errorf("the busiest hour is not the full plot height %d: %+v", PlotHeight, h)
	}
	if h := bars[hourKey(20)]; h == nil || h.height != PlotHeight/2 {
		t.Errorf("an hour of half the peak is not half the plot height: %+v", h)
	}
	// The peak hour's segments: 25, 10 and 5 of 40 over 120 units are 75, 30 and 15.
	if h := bars[hourKey(10)]; h != nil {
		var heights []int64
		for _, r := range h.rects {
			heights = append(heights, r.height)
		}
		if len(heights) != 3 || heights[0] != 75 || heights[1] != 30 || heights[2] != 15 {
			t.Errorf("the peak hour's segments are %v high, want [75 30 15] (export, the other client, refused on top)", heights)
		}
	}
}

// TestBarsEscapesNames: a client named with markup is text, never markup, in the SVG, the
// legend, the tooltips and the table.
func TestBarsEscapesNames(t *testing.T) {
	out := string(seeded().HTML())
	if strings.Contains(out, "<script") {
		t.Fatal("a client named <script> reached the chart as markup")
	}
	if n := strings.Count(out, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"); n < 4 {
		t.Errorf("the hostile name appears escaped %d times, want it in the label, legend, tooltips and table", n)
	}
	if !strings.Contains(out, `aria-label="MCP requests per hour, last 7 days: 83 requests in all, at most 40 in one hour.`) {
		t.Errorf("the chart's accessible name does not say what it shows:\n%s", out[:min(len(out), 600)])
	}
	hostileID := seeded()
	hostileID.ID = `x" onload="alert(1)`
	if out := string(hostileID.HTML()); strings.Contains(out, `"alert`) || !strings.Contains(out, `id="xonloadalert1"`) {
		t.Error("a chart ID with quotes reached an attribute as is")
	}
	if strings.Contains(out, "idle client") {
		t.Error("a client with no counts is in the legend")
	}
}

// TestBarsCapsLegend: beyond six allowed series the smallest are summed into "Other
// clients", so no count is lost and the colours stay few.
func TestBarsCapsLegend(t *testing.T) {
	var series []Series
	for i := range 9 {
		v := make([]int64, 24)
		v[0] = int64(10 + i)
		series = append(series, Series{Name: "client " + strconv.Itoa(i), Values: v})
	}
	b := Bars{ID: "cap", Title: "Tokens issued per hour", Noun: "tokens", Start: start, Hours: 24, Series: series}
	got := b.legend()
	if len(got) != maxAllowed || got[0].Name != "client 8" || got[len(got)-1].Name != "Other clients" {
		t.Fatalf("legend %v, want the five largest then Other clients", names(got))
	}
	// Others: clients 0..3, 10+11+12+13.
	if n := got[len(got)-1].Total(); n != 46 {
		t.Errorf("Other clients total %d, want 46", n)
	}
	if out := string(b.HTML()); !strings.Contains(out, `data-total="126"`) {
		t.Errorf("the hour's bar does not count all 126 tokens")
	}
}

func names(ss []Series) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// TestSparkline: golden markup; the busiest hour is the full height, half is half, an
// empty hour has no bar, and the label says the total.
func TestSparkline(t *testing.T) {
	v := make([]int64, 168)
	v[5], v[6], v[100], v[167] = 8, 4, 1, 2
	out := string(Sparkline{Label: "Tokens issued per hour", Noun: "tokens", Values: v}.HTML())
	golden(t, "sparkline.svg", out)
	d := xml.NewDecoder(strings.NewReader(out))
	heights := map[int64]int64{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the sparkline is not well-formed XML: %v", err)
		}
		if el, ok := tok.(xml.StartElement); ok && el.Name.Local == "rect" {
			a := attrs(t, el)
			if c, ok := a["data-count"]; ok {
				heights[num(t, c)] = num(t, a["height"])
			}
		}
	}
	want := map[int64]int64{8: SparkHeight, 4: SparkHeight / 2, 1: 3, 2: 6} // 1/8 of 22 is 2.75
	if len(heights) != len(want) {
		t.Errorf("sparkline bars by count %v, want %v", heights, want)
	}
	for c, h := range want {
		if heights[c] != h {
			t.Errorf("a count of %d is %d high, want %d", c, heights[c], h)
		}
	}
	if !strings.Contains(out, `aria-label="Tokens issued per hour, last 7 days: 15 tokens in all, at most 8 in one hour"`) {
		t.Errorf("the sparkline's label does not say the total: %s", out)
	}
	empty := string(Sparkline{Label: "Tokens issued per hour", Noun: "tokens", Values: make([]int64, 168)}.HTML())
	if strings.Contains(empty, "data-count") || !strings.Contains(empty, "last 7 days: none") {
		t.Errorf("an empty sparkline draws bars or does not say none: %s", empty)
	}
}

// TestGroup: thousands separators.
func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestBarsColour: a series' Colour is its fill whatever its rank, so one client keeps one
// colour across charts; without it the legend's rank picks the colour.
func TestBarsColour(t *testing.T) {
	v := func(n int64) []int64 { return []int64{n} }
	b := Bars{ID: "c", Title: "t", Noun: "n", Start: start, Hours: 1, Series: []Series{
		{Name: "big", Values: v(9)}, {Name: "small", Colour: 4, Values: v(1)}}}
	out := string(b.HTML())
	for _, want := range []string{
		`fill="` + Palette[0] + `"/></svg> <span class="legend-name">big</span>`,
		`fill="` + Palette[3] + `"/></svg> <span class="legend-name">small</span>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the legend lacks %s", want)
		}
	}
}
