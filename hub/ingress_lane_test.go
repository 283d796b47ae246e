package hub

import (
	"encoding/base64"
	"fmt"
	"testing"
)

func fakeJWS(kid, id, transfer string) []byte {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"` + kid + `","typ":"relais-envelope+jws"}`))
	payload := []byte(`{"v":1,"id":"` + id + `","kind":"receipt","from":"ml-dnpef","to":"ci-dpe","case":"c","transfer":"` + transfer + `","body":"x"}`)
	return []byte(header + "." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln")
}

func TestLanesKeepASendersTransferTogetherAndSpreadTheRest(t *testing.T) {
	const lanes = 32
	first := laneOf(fakeJWS("k1", "01A", "T-1"), lanes)
	for i := range 20 {
		if got := laneOf(fakeJWS("k1", fmt.Sprintf("01B%d", i), "T-1"), lanes); got != first {
			t.Fatalf("message %d of the same key and transfer went to lane %d, not %d", i, got, first)
		}
	}
	used := map[int]bool{}
	for i := range 200 {
		used[laneOf(fakeJWS("k1", "01C", fmt.Sprintf("T-%d", i)), lanes)] = true
	}
	if len(used) < lanes/2 {
		t.Fatalf("200 transfers of one key used only %d of %d lanes", len(used), lanes)
	}
	if got := peekTransfer([]byte("!!not base64!!")); got != nil {
		t.Fatalf("garbage payload peeked as %q", got)
	}
}
