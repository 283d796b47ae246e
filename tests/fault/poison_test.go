package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// publishPoison puts a delivery on the hub's delivery queue the way the
// relay does (persistent, confirmed), with a payload the hub's store does
// not know.
func publishPoison(t *testing.T, url string, payload string) {
	t.Helper()
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatalf("dial the broker: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	confirm, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "relais.deliver", "deliveries", true, false,
		amqp091.Publishing{DeliveryMode: amqp091.Persistent, MessageId: contracts.NewMessageID(), Body: []byte(payload)})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if !confirm.Wait() {
		t.Fatal("the broker nacked the poison message")
	}
}

type deadLetterList struct {
	DeadLetters []struct {
		Index     uint64 `json:"index"`
		MessageID string `json:"message_id"`
		Reason    string `json:"reason"`
		Queue     string `json:"queue"`
		Deaths    string `json:"deaths"`
		State     string `json:"state"`
	} `json:"dead_letters"`
}

func TestAPoisonMessageEndsInTheDeadLetterQueueWithItsReasonShownToOperatorsAndInTheAuditLog(t *testing.T) {
	w := newWorld(t, 1)
	hubURL := w.hubs[0].URL()
	unknown := contracts.NewMessageID()
	const garbage = "Awa Traoré, 12 ans, Sikasso"

	publishPoison(t, w.brokerURL, unknown)
	publishPoison(t, w.brokerURL, garbage)
	// Real referrals keep flowing past the poison.
	msgs := w.sealReferrals(20)
	l := send(context.Background(), msgs, sendOptions{Workers: 4, URLs: []string{hubURL}})

	var list deadLetterList
	relaistest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		status, raw := adminCall(t, http.MethodGet, hubURL+"/v1/admin/dead-letters", nil)
		if status != http.StatusOK {
			return fmt.Errorf("dead-letter list: %d %s", status, raw)
		}
		list = deadLetterList{}
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		if len(list.DeadLetters) < 2 {
			return fmt.Errorf("%d dead letters listed, want 2", len(list.DeadLetters))
		}
		return nil
	})
	t.Logf("dead letters listed to operators: %+v", list.DeadLetters)
	var byID, byDigest int
	for _, dl := range list.DeadLetters {
		if dl.Reason != "delivery_limit" || dl.Queue != "relais.deliveries" || dl.State != "unknown_message" {
			t.Errorf("dead letter %+v, want reason delivery_limit from relais.deliveries, state unknown_message", dl)
		}
		switch dl.MessageID {
		case unknown:
			byID++
		case "":
			byDigest++
		default:
			t.Errorf("unexpected dead letter %+v", dl)
		}
	}
	if byID != 1 || byDigest != 1 {
		t.Errorf("%d dead letters for the unknown id and %d for the garbage payload, want 1 and 1", byID, byDigest)
	}

	// The audit log holds both, with the broker's reason and never the
	// payload.
	status, raw := adminCall(t, http.MethodGet, hubURL+"/v1/audit/events?agency=hub&limit=1000", nil)
	if status != http.StatusOK {
		t.Fatalf("audit events: %d %s", status, raw)
	}
	var events struct {
		Events []struct {
			Event map[string]any `json:"event"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatal(err)
	}
	logged := 0
	for _, e := range events.Events {
		if e.Event["type"] == "dead_lettered" && e.Event["detail"] == "delivery_limit" {
			logged++
		}
	}
	if logged != 2 {
		t.Errorf("%d dead_lettered audit events with reason delivery_limit, want 2", logged)
	}
	if strings.Contains(string(raw), "Traoré") || strings.Contains(string(raw), "Sikasso") {
		t.Error("the audit log holds the poison's payload")
	}

	status, raw = adminCall(t, http.MethodGet, hubURL+"/metrics", nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `relais_dead_letters_total{reason="delivery_limit"} 2`) {
		t.Errorf("metrics do not count the 2 dead letters: %d\n%s", status, grepLines(raw, "relais_dead_letters"))
	}
	status, raw = adminCall(t, http.MethodPost, hubURL+"/v1/admin/dead-letters/"+unknown+"/replay", nil)
	if status != http.StatusNotFound {
		t.Errorf("replaying a message the hub never held: %d %s, want 404", status, raw)
	}
	if depth := queueDepth(t, w.brokerURL, "relais.dead-letter"); depth != 0 {
		t.Errorf("the dead-letter queue still holds %d messages: the watcher acks what it recorded", depth)
	}
	w.settle(l, msgs, 30*time.Second)

	w.hubs[0].stop()
	log, _ := os.ReadFile(w.hubs[0].Log)
	if strings.Contains(string(log), "Traoré") || strings.Contains(string(log), "Sikasso") {
		t.Error("the hub log holds the poison's payload")
	}
	if !strings.Contains(string(log), unknown) {
		t.Error("the hub log does not name the dead-lettered message id")
	}
}

func queueDepth(t *testing.T, url, queue string) int {
	t.Helper()
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

func grepLines(raw []byte, word string) string {
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
