package contracts

import (
	"testing"

	"pgregory.net/rapid"
)

// The hand-written compact-form checks accept exactly what the published
// patterns accept.
func TestCompactChecksAgreeWithThePublishedPatterns(t *testing.T) {
	for _, s := range []string{"", ".", "a.b.c", "a.b.c.", ".a.b", "a..c", "a.b.c.d.e", "a.b.c.d.e.f", "A-_9.x.y", "a.b.c\n", "a.b.c=", "é.b.c"} {
		if got, want := isJWSCompact(s), jwsCompactPattern.MatchString(s); got != want {
			t.Errorf("isJWSCompact(%q) = %v, pattern says %v", s, got, want)
		}
		if got, want := isJWECompact(s), jweCompactPattern.MatchString(s); got != want {
			t.Errorf("isJWECompact(%q) = %v, pattern says %v", s, got, want)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringOfN(rapid.SampledFrom([]rune("aZ09-_.=+/ \né")), 0, 24, -1).Draw(t, "s")
		if isJWSCompact(s) != jwsCompactPattern.MatchString(s) || isJWECompact(s) != jweCompactPattern.MatchString(s) {
			t.Fatalf("disagreement on %q", s)
		}
	})
}
