package policy

import (
	"fmt"
	"strings"
)

// Issue is one mistake in an agreement file, located precisely enough for
// whoever edits the file: file, line, column and field path.
type Issue struct {
	File   string
	Line   int // 0 when the mistake concerns the whole file
	Column int
	// Field is the path of the offending key ("sla.time_to_answer",
	// "parties[2]", "purposes.family_tracing[0]"); empty for the file as a
	// whole.
	Field   string
	Message string
}

func (i Issue) String() string {
	var b strings.Builder
	b.WriteString(i.File)
	if i.Line > 0 {
		fmt.Fprintf(&b, ":%d", i.Line)
		if i.Column > 0 {
			fmt.Fprintf(&b, ":%d", i.Column)
		}
	}
	b.WriteString(": ")
	if i.Field != "" {
		b.WriteString(i.Field)
		b.WriteString(": ")
	}
	b.WriteString(i.Message)
	return b.String()
}

// LoadError lists every mistake found while loading agreements, so that
// one run of `relais policy check` shows them all.
type LoadError struct {
	Issues []Issue
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		lines[i] = is.String()
	}
	noun := "mistakes"
	if len(lines) == 1 {
		noun = "mistake"
	}
	return fmt.Sprintf("policy: %d %s in the agreements:\n  %s", len(lines), noun, strings.Join(lines, "\n  "))
}
