package console

import (
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/relais-hub/relais/hub/stats"
)

// The statistics page, for ministry officials: two pictures and their
// tables. Flows between countries are drawn as a chord-style diagram (the
// countries on a circle, one arrow per corridor, its width the number of
// transfers opened); stage durations as one line per stage over the
// quarters. Both are SVG drawn here from hub/stats releases, after
// disclosure control: a withheld cell is never drawn, and the tables say
// "withheld" where the release does. Each page view is two releases,
// each logged by the hub in the audit trail (stats_release).

// flowView is one corridor of the diagram.
type flowView struct {
	From, To string
	Opened   stats.Cell
	Accepted stats.Cell
	Path     string
	Width    float64
	LabelX   float64
	LabelY   float64
}

// countryDot is one country on the circle.
type countryDot struct {
	Code         string
	X, Y         float64
	LabelX       float64
	LabelY       float64
	Anchor       string
	Opened, Recv int
}

// lineView is one stage's line of the durations chart.
type lineView struct {
	Label  string
	Class  string
	Points string
	Dots   []dot
	Values []string // per quarter, for the table
}

type dot struct{ X, Y float64 }

// axisTick is a label on a chart axis.
type axisTick struct {
	Label string
	X, Y  float64
}

type statsView struct {
	Unavailable bool
	From, To    string
	Threshold   int
	Countries   []countryDot
	Flows       []flowView
	// Corridors is the flow table, every corridor including withheld ones.
	Corridors []flowView
	Quarters  []axisTick
	YTicks    []axisTick
	Lines     []lineView
	Overall   []stageRow
}

type stageRow struct {
	Label       string
	Median, P90 string
}

const (
	chordSize   = 420.0
	chordRadius = 150.0
	chartW      = 640.0
	chartH      = 300.0
	chartLeft   = 56.0
	chartBottom = 40.0
)

func (c *HubConsole) stats(w http.ResponseWriter, r *http.Request, sess *Session) {
	l := negotiateLang(r)
	p := page{Title: l.T("stats.title"), Nav: c.nav(l, sess, "/stats")}
	if c.statsSvc == nil {
		p.Data = &statsView{Unavailable: true}
		c.render(w, r, sess, http.StatusOK, "hub_stats.html", p)
		return
	}
	ctx := r.Context()
	flows, err := c.statsSvc.Release(ctx, actor(sess), stats.Query{Dimensions: []stats.Dimension{stats.ByCorridor},
		Measures: []stats.Measure{stats.Opened, stats.Accepted}}, "console")
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	trend, err := c.statsSvc.Release(ctx, actor(sess), stats.Query{Dimensions: []stats.Dimension{stats.ByQuarter},
		Measures: []stats.Measure{stats.Opened}}, "console")
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	v := &statsView{From: l.Date(flows.Query.From), To: l.Date(flows.Query.To.AddDate(0, 0, -1)), Threshold: flows.MinCellSize}
	v.chord(flows)
	v.durations(l, trend)
	p.Data = v
	c.render(w, r, sess, http.StatusOK, "hub_stats.html", p)
}

// chord lays the countries on a circle and draws one curved arrow per
// corridor whose count was published and is not zero.
func (v *statsView) chord(rel stats.Release) {
	var opened, accepted *stats.Table
	for i := range rel.Tables {
		switch rel.Tables[i].Measure {
		case stats.Opened:
			opened = &rel.Tables[i]
		case stats.Accepted:
			accepted = &rel.Tables[i]
		}
	}
	if opened == nil {
		return
	}
	countries := map[string]bool{}
	for _, k := range opened.Rows.Keys {
		from, to, ok := strings.Cut(k.Code, "-")
		if ok {
			countries[from], countries[to] = true, true
		}
	}
	codes := sortedKeys(countries)
	pos := map[string]int{}
	center := chordSize / 2
	for i, code := range codes {
		angle := 2*math.Pi*float64(i)/float64(len(codes)) - math.Pi/2
		x, y := center+chordRadius*math.Cos(angle), center+chordRadius*math.Sin(angle)
		anchor := "middle"
		switch {
		case math.Cos(angle) > 0.3:
			anchor = "start"
		case math.Cos(angle) < -0.3:
			anchor = "end"
		}
		v.Countries = append(v.Countries, countryDot{Code: strings.ToUpper(code), X: round(x), Y: round(y),
			LabelX: round(center + (chordRadius+18)*math.Cos(angle)), LabelY: round(center + (chordRadius+18)*math.Sin(angle) + 4), Anchor: anchor})
		pos[code] = i
	}
	most := 1
	for _, row := range opened.Cells {
		if !row[0].Suppressed && row[0].Value > most {
			most = row[0].Value
		}
	}
	for i, k := range opened.Rows.Keys {
		from, to, _ := strings.Cut(k.Code, "-")
		f := flowView{From: strings.ToUpper(from), To: strings.ToUpper(to), Opened: opened.Cells[i][0]}
		if accepted != nil && i < len(accepted.Cells) {
			f.Accepted = accepted.Cells[i][0]
		}
		v.Corridors = append(v.Corridors, f)
		if f.Opened.Suppressed || f.Opened.Value == 0 {
			continue
		}
		a, b := v.Countries[pos[from]], v.Countries[pos[to]]
		// The curve bends to the right of its direction, so the two
		// directions of a corridor never overlap.
		mx, my := (a.X+b.X)/2, (a.Y+b.Y)/2
		dx, dy := b.X-a.X, b.Y-a.Y
		cx, cy := mx-dy*0.25+(center-mx)*0.35, my+dx*0.25+(center-my)*0.35
		f.Path = fmt.Sprintf("M%.1f %.1f Q%.1f %.1f %.1f %.1f", a.X, a.Y, cx, cy, b.X, b.Y)
		f.Width = round(1.5 + 10*float64(f.Opened.Value)/float64(most))
		f.LabelX, f.LabelY = round((a.X+2*cx+b.X)/4), round((a.Y+2*cy+b.Y)/4)
		v.Flows = append(v.Flows, f)
	}
}

// durations draws each stage's median over the quarters.
func (v *statsView) durations(l Lang, rel stats.Release) {
	top := 1.0
	for _, s := range rel.Durations {
		for _, q := range s.ByQuarter {
			if q.MedianDays != nil && *q.MedianDays > top {
				top = *q.MedianDays
			}
		}
	}
	top = niceCeil(top)
	plotW, plotH := chartW-chartLeft-48, chartH-chartBottom-16
	var quarters []string
	if len(rel.Durations) > 0 {
		for _, q := range rel.Durations[0].ByQuarter {
			quarters = append(quarters, l.Label(q.Quarter.Label))
		}
	}
	step := plotW
	if len(quarters) > 1 {
		step = plotW / float64(len(quarters)-1)
	}
	xOf := func(i int) float64 { return round(chartLeft + float64(i)*step) }
	yOf := func(days float64) float64 { return round(16 + plotH - plotH*days/top) }
	for i, q := range quarters {
		v.Quarters = append(v.Quarters, axisTick{Label: q, X: xOf(i), Y: chartH - chartBottom + 20})
	}
	prec := 0
	if step := top / 4; step != math.Floor(step) {
		prec = 1
	}
	for i := 0; i <= 4; i++ {
		days := top * float64(i) / 4
		v.YTicks = append(v.YTicks, axisTick{Label: l.Decimal(days, prec), X: chartLeft - 8, Y: yOf(days) + 4})
	}
	for n, s := range rel.Durations {
		line := lineView{Label: l.Label(s.Label), Class: fmt.Sprintf("series-%d", n%5)}
		var pts []string
		for i, q := range s.ByQuarter {
			if q.MedianDays == nil {
				line.Values = append(line.Values, l.T("stats.withheld"))
				continue
			}
			line.Values = append(line.Values, l.Decimal(*q.MedianDays, 1))
			d := dot{xOf(i), yOf(*q.MedianDays)}
			line.Dots = append(line.Dots, d)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", d.X, d.Y))
		}
		line.Points = strings.Join(pts, " ")
		v.Lines = append(v.Lines, line)
		row := stageRow{Label: line.Label, Median: l.T("stats.withheld"), P90: l.T("stats.withheld")}
		if s.Overall.MedianDays != nil {
			row.Median = l.Decimal(*s.Overall.MedianDays, 1)
		}
		if s.Overall.P90Days != nil {
			row.P90 = l.Decimal(*s.Overall.P90Days, 1)
		}
		v.Overall = append(v.Overall, row)
	}
}

// niceCeil rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceCeil(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func round(x float64) float64 { return math.Round(x*10) / 10 }

// cellText is a published count, or "withheld".
func cellText(l Lang, c stats.Cell) string {
	if c.Suppressed {
		return l.T("stats.withheld")
	}
	return l.Count(c.Value)
}
