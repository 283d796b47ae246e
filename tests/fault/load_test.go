package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

// sealed is a referral signed and encrypted ahead of the run, so the load
// is the hubs' work, not the agencies'.
type sealed struct {
	ID  string
	JWS []byte
}

// sealReferrals seals n referrals to the recipient, the senders in turn, on
// every core.
func (w *world) sealReferrals(n int) []sealed {
	t := w.t
	out := make([]sealed, n)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := w.senders[i%len(w.senders)]
				env, jws, err := c.Seal(context.Background(), referralDraft(fmt.Sprintf("FAULT-%06d", i)))
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				out[i] = sealed{ID: env.ID, JWS: jws}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("seal: %v", err)
	default:
	}
	return out
}

// referralCategories are the data categories the referrals carry; the
// corridor agreement allows them all for a protection referral.
var referralCategories = []string{"identity", "family", "location", "protection_concerns", "narrative"}

const referralBody = `{
  "child": {"given_names": "Aminata", "family_name": "Traoré", "sex": "f", "birth_date": "2012-05-04", "nationality": "ml"},
  "location": {"country": "ci", "admin_area": "CI-AB", "place": "Centre d'accueil de Treichville", "since": "2026-02-01"},
  "family": [{"relationship": "mother", "given_names": "Fatoumata", "status": "alive"}],
  "protection_concerns": {"codes": ["unaccompanied"]},
  "narrative": "Retrouvée seule à la gare routière d'Adjamé ; souhaite rejoindre sa mère.",
  "urgency": "normal"
}`

func referralDraft(caseRef string) agency.Draft {
	return agency.Draft{
		Kind: "referral.request", To: recipientID, Case: caseRef, Purpose: "protection_referral",
		DataCategories: referralCategories,
		Consent: &contracts.Consent{
			Ref: "CONS-" + caseRef, Basis: "consent", GivenBy: "parent", ChildAssent: true, AgeBand: "12-14",
			Recipients: []string{contracts.AgencyCountry(recipientID)}, Purposes: []string{"protection_referral"},
			DataCategories: referralCategories, ObtainedAt: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second),
		},
		Body: json.RawMessage(referralBody),
	}
}

// load is what a run of submissions did.
type load struct {
	mu       sync.Mutex
	sent     int
	accepted map[string]bool
	// retries counts submissions repeated after a connection error or a
	// 5xx (a hub being killed, restarting or shutting down).
	retries int
	// refused counts final refusals by code: none is expected.
	refused map[string]int
}

func (l *load) acceptedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

// sendOptions shape a run.
type sendOptions struct {
	Workers int
	// Interval, when set, releases one message every Interval (a paced
	// stream); otherwise the workers go as fast as the hubs answer.
	Interval time.Duration
	// URLs are the hubs to spread submissions over; a failed attempt is
	// retried on the next one.
	URLs []string
	// OnAccepted, when set, is called after each new acceptance with the
	// number accepted so far.
	OnAccepted func(accepted int)
}

// maxAttempts bounds the retries of one submission (at 100 ms apart, about
// half a minute: longer than any hub restart).
const maxAttempts = 300

// send submits every message until it is accepted (202) or refused, or
// attempts run out.
func send(ctx context.Context, msgs []sealed, opt sendOptions) *load {
	l := &load{accepted: map[string]bool{}, refused: map[string]int{}}
	client := &http.Client{Timeout: 30 * time.Second}
	queue := make(chan int)
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				l.submit(ctx, client, i, msgs[i], opt)
			}
		}()
	}
	var tick *time.Ticker
	if opt.Interval > 0 {
		tick = time.NewTicker(opt.Interval)
		defer tick.Stop()
	}
feed:
	for i := range msgs {
		if tick != nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case queue <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	client.CloseIdleConnections()
	return l
}

func (l *load) submit(ctx context.Context, client *http.Client, i int, m sealed, opt sendOptions) {
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	for attempt := 0; attempt < maxAttempts && ctx.Err() == nil; attempt++ {
		url := opt.URLs[(i+attempt)%len(opt.URLs)]
		status, code, err := post(ctx, client, url, m.JWS)
		switch {
		case err == nil && status == http.StatusAccepted:
			l.mu.Lock()
			fresh := !l.accepted[m.ID]
			l.accepted[m.ID] = true
			n := len(l.accepted)
			l.mu.Unlock()
			if fresh && opt.OnAccepted != nil {
				opt.OnAccepted(n)
			}
			return
		case err == nil && status < 500:
			l.mu.Lock()
			l.refused[code]++
			l.mu.Unlock()
			return
		}
		// Not answered, or 5xx: the hub may or may not have committed it.
		// Resubmitting the identical bytes is safe: a hub that has it
		// answers 202 with the first receipt.
		l.mu.Lock()
		l.retries++
		l.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// post submits a JWS and returns the status and, for a refusal, its code.
func post(ctx context.Context, client *http.Client, url string, jws []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/messages", bytes.NewReader(jws))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/jose")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	var problem struct {
		Code string `json:"code"`
	}
	if resp.StatusCode >= 300 {
		_ = json.Unmarshal(raw, &problem)
	}
	return resp.StatusCode, problem.Code, nil
}

// tally is the outcome the tests print and judge.
type tally struct {
	Sent, Accepted, Delivered, Duplicates, Lost int
	// UnconfirmedDelivered were never answered 202 (the hub died first)
	// yet were committed and delivered: not a loss, not a duplicate.
	UnconfirmedDelivered int
	Retries              int
}

func (c tally) String() string {
	return fmt.Sprintf("sent=%d accepted=%d delivered=%d duplicates=%d lost=%d (delivered without a 202 seen: %d; retried submissions: %d)",
		c.Sent, c.Accepted, c.Delivered, c.Duplicates, c.Lost, c.UnconfirmedDelivered, c.Retries)
}

// settle waits up to bound for the stored backlog to reach the inbox, then
// compares the inbox with what was accepted, prints the counts and fails
// the test on any duplicate or loss. It returns how long the drain took.
func (w *world) settle(l *load, msgs []sealed, bound time.Duration) (tally, time.Duration) {
	t := w.t
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	var waiting int
	for {
		n, err := w.undelivered(ctx)
		if err == nil && n == 0 {
			break
		}
		waiting = n
		if time.Since(start) > bound {
			t.Errorf("%d stored messages still undelivered %s after the last fault", waiting, bound)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	drained := time.Since(start)

	inbox, err := w.inbox(ctx)
	if err != nil {
		t.Fatalf("read the inbox: %v", err)
	}
	repeated, err := w.repeatedDeliveries(ctx)
	if err != nil {
		t.Fatalf("count deliveries: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := tally{Sent: l.sent, Accepted: len(l.accepted), Retries: l.retries}
	var lost []string
	for _, m := range msgs {
		n := inbox[m.ID]
		switch {
		case n > 0:
			c.Delivered++
			c.Duplicates += n - 1
			if !l.accepted[m.ID] {
				c.UnconfirmedDelivered++
			}
		case l.accepted[m.ID]:
			lost = append(lost, m.ID)
		}
	}
	for _, n := range repeated {
		c.Duplicates += n - 1
	}
	c.Lost = len(lost)
	t.Logf("%s: %s; backlog drained in %s", t.Name(), c, drained.Round(100*time.Millisecond))
	if len(l.refused) > 0 {
		t.Errorf("submissions refused: %v", l.refused)
	}
	if c.Duplicates != 0 {
		t.Errorf("duplicates = %d, want 0 (inbox listings or delivered events beyond one per message: %v)", c.Duplicates, keys(repeated))
	}
	if c.Lost != 0 {
		sort.Strings(lost)
		t.Errorf("lost = %d, want 0: accepted but not in the inbox: %s", c.Lost, strings.Join(lost[:min(len(lost), 10)], ", "))
	}
	if c.Accepted+c.UnconfirmedDelivered < c.Sent {
		t.Errorf("%d messages neither accepted nor delivered: the senders gave up on them", c.Sent-c.Accepted-c.UnconfirmedDelivered)
	}
	return c, drained
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out[:min(len(out), 10)]
}
