package security

// HTTP hardening: slow clients are cut off, rates are limited per caller
// and per address with a 429 that says when to come back, and a panic in a
// handler costs one request, answered without a stack trace or anything of
// the request in the answer or the log.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/relais-hub/relais/adapters/httpapi"
	"github.com/relais-hub/relais/adapters/sqlstore"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/contracts/seal"
	"github.com/relais-hub/relais/hub"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// newServer serves h with the hub's http.Server settings on a loopback
// port and returns its base URL; it is shut down when the test ends.
func newServer(t *testing.T, h http.Handler, timeouts httpapi.ServerTimeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewHTTPServer(h, timeouts)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

func TestSlowClientsAreCutOffAndOthersAreStillServed(t *testing.T) {
	w := newWorld(t)
	const headerTimeout = 500 * time.Millisecond
	base := newServer(t, httpapi.New(httpapi.Config{Hub: w.hw.Hub, AdminToken: secAdminToken}), httpapi.ServerTimeouts{ReadHeader: headerTimeout})
	addr := strings.TrimPrefix(base, "http://")

	// Twenty slowloris clients dribble a header line every 100 ms, which
	// would keep them connected for ever without a header deadline.
	const slow = 20
	results := make(chan error, slow)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for i := 0; i < slow; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- dribble(ctx, addr)
		}()
	}
	started := time.Now()

	// Meanwhile an honest client is served at once.
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("an honest client was not served while slow clients held connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("slow clients were still connected 10 s after the header deadline")
	}
	elapsed := time.Since(started)
	close(results)
	for err := range results {
		if !errors.Is(err, errCutOff) {
			t.Fatalf("a slow client ended with %v, want to be cut off by the server", err)
		}
	}
	if elapsed < headerTimeout {
		t.Fatalf("slow clients were cut off after %v, before the %v deadline: the test would not tell a deadline from a refusal", elapsed, headerTimeout)
	}
}

var errCutOff = errors.New("the server closed the connection")

// dribble opens a connection and sends a request's headers one short line
// every 100 ms, never finishing them. It returns errCutOff when the server
// closes the connection (answering or not), or ctx's error.
func dribble(ctx context.Context, addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		// Whatever the server sends (nothing, or a 408), it ends with the
		// connection closed.
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	if _, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n", addr); err != nil {
		return errCutOff
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return errCutOff
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if _, err := fmt.Fprintf(conn, "X-Slow-%d: a\r\n", i); err != nil {
				<-closed
				return errCutOff
			}
		}
	}
}

func TestTheServerDefaultsBoundEveryPhaseOfAConnection(t *testing.T) {
	srv := httpapi.NewHTTPServer(http.NotFoundHandler(), httpapi.ServerTimeouts{})
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s is unbounded", name)
		}
	}
	// An inbox long-poll waits up to 60 s; the write deadline must let it
	// answer.
	if srv.WriteTimeout <= 60*time.Second {
		t.Errorf("WriteTimeout %v cuts off the 60 s inbox long-poll", srv.WriteTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes %d", srv.MaxHeaderBytes)
	}
}

// limited is a world whose API has small buckets: 3 requests at once, then
// one every 2 s, per caller and per address.
func limited(t *testing.T) *world {
	return newWorldWith(t, worldOptions{limits: httpapi.Limits{Rate: httpapi.RateLimits{
		CallerRate: rate.Every(2 * time.Second), CallerBurst: 3,
		IPRate: rate.Every(2 * time.Second), IPBurst: 3,
	}}})
}

// wantRateLimited checks a 429: problem+json, its title in the language
// asked for, and a Retry-After in whole seconds.
func wantRateLimited(t *testing.T, r response, lang string) int {
	t.Helper()
	wantProblem(t, r, contracts.CodeRateLimited)
	if title, _ := r.Doc["title"].(string); title != contracts.CodeRateLimited.Title(lang) {
		t.Errorf("title %q, want the %s title %q", title, lang, contracts.CodeRateLimited.Title(lang))
	}
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 3 {
		t.Fatalf("Retry-After %q, want 1 to 3 seconds", r.Header.Get("Retry-After"))
	}
	return secs
}

// inbox reads p's inbox with a fresh token.
func (w *world) inbox(t *testing.T, p *party, lang string) response {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + p.token(t)}
	if lang != "" {
		h["Accept-Language"] = lang
	}
	return w.do(t, http.MethodGet, "/v1/inbox", nil, h)
}

func TestRateLimitsPerCallerAndPerAddress(t *testing.T) {
	t.Run("an agency over its rate gets 429 with Retry-After, then is served again", func(t *testing.T) {
		w := limited(t)
		for i := 0; i < 3; i++ {
			if r := w.inbox(t, w.ml, ""); r.Status != http.StatusOK {
				t.Fatalf("request %d within the burst: %d %s", i, r.Status, r.Body)
			}
		}
		wait := wantRateLimited(t, w.inbox(t, w.ml, "en"), "en")
		wantRateLimited(t, w.inbox(t, w.ml, ""), "fr")
		// Another agency has its own bucket.
		if r := w.inbox(t, w.ci, ""); r.Status != http.StatusOK {
			t.Fatalf("another agency was limited too: %d %s", r.Status, r.Body)
		}
		relaistest.Eventually(t, time.Duration(wait+3)*time.Second, 100*time.Millisecond, func() error {
			if r := w.inbox(t, w.ml, ""); r.Status != http.StatusOK {
				return fmt.Errorf("still %d", r.Status)
			}
			return nil
		})
	})

	t.Run("submissions count against the sending agency", func(t *testing.T) {
		w := limited(t)
		for i := 0; i < 3; i++ {
			_, jws := w.ci.seal(t, childReferral(w.ml.ID))
			w.accepted(t, jws)
		}
		_, jws := w.ci.seal(t, childReferral(w.ml.ID))
		wantRateLimited(t, w.submit(t, jws), "fr")
		if r := w.inbox(t, w.ml, ""); r.Status != http.StatusOK {
			t.Fatalf("the recipient was limited by the sender's submissions: %d", r.Status)
		}
	})

	t.Run("forged claims drain the address, not the agency they name", func(t *testing.T) {
		w := limited(t)
		if r := w.inbox(t, w.ml, ""); r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		// Tokens claiming to be ml, signed by bf's key: refused, charged
		// to the address they came from.
		for i := 0; i < 3; i++ {
			tok, err := seal.IssueToken(w.bf.Keys.Signing, w.ml.ID, secHubID, time.Minute, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, w.get(t, "/v1/inbox", tok), contracts.CodeTokenInvalid)
		}
		forged, _ := seal.IssueToken(w.bf.Keys.Signing, w.ml.ID, secHubID, time.Minute, time.Now())
		wantRateLimited(t, w.get(t, "/v1/inbox", forged), "fr")
		// Once the address has a token again, ml still has the two
		// requests left of its own burst.
		relaistest.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
			if r := w.inbox(t, w.ml, ""); r.Status != http.StatusOK {
				return fmt.Errorf("first: %d", r.Status)
			}
			return nil
		})
		if r := w.inbox(t, w.ml, ""); r.Status != http.StatusOK {
			t.Fatalf("ml lost requests to the forged claims: %d %s", r.Status, r.Body)
		}
	})

	t.Run("requests that name no caller are limited per address; probes and the admin are not", func(t *testing.T) {
		w := limited(t)
		for i := 0; i < 3; i++ {
			if r := w.get(t, "/v1/directory", ""); r.Status != http.StatusOK {
				t.Fatalf("directory %d: %d", i, r.Status)
			}
		}
		wantRateLimited(t, w.get(t, "/v1/directory", ""), "fr")
		for i := 0; i < 10; i++ {
			if r := w.get(t, "/healthz", ""); r.Status != http.StatusOK {
				t.Fatalf("health probe %d limited: %d", i, r.Status)
			}
		}
		for i := 0; i < 5; i++ {
			if r := w.get(t, "/v1/audit/key", secAdminToken); r.Status != http.StatusOK {
				t.Fatalf("admin request %d limited: %d %s", i, r.Status, r.Body)
			}
		}
	})
}

// panickyStore panics, as a bug would, while reading a transfer; the panic
// value carries personal data, as a variable in a bug's way might.
type panickyStore struct{ *sqlstore.Store }

func (panickyStore) Transfer(context.Context, string) (hub.Transfer, error) {
	panic("unexpected state for Kadiatou Coulibaly, case CI-ABJ-2026-0117")
}

func TestAPanicIsAnsweredWithoutDetailAndLoggedWithoutContent(t *testing.T) {
	w := newWorldWith(t, worldOptions{configure: func(c *hub.Config) {
		c.Store = panickyStore{Store: c.Store.(*sqlstore.Store)}
	}})
	env, jws := w.ci.seal(t, childReferral(w.ml.ID))
	w.accepted(t, jws)
	const requestID = "panic-probe-0001"
	r := w.do(t, http.MethodGet, "/v1/transfers/"+env.Transfer+"/trail", nil,
		map[string]string{"Authorization": "Bearer " + w.ci.token(t), "X-Request-Id": requestID})
	wantProblem(t, r, contracts.CodeInternal)
	if d, ok := r.Doc["detail"]; ok {
		t.Errorf("the 500 carries a detail: %v", d)
	}
	for _, bad := range []string{"panic", "goroutine", ".go:", "runtime/"} {
		if strings.Contains(string(r.Body), bad) {
			t.Errorf("the answer holds %q: %s", bad, r.Body)
		}
	}
	w.assertNoLeak(t, nil, r.Body)
	logs := w.logs.String()
	var line string
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "handler panicked") {
			line = sc.Text()
		}
	}
	if line == "" {
		t.Fatalf("the panic was not logged:\n%s", logs)
	}
	if !strings.Contains(line, `"request_id":"`+requestID+`"`) {
		t.Errorf("the panic log line does not carry the request id: %s", line)
	}
	for _, bad := range []string{"goroutine", ".go:", "unexpected state"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log holds %q", bad)
		}
	}
	// One request was lost, not the server.
	if r := w.inbox(t, w.ml, ""); r.Status != http.StatusOK {
		t.Fatalf("after the panic: %d %s", r.Status, r.Body)
	}
}
