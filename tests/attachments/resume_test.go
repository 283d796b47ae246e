package attachments

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/relais-hub/relais/adapters/agency"
)

// startProxy runs toxiproxy in the test process, in front of the hub.
func startProxy(t *testing.T, upstream string) *toxiproxy.Proxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	server.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	proxy := toxiproxy.NewProxy(server, "hub", "127.0.0.1:0", upstream)
	if err := proxy.Start(); err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	t.Cleanup(proxy.Stop)
	return proxy
}

func addToxic(t *testing.T, proxy *toxiproxy.Proxy, name, kind, stream, attributes string) {
	t.Helper()
	toxic := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, name, kind, stream, attributes)
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		t.Fatalf("add toxic %s: %v", name, err)
	}
}

// fastRetries keeps the test short: the backoff of a field agent (200 ms
// doubling to 15 s) would only make it slower, not different.
var fastRetries = agency.TransferOptions{Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxStalls: 50}

func TestA20MiBAttachmentCutOffAgainAndAgainResumesAndArrivesVerified(t *testing.T) {
	w := newWorld(t)
	proxy := startProxy(t, w.hub.Addr)
	via := "http://" + proxy.Listen
	// Every connection through the proxy is cut after 300 KB upstream and
	// 2 MB downstream: uploads break inside their second chunk, downloads
	// every 2 MB, so both can only finish by resuming, many times.
	addToxic(t, proxy, "cut-upload", "limit_data", "upstream", `{"bytes":300000}`)
	addToxic(t, proxy, "cut-download", "limit_data", "downstream", `{"bytes":2000000}`)

	const size = 20 << 20
	path, fileDigest := randomFile(t, t.TempDir(), size)
	sender, recipient := w.client(senderID, via), w.client(recipientID, via)
	ref := upload(t, sender, path, fastRetries)

	hubLog, _ := os.ReadFile(w.hub.Log)
	interrupted := strings.Count(string(hubLog), "upload interrupted")
	if interrupted < 20 {
		t.Fatalf("the hub saw %d interrupted chunks: the toxic did not cut the upload as intended", interrupted)
	}
	t.Logf("20 MiB uploaded through %d connection cuts, resumed from the durable offset each time", interrupted)

	_, s, err := sender.Send(context.Background(), referralDraft("CI-ABJ-2026-0201", ref))
	if err != nil {
		t.Fatalf("send the referral: %v", err)
	}
	o := receive(t, recipient, s.ID)
	if len(o.Envelope.Attachments) != 1 || o.Envelope.Attachments[0] != ref {
		t.Fatalf("the received envelope references %+v, want %+v", o.Envelope.Attachments, ref)
	}
	got, err := download(recipient, o.Envelope.Attachments[0], t.TempDir(), fastRetries)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if got != fileDigest {
		t.Fatalf("the downloaded file hashes to %s, the original to %s", got, fileDigest)
	}
	ranges := strings.Count(accessLog(t, w), `"status":206`)
	if ranges < 5 {
		t.Fatalf("only %d ranged (206) answers: the download did not resume as intended", ranges)
	}
	t.Logf("and downloaded through %d resumed ranges, verified", ranges)
}

func accessLog(t *testing.T, w *world) string {
	t.Helper()
	b, err := os.ReadFile(w.hub.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
