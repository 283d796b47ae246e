package e2e

import (
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"relais demo runs the exchange and prints the trail in French", []string{"demo"}, []string{
			"Piste du transfert", "État : accepté · cas détenu par ml.dnpef",
			"message accepté par le hub", "déposé dans la boîte du destinataire", "réception confirmée par le destinataire",
			"transfert accepté", "✔ Démonstration terminée.",
		}},
		{"relais demo --lang en prints it in English", []string{"demo", "--lang", "en"}, []string{
			"Transfer trail", "State: accepted · case held by ml.dnpef",
			"message accepted by the hub", "placed in the recipient's inbox", "receipt confirmed by the recipient",
			"transfer accepted", "✔ Demo complete.",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := relais(t, tc.args...)
			if r.Code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.Stdout)
				}
			}
		})
	}
}
