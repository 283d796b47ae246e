package amqp

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

const definitionsPath = "../../deploy/rabbitmq/definitions.json"

// definitions is the part of a RabbitMQ definitions export the hub cares for.
type definitions struct {
	Users []struct {
		Name string `json:"name"`
	} `json:"users"`
	Vhosts []struct {
		Name string `json:"name"`
	} `json:"vhosts"`
	Permissions []struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	} `json:"permissions"`
	Exchanges []struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Type       string         `json:"type"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Internal   bool           `json:"internal"`
		Arguments  map[string]any `json:"arguments"`
	} `json:"exchanges"`
	Queues []struct {
		Name       string         `json:"name"`
		Vhost      string         `json:"vhost"`
		Durable    bool           `json:"durable"`
		AutoDelete bool           `json:"auto_delete"`
		Arguments  map[string]any `json:"arguments"`
	} `json:"queues"`
	Bindings []struct {
		Source          string         `json:"source"`
		Vhost           string         `json:"vhost"`
		Destination     string         `json:"destination"`
		DestinationType string         `json:"destination_type"`
		RoutingKey      string         `json:"routing_key"`
		Arguments       map[string]any `json:"arguments"`
	} `json:"bindings"`
}

func readDefinitions(t *testing.T) definitions {
	t.Helper()
	raw, err := os.ReadFile(definitionsPath)
	if err != nil {
		t.Fatal(err)
	}
	var defs definitions
	if err := json.Unmarshal(raw, &defs); err != nil {
		t.Fatalf("parse %s: %v", definitionsPath, err)
	}
	return defs
}

// canonical renders a topology as sorted lines, arguments included, so two
// descriptions compare as text and a difference reads as a diff.
func canonical(exchanges, queues, bindings []string) string {
	for _, s := range [][]string{exchanges, queues, bindings} {
		sort.Strings(s)
	}
	return strings.Join(append(append(exchanges, queues...), bindings...), "\n")
}

func canonicalArgs(args map[string]any) string {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := args[k]
		switch n := v.(type) {
		case float64: // JSON numbers
			if n == math.Trunc(n) {
				v = int64(n)
			}
		case int:
			v = int64(n)
		case int32:
			v = int64(n)
		}
		fmt.Fprintf(&b, " %s=%v", k, v)
	}
	return b.String()
}

func TestDefinitionsJSONHoldsExactlyTheTopologyTheHubDeclares(t *testing.T) {
	cfg, err := Config{URL: "amqp://relais@rabbitmq.example/relais"}.prepared()
	if err != nil {
		t.Fatal(err)
	}
	declared := cfg.Topology()
	var wantEx, wantQ, wantB []string
	for _, e := range declared.Exchanges {
		wantEx = append(wantEx, fmt.Sprintf("exchange %s %s durable", e.Name, e.Type))
	}
	for _, q := range declared.Queues {
		wantQ = append(wantQ, fmt.Sprintf("queue %s durable%s", q.Name, canonicalArgs(map[string]any(q.Arguments))))
	}
	for _, b := range declared.Bindings {
		wantB = append(wantB, fmt.Sprintf("binding %s -> %s key=%q", b.Exchange, b.Queue, b.RoutingKey))
	}

	defs := readDefinitions(t)
	const vhost = "relais"
	var gotEx, gotQ, gotB []string
	for _, e := range defs.Exchanges {
		if e.Vhost != vhost || !e.Durable || e.AutoDelete || e.Internal || len(e.Arguments) > 0 {
			t.Errorf("exchange %s: want vhost %s, durable, not auto-deleted, not internal, no arguments", e.Name, vhost)
		}
		gotEx = append(gotEx, fmt.Sprintf("exchange %s %s durable", e.Name, e.Type))
	}
	for _, q := range defs.Queues {
		if q.Vhost != vhost || !q.Durable || q.AutoDelete {
			t.Errorf("queue %s: want vhost %s, durable, not auto-deleted", q.Name, vhost)
		}
		gotQ = append(gotQ, fmt.Sprintf("queue %s durable%s", q.Name, canonicalArgs(q.Arguments)))
	}
	for _, b := range defs.Bindings {
		if b.Vhost != vhost || b.DestinationType != "queue" || len(b.Arguments) > 0 {
			t.Errorf("binding %s -> %s: want vhost %s, a queue destination, no arguments", b.Source, b.Destination, vhost)
		}
		gotB = append(gotB, fmt.Sprintf("binding %s -> %s key=%q", b.Source, b.Destination, b.RoutingKey))
	}

	want, got := canonical(wantEx, wantQ, wantB), canonical(gotEx, gotQ, gotB)
	if want != got {
		t.Fatalf("%s drifted from the declared topology\n--- declared by the hub\n%s\n--- in definitions.json\n%s", definitionsPath, want, got)
	}
}

func TestDefinitionsJSONGrantsTheHubUserItsOwnNamesOnly(t *testing.T) {
	defs := readDefinitions(t)
	if len(defs.Users) != 1 || defs.Users[0].Name != "relais" {
		t.Fatalf("users = %+v, want the one placeholder user relais", defs.Users)
	}
	if len(defs.Vhosts) != 1 || defs.Vhosts[0].Name != "relais" {
		t.Fatalf("vhosts = %+v, want relais", defs.Vhosts)
	}
	if len(defs.Permissions) != 1 {
		t.Fatalf("permissions = %+v, want one entry", defs.Permissions)
	}
	p := defs.Permissions[0]
	cfg, _ := Config{URL: "amqp://x/"}.prepared()
	var names []string
	for _, e := range cfg.Topology().Exchanges {
		names = append(names, e.Name)
	}
	for _, q := range cfg.Topology().Queues {
		names = append(names, q.Name)
	}
	for what, pattern := range map[string]string{"configure": p.Configure, "write": p.Write, "read": p.Read} {
		re := regexp.MustCompile(pattern)
		for _, name := range names {
			if !re.MatchString(name) {
				t.Errorf("%s permission %q does not cover %s", what, pattern, name)
			}
		}
		if re.MatchString("amq.direct") || re.MatchString("other.app.queue") {
			t.Errorf("%s permission %q reaches beyond the relais names", what, pattern)
		}
	}
}

// The broker itself is the judge of equivalence: definitions.json is
// imported (into the throwaway vhost), then the hub declares its topology
// over it. Any argument that differs makes the broker refuse the
// declaration with PRECONDITION_FAILED.
func TestTheBrokerAcceptsTheHubDeclarationsOverDefinitionsJSON(t *testing.T) {
	url := brokerURL(t)
	if testVhost == "" {
		t.Skip("needs rabbitmqctl on the broker host and a throwaway vhost")
	}
	var defs map[string]any
	raw, err := os.ReadFile(definitionsPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &defs); err != nil {
		t.Fatal(err)
	}
	// Topology only, moved into the throwaway vhost.
	for _, key := range []string{"users", "vhosts", "permissions"} {
		delete(defs, key)
	}
	for _, key := range []string{"exchanges", "queues", "bindings"} {
		for _, entry := range defs[key].([]any) {
			entry.(map[string]any)["vhost"] = testVhost
		}
	}
	file, err := os.CreateTemp("", "relais-definitions-*.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(file.Name()) })
	if err := json.NewEncoder(file).Encode(defs); err != nil {
		t.Fatal(err)
	}
	_ = file.Close()
	// rabbitmqctl reads the file as the rabbitmq user.
	if err := os.Chmod(file.Name(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := rabbitmqctl("import_definitions", file.Name()); err != nil {
		t.Fatalf("import_definitions: %v: %s", err, out)
	}

	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	builder, err := NewTopologyBuilder(Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := builder.Declare(conn); err != nil {
		t.Fatalf("the broker refused the hub's declarations over definitions.json: %v", err)
	}
	if !reflect.DeepEqual(builder.cfg.Topics, []string{TopicDeliveries}) {
		t.Fatalf("default topics = %v", builder.cfg.Topics)
	}
}
