// Package chart draws the dashboard's small usage charts as SVG markup on the server: no
// JavaScript and no chart library, so a chart shows under the pages' Content-Security-Policy
// (no inline styles or scripts) and in a browser with scripts off.
//
// The markup is built only from numbers, fixed colours and names escaped with
// html.EscapeString, so it is safe to hand to html/template as template.HTML. Colours are
// SVG presentation attributes (allowed by a style-src 'self' policy, unlike style=""),
// from a small palette that matches templates/static/conexor.css.
//
// Heights use integer pixel math, documented where it is done (barHeight, split): a bar's
// height is its count over the busiest hour's, times the plot height, rounded to the
// nearest pixel, so the busiest hour fills the plot and an hour with nothing draws nothing.
package chart

import (
	"cmp"
	"fmt"
	"html"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Palette is the fill of the allowed series, in legend order: the console's accent first,
// then colours of at least 3:1 contrast against the white panel (WCAG 1.4.11), told apart
// by hue as well as lightness. The last one is for "Other clients".
var Palette = []string{"#2457d6", "#0f7b6c", "#b35c00", "#7b3fb8", "#4d6b1f", "#6b7380"}

// The refused style: red stripes on pale red, the console's --danger and --danger-bg, so
// refused requests never look like any client's allowed ones.
const (
	refusedInk  = "#c4302b"
	refusedBack = "#f6c9c7"
	inkMuted    = "#5b6470" // --muted: axis labels
	inkLine     = "#dde1e6" // --line: grid lines
)

// Geometry of Bars, in SVG user units (the SVG scales to its box; the proportions stay).
const (
	BarWidth   = 4
	barStep    = 5 // BarWidth + a 1-unit gap
	PlotHeight = 120
	PlotTop    = 10
	plotLeft   = 52 // room for the y-axis labels
	plotRight  = 10
	plotBottom = 24 // room for the day labels
)

// maxAllowed and maxRefused cap the legend: beyond them the smallest series are summed
// into one "Other" series, so colours stay few enough to tell apart.
const (
	maxAllowed = 6
	maxRefused = 3
)

// Series is one kind of stacked segment: one client's counts, one per hour, oldest first.
type Series struct {
	// Name is shown in the legend and the tooltips (escaped).
	Name string
	// Refused draws the series in the refused style (red stripes).
	Refused bool
	// Colour, when not 0, is the allowed series' fill: Palette[Colour-1]. Charts side by
	// side set it so that one client has one colour in all of them; 0 colours the series
	// by its rank in the legend.
	Colour int
	Values []int64
}

// Total is the sum of the series' counts.
func (s Series) Total() int64 {
	var n int64
	for _, v := range s.Values {
		n += v
	}
	return n
}

// Bars is a stacked bar chart of hourly counts.
type Bars struct {
	// ID prefixes the ids of the chart's elements; it must be unique on the page. Only its
	// letters, digits and dashes are kept.
	ID string
	// Title says what is counted: "Tokens issued per hour".
	Title string
	// Noun is what one count is, plural: "tokens", "requests".
	Noun string
	// Start is the first hour; Hours the number of hours (each series has that many
	// values). The captions speak of "the last 7 days", the dashboard's 168 hours.
	Start time.Time
	Hours int
	// Series are stacked bottom up in this order after sorting: allowed ones by total
	// (largest first), then refused ones.
	Series []Series
}

// segment is one drawn piece of a bar.
type segment struct {
	series int
	count  int64
	height int
}

// HTML returns the chart: a figure with a caption, the SVG (role="img", named in words),
// a legend with each series' total and a table of the numbers per day.
func (b Bars) HTML() template.HTML {
	b.ID = safeID(b.ID)
	series := b.legend()
	colours := fills(b.ID, series)
	totals := make([]int64, b.Hours)
	var all int64
	for _, s := range series {
		for h := 0; h < b.Hours && h < len(s.Values); h++ {
			totals[h] += s.Values[h]
			all += s.Values[h]
		}
	}
	peak := slices.Max(append([]int64{0}, totals...))
	width := plotLeft + b.Hours*barStep + plotRight
	height := PlotTop + PlotHeight + plotBottom
	base := PlotTop + PlotHeight

	var w strings.Builder
	summary := b.summary(series, all, peak)
	fmt.Fprintf(&w, `<figure class="chart" id="%s">`, b.ID)
	fmt.Fprintf(&w, `<figcaption class="chart-caption"><span class="chart-title">%s</span> <span class="chart-total" data-testid="%s-total">%s %s</span> <span class="muted">in the last 7 days (UTC)</span></figcaption>`,
		esc(b.Title), b.ID, group(all), esc(b.Noun))
	if all == 0 {
		// Nothing to draw: the caption's "0 tokens in the last 7 days" says it all, without
		// an empty plot as tall as a full one.
		w.WriteString(`</figure>`)
		return template.HTML(w.String()) // safe: an escaped title and a number only
	}
	fmt.Fprintf(&w, `<svg class="chart-svg" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" preserveAspectRatio="xMinYMin meet" font-size="11">`,
		esc(summary), width, height, width, height)
	fmt.Fprintf(&w, `<title>%s</title>`, esc(summary))
	fmt.Fprintf(&w, `<defs><pattern id="%s-refused" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="%s"/><rect width="2" height="4" fill="%s"/></pattern></defs>`,
		b.ID, refusedBack, refusedInk)

	// Axes: the top grid line is the busiest hour, the base line zero.
	fmt.Fprintf(&w, `<line class="grid" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-dasharray="3 3"/>`, plotLeft, PlotTop, width-plotRight, PlotTop, inkLine)
	fmt.Fprintf(&w, `<text class="y-max" x="%d" y="%d" text-anchor="end" fill="%s">%s</text>`, plotLeft-6, PlotTop+4, inkMuted, group(peak))
	fmt.Fprintf(&w, `<text class="y-zero" x="%d" y="%d" text-anchor="end" fill="%s">0</text>`, plotLeft-6, base+4, inkMuted)

	// Day ticks at each midnight (UTC), labelled with the day that starts there; the
	// first, partial day is labelled at the left edge when it has room.
	for h := 0; h < b.Hours; h++ {
		t := b.Start.Add(time.Duration(h) * time.Hour).UTC()
		x := plotLeft + h*barStep
		if t.Hour() == 0 {
			fmt.Fprintf(&w, `<line class="tick" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, x, PlotTop, x, base+6, inkLine)
		}
		if (t.Hour() == 0 && b.Hours-h >= 8) || (h == 0 && t.Hour() <= 16) {
			fmt.Fprintf(&w, `<text class="day" x="%d" y="%d" fill="%s">%s</text>`, x+3, base+17, inkMuted, t.Format("Mon 2"))
		}
	}

	// The bars: one group per hour with a tooltip, segments stacked bottom up.
	for h := 0; h < b.Hours; h++ {
		if totals[h] == 0 {
			continue
		}
		t := b.Start.Add(time.Duration(h) * time.Hour).UTC()
		x := plotLeft + h*barStep
		bar := barHeight(totals[h], peak)
		segs := split(series, h, totals[h], bar)
		fmt.Fprintf(&w, `<g class="bar" data-hour="%s" data-total="%d" data-height="%d"><title>%s</title>`,
			t.Format("2006-01-02T15:04Z"), totals[h], bar, esc(b.tooltip(series, h, t, totals[h])))
		y := base
		for _, s := range segs {
			y -= s.height
			fmt.Fprintf(&w, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" data-series="%d" data-count="%d"/>`,
				x, y, BarWidth, s.height, colours[s.series], s.series, s.count)
		}
		w.WriteString(`</g>`)
	}
	fmt.Fprintf(&w, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, plotLeft, base, width-plotRight, base, inkMuted)
	w.WriteString(`</svg>`)

	// The legend: swatch, name, total.
	if len(series) > 0 {
		w.WriteString(`<ul class="chart-legend">`)
		for i, s := range series {
			fmt.Fprintf(&w, `<li><svg class="swatch" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><rect width="12" height="12" rx="2" fill="%s"/></svg> <span class="legend-name">%s</span> <span class="legend-total">%s</span></li>`,
				colours[i], esc(s.Name), group(s.Total()))
		}
		w.WriteString(`</ul>`)
		b.table(&w, series)
	}
	w.WriteString(`</figure>`)
	return template.HTML(w.String()) // safe: numbers, fixed colours and escaped names only
}

// barHeight is the height of an hour's bar: total/peak of the plot height, rounded to the
// nearest unit ((total*PlotHeight + peak/2) / peak, integer division), and at least one
// unit when total > 0 so a quiet hour next to a busy one still shows. The busiest hour is
// PlotHeight exactly; an hour of half the peak is half of it.
func barHeight(total, peak int64) int {
	if total <= 0 || peak <= 0 {
		return 0
	}
	h := int((total*PlotHeight + peak/2) / peak)
	return max(h, 1)
}

// split divides a bar of height bar among the series of hour h by cumulative rounding: the
// top of the k-th segment is round(cum_k * bar / total), where cum_k is the count of
// segments 0..k. The segments' heights so add up to the bar exactly, each is its share to
// within a unit, and a segment that rounds to nothing is left out (its count is still in
// the tooltip, the legend and the table).
func split(series []Series, h int, total int64, bar int) []segment {
	var out []segment
	var cum int64
	prev := 0
	for i, s := range series {
		if h >= len(s.Values) || s.Values[h] == 0 {
			continue
		}
		cum += s.Values[h]
		top := int((cum*int64(bar) + total/2) / total)
		if top > prev {
			out = append(out, segment{series: i, count: s.Values[h], height: top - prev})
		}
		prev = top
	}
	return out
}

// legend returns the series to draw: those with counts, allowed ones first, each group by
// total (largest first, then by name), the smallest beyond the caps summed into "Other".
func (b Bars) legend() []Series {
	var allowed, refused []Series
	for _, s := range b.Series {
		if s.Total() == 0 {
			continue
		}
		if s.Refused {
			refused = append(refused, s)
		} else {
			allowed = append(allowed, s)
		}
	}
	return append(capSeries(allowed, maxAllowed, "Other clients", b.Hours, false),
		capSeries(refused, maxRefused, "Other refused", b.Hours, true)...)
}

func capSeries(ss []Series, limit int, other string, hours int, refused bool) []Series {
	slices.SortStableFunc(ss, func(a, b Series) int {
		if c := cmp.Compare(b.Total(), a.Total()); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(ss) <= limit {
		return ss
	}
	rest := Series{Name: other, Refused: refused, Colour: len(Palette), Values: make([]int64, hours)}
	for _, s := range ss[limit-1:] {
		for h := 0; h < hours && h < len(s.Values); h++ {
			rest.Values[h] += s.Values[h]
		}
	}
	return append(ss[:limit-1:limit-1], rest)
}

// fills gives each drawn series its fill: its Colour, else the palette in legend order, for
// allowed ones (the last colour for "Other clients"), the striped pattern for refused ones.
func fills(id string, series []Series) []string {
	out := make([]string, len(series))
	n := 0
	for i, s := range series {
		if s.Refused {
			out[i] = "url(#" + id + "-refused)"
			continue
		}
		c := n
		if s.Colour > 0 {
			c = s.Colour - 1
		}
		out[i] = Palette[min(c, len(Palette)-1)]
		n++
	}
	return out
}

// summary says in words what the chart shows, for its accessible name (all > 0).
func (b Bars) summary(series []Series, all, peak int64) string {
	parts := make([]string, len(series))
	for i, s := range series {
		parts[i] = s.Name + " " + group(s.Total())
	}
	return fmt.Sprintf("%s, last 7 days: %s %s in all, at most %s in one hour. By client: %s.",
		b.Title, group(all), b.Noun, group(peak), strings.Join(parts, ", "))
}

// tooltip is the text shown on hovering an hour's bar.
func (b Bars) tooltip(series []Series, h int, t time.Time, total int64) string {
	var parts []string
	for _, s := range series {
		if h < len(s.Values) && s.Values[h] > 0 {
			parts = append(parts, s.Name+" "+group(s.Values[h]))
		}
	}
	return fmt.Sprintf("%s–%s UTC: %s %s (%s)", t.Format("Mon 2 Jan 15:04"), t.Add(time.Hour).Format("15:04"),
		group(total), b.Noun, strings.Join(parts, ", "))
}

// table writes the numbers per UTC day, folded: the chart's text alternative.
func (b Bars) table(w *strings.Builder, series []Series) {
	type day struct {
		label      string
		start, end int // hours [start, end)
	}
	var days []day
	for h := 0; h < b.Hours; h++ {
		t := b.Start.Add(time.Duration(h) * time.Hour).UTC()
		if h == 0 || t.Hour() == 0 {
			days = append(days, day{label: t.Format("Mon 2"), start: h})
		}
		days[len(days)-1].end = h + 1
	}
	fmt.Fprintf(w, `<details class="chart-data"><summary>Numbers per day</summary><div class="table-wrap"><table><caption class="visually-hidden">%s, per day (UTC) of the last 7 days</caption><thead><tr><th scope="col">Client</th>`, esc(b.Title))
	for _, d := range days {
		fmt.Fprintf(w, `<th scope="col" class="num">%s</th>`, esc(d.label))
	}
	w.WriteString(`<th scope="col" class="num">Total</th></tr></thead><tbody>`)
	dayTotals := make([]int64, len(days))
	var all int64
	for _, s := range series {
		fmt.Fprintf(w, `<tr><th scope="row">%s</th>`, esc(s.Name))
		for i, d := range days {
			var n int64
			for h := d.start; h < d.end && h < len(s.Values); h++ {
				n += s.Values[h]
			}
			dayTotals[i] += n
			fmt.Fprintf(w, `<td class="num">%s</td>`, group(n))
		}
		all += s.Total()
		fmt.Fprintf(w, `<td class="num">%s</td></tr>`, group(s.Total()))
	}
	w.WriteString(`</tbody><tfoot><tr><th scope="row">All</th>`)
	for _, n := range dayTotals {
		fmt.Fprintf(w, `<td class="num">%s</td>`, group(n))
	}
	fmt.Fprintf(w, `<td class="num">%s</td></tr></tfoot></table></div></details>`, group(all))
}

// Sparkline is a tiny chart of hourly counts for a table row: one unit-wide bar per hour.
type Sparkline struct {
	// Label says what is counted: "Tokens issued per hour".
	Label string
	// Noun is what one count is, plural: "tokens".
	Noun   string
	Values []int64
}

// SparkHeight is the sparkline's plot height; one more unit below is its base line. Its
// SVG is one unit per hour wide, drawn SparkWidth pixels wide (168 hours in 126 px: a
// table column's width), so an hour is three quarters of a pixel, anti-aliased.
const (
	SparkHeight = 22
	SparkWidth  = 126
)

// HTML returns the sparkline's SVG (role="img", named in words).
func (s Sparkline) HTML() template.HTML {
	n := len(s.Values)
	var all int64
	for _, v := range s.Values {
		all += v
	}
	peak := slices.Max(append([]int64{0}, s.Values...))
	label := fmt.Sprintf("%s, last 7 days: none", s.Label)
	if all > 0 {
		label = fmt.Sprintf("%s, last 7 days: %s %s in all, at most %s in one hour", s.Label, group(all), s.Noun, group(peak))
	}
	var w strings.Builder
	fmt.Fprintf(&w, `<svg class="sparkline" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" preserveAspectRatio="none" data-total="%d">`,
		esc(label), n, SparkHeight+1, SparkWidth, SparkHeight+1, all)
	fmt.Fprintf(&w, `<title>%s</title>`, esc(label))
	fmt.Fprintf(&w, `<rect class="base" x="0" y="%d" width="%d" height="1" fill="%s"/>`, SparkHeight, n, inkLine)
	for i, v := range s.Values {
		// The same rounding as the bar chart's, against SparkHeight.
		h := 0
		if v > 0 {
			h = max(int((v*SparkHeight+peak/2)/peak), 1)
		}
		if h == 0 {
			continue
		}
		fmt.Fprintf(&w, `<rect x="%d" y="%d" width="1" height="%d" fill="%s" data-count="%d"/>`, i, SparkHeight-h, h, Palette[0], v)
	}
	w.WriteString(`</svg>`)
	return template.HTML(w.String()) // safe: numbers, fixed colours and an escaped label only
}

// safeID keeps an ID's letters, digits and dashes, so that it needs no escaping in an
// attribute or a url(#…) reference.
func safeID(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, id)
}

// esc escapes text for an HTML or SVG text node or a quoted attribute.
func esc(s string) string { return html.EscapeString(s) }

// group writes n with thousands separators: 1234567 → "1,234,567".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
