package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// modemKBps is a 56 kbit/s link in toxiproxy's unit (1000 bytes a second).
const modemKBps = 7

// referralCount is how many referrals cross the slow link.
func referralCount(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("RELAIS_AGENT_REFERRALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("RELAIS_AGENT_REFERRALS=%q", v)
		}
		return n
	}
	if testing.Short() {
		return 40
	}
	return 200
}

// startModem runs toxiproxy in the test process in front of the hub: one
// proxy per site, so each site has a link of its own.
func startModem(t *testing.T, server *toxiproxy.ApiServer, name, upstream string) *toxiproxy.Proxy {
	t.Helper()
	proxy := toxiproxy.NewProxy(server, name, "127.0.0.1:0", upstream)
	if err := proxy.Start(); err != nil {
		t.Fatalf("start proxy %s: %v", name, err)
	}
	t.Cleanup(proxy.Stop)
	return proxy
}

func addToxic(proxy *toxiproxy.Proxy, name, kind, stream, attributes string) error {
	toxic := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, name, kind, stream, attributes)
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		return fmt.Errorf("add toxic %s: %w", name, err)
	}
	return nil
}

func TestOverA56kbitLinkThatDropsConnectionsEveryReferralArrivesOnce(t *testing.T) {
	// Toxiproxy's toxics log every interruption through zerolog's global
	// logger: keep the test's output for the test.
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	rng := seed(t)
	count := referralCount(t)
	n := newNetwork(t)
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	server.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	ciLink := startModem(t, server, "ci-modem", n.Hub.Addr)
	mlLink := startModem(t, server, "ml-modem", n.Hub.Addr)
	// A long-poll of 10 s costs less idle traffic than the 2 s of the other
	// tests, as a site would run it.
	ci := n.newSite(t, senderID, "http://"+ciLink.Listen, "--wait", "10s")
	ml := n.newSite(t, recipientID, "http://"+mlLink.Listen, "--wait", "10s")
	links := []*toxiproxy.Proxy{ciLink, mlLink}
	for _, l := range links {
		for _, stream := range []string{"upstream", "downstream"} {
			if err := addToxic(l, "modem-"+stream, "bandwidth", stream, fmt.Sprintf(`{"rate":%d}`, modemKBps)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ci.mustStart(t)
	ml.mustStart(t)
	relaistest.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		if ci.status(t).LastSync.IsZero() || ml.status(t).LastSync.IsZero() {
			return fmt.Errorf("the agents have not reached the hub through the modem yet")
		}
		return nil
	})

	// Every referral is composed offline at once, as after a day of
	// entering records without a connection.
	file, ids := referralDrafts(t, n.Root, "backlog", count)
	relaistest.MustRun(t, relaisBin, "agent", "compose", "--dir", ci.Dir, "--file", file)
	start := time.Now()

	// Meanwhile the link drops: every few seconds, one direction of one
	// modem resets every connection that carries data for a moment; now
	// and then an agent is SIGKILLed and restarted.
	var (
		bg            errs
		resets, kills atomic.Int64
		stopChaos     = make(chan struct{})
		chaos         sync.WaitGroup
		chaosRand     = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		sites         = []*site{ci, ml}
		nextKill      = time.Now().Add(20 * time.Second)
		ctx           = context.Background()
	)
	chaos.Add(1)
	go func() {
		defer chaos.Done()
		for {
			select {
			case <-stopChaos:
				return
			case <-time.After(time.Duration(3000+chaosRand.IntN(5000)) * time.Millisecond):
			}
			link := links[chaosRand.IntN(len(links))]
			stream := []string{"upstream", "downstream"}[chaosRand.IntN(2)]
			if err := addToxic(link, "drop", "reset_peer", stream, `{"timeout":0}`); err != nil {
				bg.add(err)
				return
			}
			time.Sleep(time.Duration(100+chaosRand.IntN(400)) * time.Millisecond)
			bg.add(link.Toxics.RemoveToxic(ctx, "drop"))
			resets.Add(1)
			if time.Now().After(nextKill) {
				s := sites[chaosRand.IntN(len(sites))]
				s.kill()
				kills.Add(1)
				bg.add(s.start())
				nextKill = time.Now().Add(time.Duration(20+chaosRand.IntN(20)) * time.Second)
			}
		}
	}()
	waitSettled := func() {
		defer func() {
			close(stopChaos)
			chaos.Wait()
		}()
		settled(t, ci, ml, ids, 12*time.Minute)
	}
	waitSettled()
	bg.check(t)
	elapsed := time.Since(start)
	t.Logf("%d referrals over two 56 kbit/s links in %s (%.1f s each), through %d connection drops and %d agent kills",
		count, elapsed.Round(time.Second), elapsed.Seconds()/float64(count), resets.Load(), kills.Load())
	if resets.Load() == 0 {
		t.Errorf("no connection was dropped: the resets were not exercised")
	}
	// The trails are read straight from the hub, not through the modem.
	assertExactlyOnce(t, n.Hub.URL(), ci, ml, ids)
}
