package agent

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// laneRouter stands for a site's gateway with two uplinks: the agent dials
// one hub URL (agent.json has a single "hub", and its attachment lane uses
// the same base URL and the same connection pool as the messages), so the
// only place to split the traffic is at the HTTP level, per request. The
// router sends /v1/attachments… to one upstream and everything else to the
// other; each upstream is a toxiproxy proxy in front of the hub, with its
// own bandwidth and its own resets.
//
// It is the smallest honest setup: a TCP proxy cannot tell the lanes apart
// (one keep-alive connection may carry a submission, then a chunk), and a
// toxic that throttled "large" bytes would also slow the big inbox pages.
// What the router changes is where a fault lands: a reset on an upstream
// link is seen by the router, which then aborts the agent's connection
// without an answer (http.ErrAbortHandler) — to the agent it is a dropped
// connection mid-exchange, as behind a real modem. Bodies pass through
// untouched (no compression added or removed, streamed without buffering).
type laneRouter struct {
	URL string
}

// startLaneRouter routes attachment requests to attachmentsAddr and the
// rest to messagesAddr (host:port of the two proxies).
func startLaneRouter(t *testing.T, messagesAddr, attachmentsAddr string) *laneRouter {
	t.Helper()
	messages, attachments := reverseProxyTo(messagesAddr), reverseProxyTo(attachmentsAddr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isAttachmentPath(r.URL.Path) {
				attachments.ServeHTTP(w, r)
				return
			}
			messages.ServeHTTP(w, r)
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		for _, p := range []*httputil.ReverseProxy{messages, attachments} {
			p.Transport.(*http.Transport).CloseIdleConnections()
		}
	})
	return &laneRouter{URL: "http://" + ln.Addr().String()}
}

// isAttachmentPath tells the attachment routes (docs/attachments.md) from
// the others.
func isAttachmentPath(p string) bool {
	return p == "/v1/attachments" || strings.HasPrefix(p, "/v1/attachments/")
}

func reverseProxyTo(addr string) *httputil.ReverseProxy {
	target := &url.URL{Scheme: "http", Host: addr}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		// The agent's own Accept-Encoding passes through; the router must
		// not ask for gzip itself and decompress on the agent's behalf.
		Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
		FlushInterval: -1,
		// A broken upstream exchange becomes a broken connection for the
		// agent, not a 502 the real link would never have produced.
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) },
		ErrorLog:     log.New(io.Discard, "", 0),
	}
}
