package csvimport

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/relais-hub/relais/adapters/agency"
)

const referralKind = "referral.request"

// standInSender is the sender a dry run without the agency's keys checks
// envelopes with; the real sender is set when the draft is sealed.
const standInSender = "aq.relais-import-check"

// Options tune a conversion.
type Options struct {
	// From is the sending agency's id, for the envelope check; a stand-in
	// is used when it is empty (a dry run without keys).
	From string
	// Now dates the envelope check; time.Now when nil.
	Now func() time.Time
}

// RowResult is the outcome of one row: a draft ready for
// agency.Client.Send, or the reasons it cannot be sent.
type RowResult struct {
	// Row is the line of the file where the row starts (header = 1).
	Row        int
	Draft      *agency.Draft
	Rejections []Rejection
}

// ColumnAccount says what became of one column of the sheet.
type ColumnAccount struct {
	Name string `json:"column"`
	// Field is the contract field the column feeds; empty when ignored.
	Field string `json:"field,omitempty"`
	// Ignore is the mapping's reason for not importing the column.
	Ignore string `json:"ignore,omitempty"`
}

// Result is the outcome of a whole file.
type Result struct {
	Columns []ColumnAccount
	Rows    []RowResult
}

// Accepted counts the rows that produced a draft.
func (r Result) Accepted() int {
	n := 0
	for _, row := range r.Rows {
		if row.Draft != nil {
			n++
		}
	}
	return n
}

// Rejections lists every rejection of the file, row by row.
func (r Result) Rejections() []Rejection {
	var out []Rejection
	for _, row := range r.Rows {
		out = append(out, row.Rejections...)
	}
	return out
}

// Convert reads a CSV export and converts each row. File-level problems
// (no header, a column the mapping does not account for, or one it expects
// and the file lacks) are errors; row-level problems are rejections.
func (m *Mapping) Convert(r io.Reader, o Options) (Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.From == "" {
		o.From = standInSender
	}
	cr := csv.NewReader(m.decoder(r))
	cr.Comma = m.comma
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return Result{}, fmt.Errorf("csv: reading the header: %w", err)
	}
	colIdx, accounts, err := m.matchHeader(header)
	if err != nil {
		return Result{}, err
	}
	res := Result{Columns: accounts}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			res.Rows = append(res.Rows, RowResult{Row: pe.StartLine, Rejections: []Rejection{{Row: pe.StartLine, Rule: RuleCSVSyntax}}})
			continue
		}
		if err != nil {
			return res, fmt.Errorf("csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		if len(rec) != len(header) {
			res.Rows = append(res.Rows, RowResult{Row: line, Rejections: []Rejection{{Row: line, Rule: RuleFieldCount}}})
			continue
		}
		res.Rows = append(res.Rows, m.row(line, rec, colIdx, o))
	}
	return res, nil
}

// decoder undoes the file's encoding and skips a UTF-8 byte order mark.
func (m *Mapping) decoder(r io.Reader) io.Reader {
	switch strings.ToLower(m.Encoding) {
	case "windows-1252", "cp1252":
		return charmap.Windows1252.NewDecoder().Reader(r)
	}
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	return br
}

// matchHeader checks that the header and the mapping list the same
// columns.
func (m *Mapping) matchHeader(header []string) (map[string]int, []ColumnAccount, error) {
	idx := map[string]int{}
	var problems []string
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if _, dup := idx[h]; dup {
			problems = append(problems, fmt.Sprintf("column %q appears twice in the header", h))
		}
		idx[h] = i
	}
	byName := map[string]Column{}
	for _, c := range m.Columns {
		byName[c.Name] = c
		if _, ok := idx[c.Name]; !ok {
			problems = append(problems, fmt.Sprintf("column %q of the mapping is not in the file", c.Name))
		}
	}
	accounts := make([]ColumnAccount, 0, len(header))
	for _, h := range header {
		c, ok := byName[h]
		if !ok {
			problems = append(problems, fmt.Sprintf("column %q is not accounted for in the mapping (map it to a field, or ignore it with a reason)", h))
			continue
		}
		accounts = append(accounts, ColumnAccount{Name: h, Field: c.Field, Ignore: c.Ignore})
	}
	if len(problems) > 0 {
		return nil, nil, fmt.Errorf("csv: %s", strings.Join(problems, "; "))
	}
	return idx, accounts, nil
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
