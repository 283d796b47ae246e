package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/relais-hub/relais/contracts"
)

// The helpers below write the French and English reasons of a decision.
// They only ever print codes and labels of the protocol's vocabularies,
// agency ids, corridor ids, kinds and dates: never a body, a case
// reference, a consent reference or a legal reference as written by the
// sender.

func label(fr, en string) contracts.Label { return contracts.Label{FR: fr, EN: en} }

func labelf(fr, en string, args ...contracts.Label) contracts.Label {
	frArgs := make([]any, len(args))
	enArgs := make([]any, len(args))
	for i, a := range args {
		frArgs[i], enArgs[i] = a.FR, a.EN
	}
	return contracts.Label{FR: fmt.Sprintf(fr, frArgs...), EN: fmt.Sprintf(en, enArgs...)}
}

// same is a label that reads the same in both languages (ids, codes, dates).
func same(s string) contracts.Label { return contracts.Label{FR: s, EN: s} }

// terms renders codes of a vocabulary as "Label (code), Label (code)".
func terms(v contracts.Vocabulary, codes []string) contracts.Label {
	if len(codes) == 0 {
		return label("(aucune)", "(none)")
	}
	fr := make([]string, len(codes))
	en := make([]string, len(codes))
	for i, code := range codes {
		l, ok := v.Label(code)
		if !ok {
			l = same(code)
		}
		fr[i] = l.FR + " (" + code + ")"
		en[i] = l.EN + " (" + code + ")"
	}
	return contracts.Label{FR: strings.Join(fr, ", "), EN: strings.Join(en, ", ")}
}

// kindName renders a message kind with its meaning.
func kindName(kind string) contracts.Label {
	if spec, ok := contracts.Kind(kind); ok {
		return labelf("« %s » ("+kind+")", "“%s” ("+kind+")", spec.Label)
	}
	return same(kind)
}

// corridorName renders an agreement as its id and version.
func corridorName(c *Corridor) contracts.Label {
	return same(fmt.Sprintf("%s (version %d)", c.ID, c.Version))
}

func list(items []string) contracts.Label {
	if len(items) == 0 {
		return label("(aucun)", "(none)")
	}
	return same(strings.Join(items, ", "))
}

func day(t time.Time) contracts.Label { return same(t.UTC().Format(time.DateOnly)) }

func instant(t time.Time) contracts.Label {
	return same(t.UTC().Format("2006-01-02 15:04 UTC"))
}
