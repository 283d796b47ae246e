package statstest

import (
	"errors"
	"math"
	"slices"
)

// A dense two-phase simplex with Bland's rule: small, slow, and exact
// enough for tables of counts (the polytope of a table with its totals has
// integer vertices, so optima are whole numbers up to rounding).

const eps = 1e-9

// tableau holds m constraint rows and the objective row; each row has one
// entry per column and the right-hand side last.
type tableau struct {
	rows  [][]float64
	obj   []float64
	basis []int
	cols  int
}

func (tb *tableau) clone() *tableau {
	out := &tableau{obj: slices.Clone(tb.obj), basis: slices.Clone(tb.basis), cols: tb.cols}
	for _, r := range tb.rows {
		out.rows = append(out.rows, slices.Clone(r))
	}
	return out
}

func (tb *tableau) pivot(row, col int) {
	p := tb.rows[row][col]
	for j := range tb.rows[row] {
		tb.rows[row][j] /= p
	}
	eliminate := func(target []float64) {
		f := target[col]
		if math.Abs(f) < eps {
			return
		}
		for j := range target {
			target[j] -= f * tb.rows[row][j]
		}
	}
	for i := range tb.rows {
		if i != row {
			eliminate(tb.rows[i])
		}
	}
	eliminate(tb.obj)
	tb.basis[row] = col
}

// setObjective prices the current basis for maximising c·x.
func (tb *tableau) setObjective(c []float64) {
	tb.obj = make([]float64, tb.cols+1)
	for j := 0; j < tb.cols; j++ {
		if j < len(c) {
			tb.obj[j] = -c[j]
		}
	}
	for i, bv := range tb.basis {
		if bv < len(c) && c[bv] != 0 {
			for j := range tb.obj {
				tb.obj[j] += c[bv] * tb.rows[i][j]
			}
		}
	}
}

// run pivots to an optimum over the first usable columns; it reports false
// when the objective is unbounded.
func (tb *tableau) run(usable int) bool {
	for {
		enter := -1
		for j := 0; j < usable; j++ {
			if tb.obj[j] < -eps {
				enter = j
				break
			}
		}
		if enter < 0 {
			return true
		}
		leave := -1
		best := math.Inf(1)
		for i, r := range tb.rows {
			if r[enter] > eps {
				ratio := r[tb.cols] / r[enter]
				if ratio < best-eps || (math.Abs(ratio-best) <= eps && tb.basis[i] < tb.basis[leave]) {
					best, leave = ratio, i
				}
			}
		}
		if leave < 0 {
			return false
		}
		tb.pivot(leave, enter)
	}
}

// phaseOne finds a feasible basis of A·x = b, x ≥ 0, over n variables.
func phaseOne(a [][]float64, b []float64, n int) (*tableau, error) {
	m := len(a)
	tb := &tableau{cols: n + m, basis: make([]int, m)}
	for i := range a {
		row := make([]float64, n+m+1)
		sign := 1.0
		if b[i] < 0 {
			sign = -1
		}
		for j := 0; j < n; j++ {
			row[j] = sign * a[i][j]
		}
		row[n+i] = 1
		row[n+m] = sign * b[i]
		tb.rows = append(tb.rows, row)
		tb.basis[i] = n + i
	}
	c := make([]float64, n+m)
	for i := 0; i < m; i++ {
		c[n+i] = -1
	}
	tb.setObjective(c)
	tb.run(n + m)
	if tb.obj[tb.cols] < -1e-6 {
		return nil, errors.New("the published figures are inconsistent: no table fits them")
	}
	// Drive the artificial variables out of the basis; a row where none
	// can leave is a redundant equation and is dropped.
	var keep []int
	for i := range tb.rows {
		if tb.basis[i] < n {
			keep = append(keep, i)
			continue
		}
		for j := 0; j < n; j++ {
			if math.Abs(tb.rows[i][j]) > eps {
				tb.pivot(i, j)
				keep = append(keep, i)
				break
			}
		}
	}
	out := &tableau{cols: n}
	for _, i := range keep {
		row := append(slices.Clone(tb.rows[i][:n]), tb.rows[i][tb.cols])
		out.rows = append(out.rows, row)
		out.basis = append(out.basis, tb.basis[i])
	}
	return out, nil
}

// maximise returns the largest c·x from this feasible basis, and false
// when c·x is unbounded.
func (tb *tableau) maximise(c []float64) (float64, bool) {
	work := tb.clone()
	work.setObjective(c)
	if !work.run(work.cols) {
		return math.Inf(1), false
	}
	return work.obj[work.cols], true
}
