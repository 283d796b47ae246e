package hub

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// docs/lifecycle.md has sections generated from the lifecycle table (the
// diagram among them), between "<!-- BEGIN GENERATED name -->" and
// "<!-- END GENERATED name -->". This test fails when one is stale; refresh
// them with
//
//	go test ./hub -run TestLifecycleDoc -update-docs
var updateDocs = flag.Bool("update-docs", false, "rewrite the generated sections of docs/lifecycle.md")

const lifecycleDoc = "../docs/lifecycle.md"

var lifecycleSections = map[string]func() string{
	"diagram":      diagramSection,
	"states":       statesSection,
	"sets":         setsSection,
	"transitions":  transitionsSection,
	"expectations": expectationsSection,
	"deadlines":    deadlinesSection,
}

func TestLifecycleDocIsUpToDate(t *testing.T) {
	doc, err := os.ReadFile(lifecycleDoc)
	if err != nil {
		t.Fatal(err)
	}
	updated := doc
	for name, gen := range lifecycleSections {
		begin := []byte("<!-- BEGIN GENERATED " + name + " -->\n")
		end := []byte("<!-- END GENERATED " + name + " -->")
		i, j := bytes.Index(updated, begin), bytes.Index(updated, end)
		if i < 0 || j < i {
			t.Fatalf("%s: generated section %q is missing", lifecycleDoc, name)
		}
		updated = slices.Concat(updated[:i+len(begin)], []byte(gen()), updated[j:])
	}
	if bytes.Equal(doc, updated) {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(lifecycleDoc, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s is stale: run go test ./hub -run TestLifecycleDoc -update-docs", lifecycleDoc)
}

// mermaidID is a state's node in the diagram.
func mermaidID(s State) string {
	switch {
	case s == StateNone:
		return "[*]"
	case strings.HasPrefix(string(s), "*"):
		return "set_" + strings.TrimPrefix(string(s), "*")
	}
	return string(s)
}

// stepText renders a step for people: "bid.decision = return", "receipt of
// referral.request", "the hub: handed_over".
func stepText(s Step) string {
	if k, ok := strings.CutPrefix(string(s), "receipt:"); ok {
		if k == "*" {
			return "any receipt"
		}
		return "receipt of " + k
	}
	if e, ok := strings.CutPrefix(string(s), "hub:"); ok {
		return "hub records " + strings.ReplaceAll(e, "_", " ")
	}
	return strings.Replace(string(s), "=", " = ", 1)
}

func rowText(t transition) string {
	if t.By == RoleHub {
		return stepText(t.Step)
	}
	text := stepText(t.Step) + " (" + string(t.By)
	if t.Holder != keep {
		text += ", then the " + string(t.Holder) + " holds the case"
	}
	return text + ")"
}

// diagramSection draws every row that changes the state, and the rows of a
// specific state that keep it; the side messages allowed in whole sets of
// states are in the table instead.
func diagramSection() string {
	var b strings.Builder
	b.WriteString("```mermaid\nstateDiagram-v2\n")
	var sets []State
	for _, t := range lifecycle {
		_, isSet := stateSets[t.From]
		if isSet && t.To == same {
			continue
		}
		if isSet && !slices.Contains(sets, t.From) {
			sets = append(sets, t.From)
			fmt.Fprintf(&b, "    state \"%s\" as %s\n", stateSets[t.From].Label.EN, mermaidID(t.From))
		}
		to := t.To
		if to == same {
			to = t.From
		}
		fmt.Fprintf(&b, "    %s --> %s : %s\n", mermaidID(t.From), mermaidID(to), rowText(t))
	}
	b.WriteString("    erased --> [*]\n")
	b.WriteString("    classDef set stroke-dasharray: 5 5\n")
	ids := make([]string, len(sets))
	for i, s := range sets {
		ids[i] = mermaidID(s)
	}
	fmt.Fprintf(&b, "    class %s set\n```\n", strings.Join(ids, ","))
	return b.String()
}

func statesSection() string {
	var b strings.Builder
	b.WriteString("| state | phase | français | English |\n|---|---|---|---|\n")
	for _, s := range States() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.State, s.Phase, s.Label.FR, s.Label.EN)
	}
	return b.String()
}

func setsSection() string {
	var b strings.Builder
	b.WriteString("| set | français | English | states |\n|---|---|---|---|\n")
	names := make([]State, 0, len(stateSets))
	for name := range stateSets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		set := stateSets[name]
		var members []string
		for _, s := range States() {
			if set.Has(s.State) {
				members = append(members, "`"+string(s.State)+"`")
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, set.Label.FR, set.Label.EN, strings.Join(members, ", "))
	}
	return b.String()
}

func transitionsSection() string {
	var b strings.Builder
	b.WriteString("| from | step | taken by | to | case held by afterwards |\n|---|---|---|---|---|\n")
	for _, t := range lifecycle {
		to, holder := "`"+string(t.To)+"`", "unchanged"
		if t.To == same {
			to = "(unchanged)"
		}
		if t.Holder != keep {
			holder = "the " + string(t.Holder)
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", displayState(t.From), t.Step, t.By, to, holder)
	}
	return b.String()
}

func expectationsSection() string {
	var b strings.Builder
	b.WriteString("| state | expected from | message | timer | again after each |\n|---|---|---|---|---|\n")
	for _, e := range expectations {
		fmt.Fprintf(&b, "| `%s` | the %s | `%s` | `%s` | %s |\n", e.State, e.By, strings.Join(e.Kinds, "`, `"), e.Timer, yesNo(e.Repeats))
	}
	return b.String()
}

func deadlinesSection() string {
	var b strings.Builder
	b.WriteString("| timer | reminder after | escalation after the reminder |\n|---|---|---|\n")
	for _, k := range []TimerKind{TimerReceipt, TimerAlert, TimerAnswer, TimerFollowup, TimerErasure} {
		d := defaultDeadlines[k]
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k, days(d.Due), days(d.Escalate))
	}
	return b.String()
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return fmt.Sprintf("%d hours", d/time.Hour)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "—"
}
