package amqp

import (
	"net/url"
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// faultProxy is an in-process TCP proxy between a client and the broker,
// to inject network faults the broker itself cannot produce.
type faultProxy struct {
	proxy *toxiproxy.Proxy
	url   string // the broker URL, through the proxy
}

func startProxy(t testing.TB, brokerURL string) *faultProxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	server.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	proxy := toxiproxy.NewProxy(server, "rabbitmq", "127.0.0.1:0", brokerHostPort(t, brokerURL))
	if err := proxy.Start(); err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	t.Cleanup(proxy.Stop)
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.Listen
	return &faultProxy{proxy: proxy, url: u.String()}
}

// blackholeDownstream drops everything the broker sends, without closing.
func (p *faultProxy) blackholeDownstream(t testing.TB) {
	t.Helper()
	toxic := `{"name":"blackhole","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`
	if _, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		t.Fatalf("add toxic: %v", err)
	}
}

func (p *faultProxy) stop() { p.proxy.Stop() }
