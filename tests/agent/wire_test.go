package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// referralWireBound is the most a typical referral may cost on the wire,
// sender's side: request line, headers, signed and encrypted body, and the
// hub's answer.
const referralWireBound = 6 << 10

// tap records what crosses the agent's connections, both ways.
type tap struct {
	mu          sync.Mutex
	out, in     bytes.Buffer
	outN, inN   int
	keepCapture bool
}

func (t *tap) reset(capture bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.out.Reset()
	t.in.Reset()
	t.outN, t.inN, t.keepCapture = 0, 0, capture
}

func (t *tap) record(buf *bytes.Buffer, n *int, p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	*n += len(p)
	if t.keepCapture {
		buf.Write(p)
	}
}

func (t *tap) counts() (out, in int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.outN, t.inN
}

func (t *tap) captured() (out, in []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.out.Bytes()), bytes.Clone(t.in.Bytes())
}

type tappedConn struct {
	net.Conn
	tap *tap
}

func (c tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tap.record(&c.tap.in, &c.tap.inN, p[:n])
	return n, err
}

func (c tappedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.tap.record(&c.tap.out, &c.tap.outN, p[:n])
	return n, err
}

// wireSite is an agent in the test process whose connections are tapped.
type wireSite struct {
	*agent.Agent
	tap *tap
}

// wireWorld is an in-process hub behind its HTTP API on a real loopback
// socket, with a sender and a recipient agent; gzip selects whether the
// agents compress requests and accept compressed answers.
func newWireWorld(tb testing.TB, gzip bool) (sender, recipient *wireSite) {
	tb.Helper()
	w := relaistest.NewWorld(tb, relaistest.WorldOptions{HubID: "relais-hub", AdminToken: "wire-admin-token-0123456789abcdef"})
	open := func(id string) *wireSite {
		dir := filepath.Join(w.Dir, "sites", id)
		cfg, err := agent.Init(context.Background(), dir, agent.InitOptions{Agency: id, Hub: w.URL()})
		if err != nil {
			tb.Fatal(err)
		}
		jwks, err := os.ReadFile(filepath.Join(cfg.KeysDir(dir), "public.jwks"))
		if err != nil {
			tb.Fatal(err)
		}
		relaistest.RegisterJWKS(tb, w.URL(), w.AdminToken, id, id, jwks)
		t := &tap{}
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		transport := &http.Transport{
			DisableCompression: !gzip,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return tappedConn{Conn: c, tap: t}, nil
			},
		}
		a, err := agent.Open(context.Background(), dir, agent.Options{HTTPClient: &http.Client{Transport: transport}, DisableGzip: !gzip, InboxPage: 1})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = a.Close() })
		return &wireSite{Agent: a, tap: t}
	}
	sender, recipient = open(senderID), open(recipientID)
	// The first exchange fetches the directory (and learns whether the hub
	// takes gzip); it is not part of a referral's cost.
	for _, s := range []*wireSite{sender, recipient} {
		if err := s.SyncOnce(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return sender, recipient
}

// exchange is one HTTP exchange split into its parts.
type exchange struct {
	RequestHead, RequestBody, ResponseHead, ResponseBody int
}

func (e exchange) total() int { return e.RequestHead + e.RequestBody + e.ResponseHead + e.ResponseBody }

func split(raw []byte) (head, body int) {
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	if i < 0 {
		return len(raw), 0
	}
	return i + 4, len(raw) - i - 4
}

// referralCost is what one referral costs, measured.
type referralCost struct {
	PlainBody, JWE, Envelope, JWS int
	Submit                        exchange
	// InboxRead is the inbox answer carrying the referral, less an empty
	// one; Receipt is the recipient's receipt submission.
	InboxRead, Receipt int
}

// measureReferral composes a typical referral at the sender, submits it,
// lets the recipient pull it and send its receipt, and counts the bytes.
func measureReferral(tb testing.TB, sender, recipient *wireSite, caseRef string) referralCost {
	tb.Helper()
	ctx := context.Background()
	var c referralCost
	d := referralDraft("", caseRef)
	var compact bytes.Buffer
	if err := json.Compact(&compact, d.Body); err != nil {
		tb.Fatal(err)
	}
	c.PlainBody = compact.Len()
	q, err := sender.Compose(ctx, d)
	if err != nil {
		tb.Fatal(err)
	}
	c.JWS = q.JWSBytes

	sender.tap.reset(true)
	if res, err := sender.Push(ctx); err != nil || res.Sent != 1 {
		tb.Fatalf("push: %+v %v", res, err)
	}
	out, in := sender.tap.captured()
	c.Submit.RequestHead, c.Submit.RequestBody = split(out)
	c.Submit.ResponseHead, c.Submit.ResponseBody = split(in)
	if env, jwe, err := envelopeOf(out[c.Submit.RequestHead:], c.Submit.RequestBody == c.JWS); err == nil {
		c.Envelope, c.JWE = env, jwe
	}

	// The hub delivers behind its answer: read until the referral is there.
	deadline := time.Now().Add(10 * time.Second)
	for {
		recipient.tap.reset(false)
		res, err := recipient.Pull(ctx, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if res.Stored == 1 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the referral did not reach the recipient's inbox")
		}
		time.Sleep(5 * time.Millisecond)
	}
	pulledOut, pulledIn := recipient.tap.counts()
	recipient.tap.reset(false)
	if _, err := recipient.Pull(ctx, 0); err != nil {
		tb.Fatal(err)
	}
	emptyOut, emptyIn := recipient.tap.counts()
	// Pull read the page with the referral and then an empty page.
	c.InboxRead = pulledOut + pulledIn - emptyOut - emptyIn
	recipient.tap.reset(false)
	if res, err := recipient.Push(ctx); err != nil || res.Sent != 1 {
		tb.Fatalf("receipt: %+v %v", res, err)
	}
	rOut, rIn := recipient.tap.counts()
	c.Receipt = rOut + rIn
	// The sender takes the receipt in, so the next measure starts clean.
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, err := sender.Pull(ctx, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if res.Stored == 1 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the receipt did not reach the sender")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// envelopeOf reads the envelope and JWE sizes from a submitted JWS, when
// the body went uncompressed.
func envelopeOf(body []byte, plain bool) (envelope, jwe int, err error) {
	if !plain {
		return 0, 0, fmt.Errorf("compressed")
	}
	parts := strings.Split(string(body), ".")
	if len(parts) != 3 {
		return 0, 0, fmt.Errorf("not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, 0, err
	}
	var env struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return 0, 0, err
	}
	return len(payload), len(env.Body), nil
}

func printCosts(w io.Writer, plain, gz referralCost) {
	row := func(label string, p, g int) { fmt.Fprintf(w, "  %-46s %7d %7d\n", label, p, g) }
	fmt.Fprintf(w, "bytes on the wire per referral (HTTP/1.1 on loopback; TLS adds ~30 B per record)\n")
	fmt.Fprintf(w, "  %-46s %7s %7s\n", "", "plain", "gzip")
	row("sender: request line and headers", plain.Submit.RequestHead, gz.Submit.RequestHead)
	row("sender: request body (the JWS)", plain.Submit.RequestBody, gz.Submit.RequestBody)
	row("sender: response status line and headers", plain.Submit.ResponseHead, gz.Submit.ResponseHead)
	row("sender: response body (hub's signed receipt)", plain.Submit.ResponseBody, gz.Submit.ResponseBody)
	row(fmt.Sprintf("sender: total (bound %d)", referralWireBound), plain.Submit.total(), gz.Submit.total())
	row("recipient: inbox read carrying it", plain.InboxRead, gz.InboxRead)
	row("recipient: its receipt, submitted", plain.Receipt, gz.Receipt)
	fmt.Fprintf(w, "  JOSE overhead: body %d B in clear → JWE %d B → envelope %d B → JWS %d B (+%d B, ×%.2f)\n",
		plain.PlainBody, plain.JWE, plain.Envelope, plain.JWS, plain.JWS-plain.PlainBody, float64(plain.JWS)/float64(plain.PlainBody))
}

func TestATypicalReferralCostsLessThan6KiBOnTheWire(t *testing.T) {
	costs := map[bool]referralCost{}
	for _, gzip := range []bool{false, true} {
		sender, recipient := newWireWorld(t, gzip)
		costs[gzip] = measureReferral(t, sender, recipient, "CI-ABJ-2026-7001")
	}
	var table strings.Builder
	printCosts(&table, costs[false], costs[true])
	t.Logf("\n%s", table.String())
	plain, gz := costs[false], costs[true]
	if total := gz.Submit.total(); total >= referralWireBound {
		t.Errorf("a typical referral costs %d bytes on the wire with gzip, want under %d", total, referralWireBound)
	}
	if gz.Submit.RequestBody >= plain.Submit.RequestBody || gz.InboxRead >= plain.InboxRead {
		t.Errorf("gzip saves nothing: request body %d → %d, inbox read %d → %d",
			plain.Submit.RequestBody, gz.Submit.RequestBody, plain.InboxRead, gz.InboxRead)
	}
	if plain.Submit.RequestBody != plain.JWS || plain.JWE == 0 {
		t.Errorf("the plain request body is %d bytes, the JWS %d (JWE %d)", plain.Submit.RequestBody, plain.JWS, plain.JWE)
	}
}

// BenchmarkBytesOnTheWirePerReferral prints what one typical referral
// costs on the wire, plain and gzipped: run with
//
//	go test ./tests/agent -run '^$' -bench BytesOnTheWire
func BenchmarkBytesOnTheWirePerReferral(b *testing.B) {
	costs := map[bool]referralCost{}
	for _, gzip := range []bool{false, true} {
		name := "plain"
		if gzip {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			sender, recipient := newWireWorld(b, gzip)
			var last referralCost
			var total, inbox int
			i := 0
			for b.Loop() {
				last = measureReferral(b, sender, recipient, fmt.Sprintf("CI-ABJ-2026-%04d", i%10000))
				total += last.Submit.total()
				inbox += last.InboxRead
				i++
			}
			b.ReportMetric(float64(total)/float64(i), "sent-B/referral")
			b.ReportMetric(float64(inbox)/float64(i), "inbox-B/referral")
			costs[gzip] = last
		})
	}
	if len(costs) == 2 {
		printCosts(os.Stdout, costs[false], costs[true])
	}
}
