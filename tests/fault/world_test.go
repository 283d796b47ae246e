package fault

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// adminToken is the hubs' admin token (RELAIS_ADMIN_TOKEN).
const adminToken = "fault-admin-0123456789abcdef0123456789abcdef"

// hubID is shared by every hub of a world: they are one hub, several
// processes.
const hubID = "relais-fault-hub"

// Agencies of the tests: four senders (each signing key is its own ingress
// lane in the hub, so they proceed in parallel) and one recipient, all
// within the shipped bf-ci-ml corridor agreement.
var (
	senderIDs   = []string{"ci.dpe-abidjan", "ci.dpe-bouake", "bf.dpe-bobo", "bf.dpe-ouaga"}
	recipientID = "ml.dnpef"
)

// world is one test's hubs on a PostgreSQL schema and a RabbitMQ vhost of
// its own, with the agencies registered.
type world struct {
	t         *testing.T
	dir       string
	schema    string
	dsn       string  // PostgreSQL URL with the schema as search path
	db        *sql.DB // the test's own connection, for checks
	vhost     string
	brokerURL string
	hubs      []*hubProc
	senders   []*agency.Client
	recipient *agency.Client
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// newWorld makes a fresh schema and vhost, starts nHubs hubs on them and
// registers the agencies. Everything is removed when the test ends.
func newWorld(t *testing.T, nHubs int) *world {
	t.Helper()
	w := newBareWorld(t)
	for i := range nHubs {
		w.hubs = append(w.hubs, w.newHub(fmt.Sprintf("hub-%c", 'a'+i)))
	}
	w.hubs[0].start(t)
	w.registerAgencies(w.hubs[0].URL())
	for _, h := range w.hubs[1:] {
		// One hub in several processes: the same signing key and case key.
		for _, f := range []string{"hub.jwk", "case.key"} {
			copyFile(t, filepath.Join(w.hubs[0].Data, f), filepath.Join(h.Data, f))
		}
		h.start(t)
	}
	return w
}

// newBareWorld makes the schema and the vhost, without hubs or agencies.
func newBareWorld(t *testing.T) *world {
	t.Helper()
	requireEngines(t)
	ctx := context.Background()
	name := strings.Trim(nonWord.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	name = fmt.Sprintf("fault_%s_%d", name[:min(len(name), 30)], time.Now().UnixNano()%1_000_000_000)
	w := &world{t: t, dir: t.TempDir(), schema: name, vhost: strings.ReplaceAll(name, "_", "-")}

	admin, err := sql.Open("pgx", pgBase)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+w.schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	admin.Close()
	sep := "?"
	if strings.Contains(pgBase, "?") {
		sep = "&"
	}
	w.dsn = pgBase + sep + "search_path=" + w.schema
	if w.db, err = sql.Open("pgx", w.dsn); err != nil {
		t.Fatal(err)
	}
	if err := broker.AddVhost(w.vhost); err != nil {
		t.Fatalf("vhost: %v", err)
	}
	w.brokerURL = broker.URL(w.vhost)
	// Registered first, so it runs last: after every hub stopped.
	t.Cleanup(w.remove)
	return w
}

func (w *world) newHub(name string) *hubProc {
	data := filepath.Join(w.dir, name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		w.t.Fatal(err)
	}
	h := &hubProc{Name: name, Addr: relaistest.FreeAddr(w.t), Data: data, Log: filepath.Join(w.dir, name+".log")}
	h.args = []string{"serve", "--listen", h.Addr, "--data", data, "--store", w.dsn, "--broker", w.brokerURL,
		"--hub-id", hubID, "--instance", name}
	h.env = append(relaistest.CleanEnv(), "RELAIS_ADMIN_TOKEN="+adminToken)
	w.t.Cleanup(func() {
		h.stop()
		h.checkLog(w.t)
	})
	return h
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *world) remove() {
	ctx := context.Background()
	if w.db != nil {
		w.db.Close()
	}
	if admin, err := sql.Open("pgx", pgBase); err == nil {
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+w.schema+` CASCADE`); err != nil {
			w.t.Logf("drop schema %s: %v", w.schema, err)
		}
		admin.Close()
	}
	if err := broker.DeleteVhost(w.vhost); err != nil {
		w.t.Logf("delete vhost %s: %v", w.vhost, err)
	}
}

// registerAgencies makes each agency's keys and registers it through the
// admin API of the hub at hubURL.
func (w *world) registerAgencies(hubURL string) {
	t := w.t
	for _, id := range append(append([]string(nil), senderIDs...), recipientID) {
		keys, err := agency.Init(id, filepath.Join(w.dir, "agencies", id))
		if err != nil {
			t.Fatal(err)
		}
		jwks, err := keys.PublicJWKS()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"id": id, "country": id[:2], "name": "Service " + id, "jwks": json.RawMessage(jwks)})
		status, raw := adminCall(t, http.MethodPost, hubURL+"/v1/agencies", body)
		if status != http.StatusCreated {
			t.Fatalf("register %s: %d %s", id, status, raw)
		}
		c := agency.New(hubURL, keys)
		if id == recipientID {
			w.recipient = c
		} else {
			w.senders = append(w.senders, c)
		}
	}
}

// adminCall makes an admin-token request and returns the status and body.
func adminCall(t *testing.T, method, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// URLs are the hubs' base URLs, in order.
func (w *world) URLs() []string {
	out := make([]string, len(w.hubs))
	for i, h := range w.hubs {
		out[i] = h.URL()
	}
	return out
}

// undelivered counts stored messages not yet in their recipient's inbox.
func (w *world) undelivered(ctx context.Context) (int, error) {
	var n int
	err := w.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE delivered_at = 0`).Scan(&n)
	return n, err
}

// deliveredEvents counts the delivered trail events of each message that
// has more than one: every one of them is a business effect twice.
func (w *world) repeatedDeliveries(ctx context.Context) (map[string]int, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT message_id, count(*) FROM events WHERE type = 'delivered' GROUP BY message_id HAVING count(*) > 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// inbox reads the recipient's whole inbox through the API, counting each
// id it lists.
func (w *world) inbox(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	cursor := ""
	for pages := 0; pages < 10000; pages++ {
		items, next, err := w.recipient.Inbox(ctx, cursor, 0)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			counts[it.ID]++
		}
		if len(items) == 0 || next == cursor {
			return counts, nil
		}
		cursor = next
	}
	return nil, fmt.Errorf("the inbox does not end")
}
