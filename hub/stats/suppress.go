package stats

import "container/heap"

// Disclosure control.
//
// A table with its totals is a grid of (rows+1) × (cols+1) entries: the
// counts, the row totals in the last column, the column totals in the last
// row and the grand total in the corner. Write every total negated; then
// every line of the grid (each row, each column, the totals' row and
// column included) adds up to zero. Seen as a bipartite graph whose
// vertices are the lines (row lines on one side, column lines on the
// other) and whose edges are the entries, the withheld entries are the
// unknowns, each line is an equation over them, and the tables an attacker
// could fill in differently are exactly those reached by moving along
// cycles of withheld entries, alternately adding and taking away the same
// amount — staying non-negative.
//
// So a withheld entry can be worked out from what is published (by
// subtraction, by any combination of line equations, or because counts are
// never negative) exactly when no such move changes it. A move along a
// cycle is possible when every entry it takes away from is above zero:
// orient each withheld entry's edge in the direction(s) it can move (up
// always; down only when it is positive), and the entry is safe when one of
// its arcs lies on a directed cycle. That is a reachability question,
// checked exactly for every withheld entry (exposed).
//
// Complementary suppression repairs each exposed entry by withholding the
// cheapest set of published entries that closes such a cycle through it (a
// shortest path, protect): small counts first, totals only when no route
// through the counts exists, the grand total last. Every entry on the new
// cycle is then safe, and withholding more never makes a safe entry unsafe
// (it only adds cycles), so one pass over the withheld entries suffices.

// grid is a table with its totals, under disclosure control.
type grid struct {
	rows, cols int // without the totals
	value      [][]int
	// min is each entry's threshold: a count below it is withheld.
	min    [][]int
	hidden [][]bool
}

// newGrid builds the grid of counts with their totals. cellMin gives each
// count's threshold (0 when no transfer is in it); a total's threshold is
// the largest of its counts', and defaultMin stands in for a line without
// any transfer.
func newGrid(counts, cellMin [][]int, defaultMin int) *grid {
	rows, cols := len(counts), len(counts[0])
	g := &grid{rows: rows, cols: cols}
	g.value, g.min, g.hidden = square[int](rows+1, cols+1), square[int](rows+1, cols+1), square[bool](rows+1, cols+1)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			v, m := counts[r][c], cellMin[r][c]
			g.value[r][c], g.min[r][c] = v, m
			g.value[r][cols] += v
			g.value[rows][c] += v
			g.value[rows][cols] += v
			g.min[r][cols] = max(g.min[r][cols], m)
			g.min[rows][c] = max(g.min[rows][c], m)
			g.min[rows][cols] = max(g.min[rows][cols], m)
		}
	}
	for r := 0; r <= rows; r++ {
		for c := 0; c <= cols; c++ {
			if g.min[r][c] <= 0 {
				g.min[r][c] = defaultMin
			}
		}
	}
	return g
}

func square[T any](rows, cols int) [][]T {
	out := make([][]T, rows)
	for i := range out {
		out[i] = make([]T, cols)
	}
	return out
}

// protect withholds every entry below its threshold, then as many more as
// it takes for none of them to be recoverable.
func (g *grid) protect() {
	for r := 0; r <= g.rows; r++ {
		for c := 0; c <= g.cols; c++ {
			if g.value[r][c] < g.min[r][c] {
				g.hidden[r][c] = true
			}
		}
	}
	for r := 0; r <= g.rows; r++ {
		for c := 0; c <= g.cols; c++ {
			if g.hidden[r][c] && g.exposed(r, c) && !g.closeCycle(r, c) {
				g.hideAll()
				return
			}
		}
	}
	// A repair never undoes another (see above); checking again costs
	// little and makes the guarantee independent of that argument.
	for r := 0; r <= g.rows; r++ {
		for c := 0; c <= g.cols; c++ {
			if g.hidden[r][c] && g.exposed(r, c) {
				g.hideAll()
				return
			}
		}
	}
}

// hideAll withholds everything: always safe (every count can then grow
// together), and the fallback should a repair ever fail.
func (g *grid) hideAll() {
	for r := range g.hidden {
		for c := range g.hidden[r] {
			g.hidden[r][c] = true
		}
	}
}

// Vertices of the line graph: row lines 0..rows (rows is the totals' row),
// then column lines rows+1..rows+1+cols.
func (g *grid) rowVertex(r int) int { return r }
func (g *grid) colVertex(c int) int { return g.rows + 1 + c }
func (g *grid) vertices() int       { return g.rows + g.cols + 2 }

// positive reports whether entry (r, c) counts positively in its lines'
// equations: the counts and the grand total do, the row and column totals
// are negated.
func (g *grid) positive(r, c int) bool { return (r == g.rows) == (c == g.cols) }

// arc is one direction an entry can move in, as an arc of the line graph.
type arc struct{ from, to, r, c int }

// arcs lists the directions entry (r, c) can move in: up always, down
// only when above zero. Going from its row line to its column line adds to
// a positive entry and takes from a negated one.
func (g *grid) arcs(r, c int) []arc {
	rv, cv := g.rowVertex(r), g.colVertex(c)
	up, down := arc{rv, cv, r, c}, arc{cv, rv, r, c}
	if !g.positive(r, c) {
		up, down = down, up
	}
	if g.value[r][c] > 0 {
		return []arc{up, down}
	}
	return []arc{up}
}

// exposed reports whether withheld entry (r, c) has a single possible
// value given everything published: no directed cycle of withheld
// entries' arcs runs through one of its own arcs.
func (g *grid) exposed(r, c int) bool {
	for _, a := range g.arcs(r, c) {
		if g.reaches(a.to, a.from, r, c) {
			return false
		}
	}
	return true
}

// reaches reports whether from reaches to along withheld entries' arcs,
// without using entry (skipR, skipC).
func (g *grid) reaches(from, to, skipR, skipC int) bool {
	adj := g.adjacency(func(r, c int) bool { return g.hidden[r][c] && (r != skipR || c != skipC) })
	seen := make([]bool, g.vertices())
	queue := []int{from}
	seen[from] = true
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		if v == to {
			return true
		}
		for _, a := range adj[v] {
			if !seen[a.to] {
				seen[a.to] = true
				queue = append(queue, a.to)
			}
		}
	}
	return false
}

func (g *grid) adjacency(keep func(r, c int) bool) [][]arc {
	adj := make([][]arc, g.vertices())
	for r := 0; r <= g.rows; r++ {
		for c := 0; c <= g.cols; c++ {
			if !keep(r, c) {
				continue
			}
			for _, a := range g.arcs(r, c) {
				adj[a.from] = append(adj[a.from], a)
			}
		}
	}
	return adj
}

// cost ranks what withholding an entry loses: the grand total above any
// number of other totals, a total above any number of counts, and among
// counts the larger ones. Costs add up along a path and compare in that
// order.
type cost struct{ corner, totals, counts int }

func (a cost) plus(b cost) cost {
	return cost{a.corner + b.corner, a.totals + b.totals, a.counts + b.counts}
}

func (a cost) less(b cost) bool {
	if a.corner != b.corner {
		return a.corner < b.corner
	}
	if a.totals != b.totals {
		return a.totals < b.totals
	}
	return a.counts < b.counts
}

func (g *grid) lossOf(r, c int) cost {
	switch {
	case g.hidden[r][c]:
		return cost{}
	case r == g.rows && c == g.cols:
		return cost{corner: 1}
	case r == g.rows || c == g.cols:
		return cost{totals: 1, counts: g.value[r][c] + 1}
	}
	return cost{counts: g.value[r][c] + 1}
}

// closeCycle withholds the cheapest published entries that put withheld
// entry (r, c) on a directed cycle, and reports whether it found any.
func (g *grid) closeCycle(r, c int) bool {
	var best []arc
	var bestCost cost
	for _, a := range g.arcs(r, c) {
		path, pc, ok := g.cheapestPath(a.to, a.from, r, c)
		if ok && (best == nil || pc.less(bestCost)) {
			best, bestCost = path, pc
		}
	}
	if best == nil {
		return false
	}
	for _, a := range best {
		g.hidden[a.r][a.c] = true
	}
	return true
}

// cheapestPath finds the cheapest path from one line to another over every
// entry but (skipR, skipC), withheld or not, by Dijkstra's algorithm.
func (g *grid) cheapestPath(from, to, skipR, skipC int) ([]arc, cost, bool) {
	adj := g.adjacency(func(r, c int) bool { return r != skipR || c != skipC })
	n := g.vertices()
	dist := make([]cost, n)
	reached := make([]bool, n)
	done := make([]bool, n)
	via := make([]arc, n)
	reached[from] = true
	pq := &costQueue{{from, cost{}}}
	for pq.Len() > 0 {
		item := heap.Pop(pq).(queued)
		v := item.vertex
		if done[v] {
			continue
		}
		done[v] = true
		if v == to {
			var path []arc
			for w := to; w != from; w = via[w].from {
				path = append(path, via[w])
			}
			return path, dist[to], true
		}
		for _, a := range adj[v] {
			d := dist[v].plus(g.lossOf(a.r, a.c))
			if !done[a.to] && (!reached[a.to] || d.less(dist[a.to])) {
				reached[a.to], dist[a.to], via[a.to] = true, d, a
				heap.Push(pq, queued{a.to, d})
			}
		}
	}
	return nil, cost{}, false
}

type queued struct {
	vertex int
	cost   cost
}

type costQueue []queued

func (q costQueue) Len() int           { return len(q) }
func (q costQueue) Less(i, j int) bool { return q[i].cost.less(q[j].cost) }
func (q costQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *costQueue) Push(x any)        { *q = append(*q, x.(queued)) }
func (q *costQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}
