package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/contracts"
)

//go:embed demodata/referral-body.json
var demoReferralBody []byte

// demoAgencies are the three services of the demo: the Ivorian service that
// found the child, the Malian directorate of the child's country of origin,
// and a Burkinabè service.
var demoAgencies = []struct{ ID, Name string }{
	{"ci.dpe-abidjan", "Direction de la protection de l'enfant — Abidjan"},
	{"ml.dnpef", "Direction nationale de la promotion de l'enfant et de la famille (Mali)"},
	{"bf.dpe-bobo", "Direction provinciale de l'action sociale — Bobo-Dioulasso"},
}

func demoCmd() *cobra.Command {
	var lang, store, broker string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a child's return from Côte d'Ivoire to Mali on an embedded hub, from the referral to reintegration, closure and erasure",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), demoOptions{Lang: lang, Keep: keep, Store: store, Broker: broker})
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "fr", "fr or en")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's data directory")
	cmd.Flags().StringVar(&store, "store", "", "run the demo on PostgreSQL (postgres:// URL) instead of the embedded store")
	cmd.Flags().StringVar(&broker, "broker", "", "run the demo through RabbitMQ (amqp:// URL) instead of the in-process transport")
	return cmd
}

// say prints one narrated step in the chosen language.
func say(out io.Writer, lang, fr, en string, args ...any) {
	text := fr
	if strings.HasPrefix(lang, "en") {
		text = en
	}
	fmt.Fprintf(out, text+"\n", args...)
}

// demoOptions choose the demo's language and engines.
type demoOptions struct {
	Lang          string
	Keep          bool
	Store, Broker string
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	lang := o.Lang
	dir, err := os.MkdirTemp("", "relais-demo-")
	if err != nil {
		return err
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "hub.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	rh, err := startHub(ctx, hubOptions{Listen: "127.0.0.1:0", Data: filepath.Join(dir, "hub"), HubID: "relais-demo-hub", Store: o.Store, Broker: o.Broker,
		Logger: slog.New(slog.NewJSONHandler(logFile, nil))})
	if err != nil {
		return err
	}
	defer rh.Close()
	say(out, lang, "▶ Hub Relais démarré sur %s (stockage SQLite embarqué : %s)", "▶ Relais hub started on %s (embedded SQLite store: %s)", rh.URL, filepath.Join(dir, "hub"))

	clients := map[string]*agency.Client{}
	for _, a := range demoAgencies {
		keys, err := agency.Init(a.ID, filepath.Join(dir, a.ID))
		if err != nil {
			return err
		}
		if err := registerAgency(ctx, io.Discard, rh.URL, rh.AdminToken, keys, a.Name); err != nil {
			return err
		}
		c := agency.New(rh.URL, keys)
		c.Lang = lang
		clients[a.ID] = c
		say(out, lang, "▶ Service %s enregistré (clé de signature Ed25519, clé de chiffrement X25519)", "▶ Agency %s registered (Ed25519 signing key, X25519 encryption key)", a.ID)
	}
	ci, ml, bf := clients["ci.dpe-abidjan"], clients["ml.dnpef"], clients["bf.dpe-bobo"]

	// 1. Côte d'Ivoire refers the child to Mali, her country of origin.
	referral := demoReferral()
	env, sub, err := ci.Send(ctx, referral)
	if err != nil {
		return fmt.Errorf("referral: %w", err)
	}
	say(out, lang, "\n1. ci.dpe-abidjan envoie un référencement à ml.dnpef : dossier chiffré pour le Mali, enveloppe signée.",
		"\n1. ci.dpe-abidjan sends a referral to ml.dnpef: file encrypted for Mali, envelope signed.")
	say(out, lang, "   Accepté par le hub (202) : message %s, journal d'audit n°%d, reçu signé par le hub (%d octets).",
		"   Accepted by the hub (202): message %s, audit log entry #%d, hub-signed receipt (%d bytes).", sub.ID, sub.LeafIndex, len(sub.Receipt))

	// 2. A copy altered on the way is refused.
	tampered := tamper(sub.JWS)
	if _, err := ci.Submit(ctx, tampered); err != nil {
		say(out, lang, "2. Une copie modifiée en route est refusée : %v", "2. A copy altered on the way is refused: %v", err)
	} else {
		return fmt.Errorf("the hub accepted a tampered message")
	}

	// 3. Mali pulls its inbox, verifies, decrypts, stores, receipts.
	opened, err := receiveOne(ctx, ml)
	if err != nil {
		return err
	}
	var body contracts.ReferralRequest
	_ = json.Unmarshal(opened.Plaintext, &body)
	say(out, lang, "3. ml.dnpef relève sa boîte : signature vérifiée, dossier déchiffré localement (enfant : %s, urgence %s).",
		"3. ml.dnpef pulls its inbox: signature verified, file decrypted locally (child: %s, urgency %s).", body.Child.GivenNames, body.Urgency)
	if _, err := ml.Receipt(ctx, opened); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	say(out, lang, "   Accusé de réception signé envoyé (SHA-256 du message exact reçu).", "   Signed receipt sent (SHA-256 of the exact message received).")

	// 4. Burkina Faso is not a party: it cannot read the trail.
	if _, err := bf.Trail(ctx, env.Transfer); err != nil {
		say(out, lang, "4. bf.dpe-bobo, qui n'est pas partie au transfert, ne peut pas en lire la piste : %v",
			"4. bf.dpe-bobo, not a party to the transfer, cannot read its trail: %v", err)
	} else {
		return fmt.Errorf("a third agency could read the trail")
	}

	// 5. Mali accepts the case.
	if _, err := ml.Answer(ctx, opened.Envelope, true, ""); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	say(out, lang, "5. ml.dnpef accepte le référencement : le Mali est désormais responsable du cas.",
		"5. ml.dnpef accepts the referral: Mali is now responsible for the case.")

	// 6. Côte d'Ivoire receives the receipt and the acceptance.
	for received := 0; received < 2; {
		items, cursor, err := ci.Inbox(ctx, "", 5*time.Second)
		if err != nil {
			return err
		}
		for _, it := range items {
			o, err := ci.Open(ctx, []byte(it.JWS))
			if err != nil {
				return err
			}
			received++
			say(out, lang, "6. ci.dpe-abidjan reçoit : %s", "6. ci.dpe-abidjan receives: %s", kindLabel(o.Envelope.Kind, lang))
			if o.Envelope.Kind != "receipt" {
				if _, err := ci.Receipt(ctx, o); err != nil {
					return err
				}
			}
		}
		if _, _, err := ci.Inbox(ctx, cursor, 0); err != nil { // acknowledges receipts read
			return err
		}
	}

	accepted, err := ci.Trail(ctx, env.Transfer)
	if err != nil {
		return err
	}
	say(out, lang, "   %s", "   %s", stateLine(accepted.State, accepted.Holder, lang))

	// 7… The return and reintegration, to closure and erasure.
	s := &story{out: out, lang: lang, ci: ci, ml: ml, transfer: env.Transfer, step: 6}
	if err := s.run(); err != nil {
		return err
	}

	trail, err := ci.Trail(ctx, env.Transfer)
	if err != nil {
		return err
	}
	say(out, lang, "\nPiste du transfert (vue de ci.dpe-abidjan ; sans l'acheminement des accusés de réception eux-mêmes) :",
		"\nTransfer trail (as seen by ci.dpe-abidjan; without the routing of the receipts themselves):")
	fmt.Fprint(out, renderTimeline(trail, lang, true))
	if trail.State != "erased" {
		return fmt.Errorf("transfer ended in state %s, want erased", trail.State)
	}
	list, err := listTransfers(ctx, ml, "", false)
	if err != nil {
		return err
	}
	say(out, lang, "\nrelais transfers (vu de ml.dnpef) :", "\nrelais transfers (as seen by ml.dnpef):")
	fmt.Fprint(out, renderTransfers(ml.Keys.ID, list, lang))
	if err := runConsentDemo(ctx, out, lang, rh, dir, ci, bf); err != nil {
		return err
	}
	say(out, lang, "\n✔ Démonstration terminée.", "\n✔ Demo complete.")
	return nil
}

func demoReferral() agency.Draft {
	now := time.Now().UTC().Truncate(time.Second)
	return agency.Draft{
		Kind: "referral.request", To: "ml.dnpef", Case: "CI-ABJ-2026-0042",
		Purpose:        "protection_referral",
		DataCategories: []string{"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "photo", "narrative"},
		Consent: &contracts.Consent{
			Ref: "CI-ABJ-CONS-0042", Basis: "consent", GivenBy: "child", ChildAssent: true, AgeBand: "15-17",
			Recipients: []string{"ml"}, Purposes: []string{"protection_referral", "family_tracing", "return_reintegration"},
			DataCategories: []string{"identity", "contact", "family", "location", "documents", "protection_concerns", "health", "legal_status", "photo", "narrative"},
			ObtainedAt:     now.Add(-24 * time.Hour),
		},
		Body: demoReferralBody,
	}
}

// receiveOne waits for one message in c's inbox and opens it.
func receiveOne(ctx context.Context, c *agency.Client) (agency.Opened, error) {
	for range 10 {
		items, _, err := c.Inbox(ctx, "", 5*time.Second)
		if err != nil {
			return agency.Opened{}, err
		}
		if len(items) > 0 {
			return c.Open(ctx, []byte(items[0].JWS))
		}
	}
	return agency.Opened{}, fmt.Errorf("nothing arrived in %s's inbox", c.Keys.ID)
}

// tamper flips one character of the JWS payload, as a network attacker or a
// faulty relay would.
func tamper(jws []byte) []byte {
	out := append([]byte(nil), jws...)
	dot := strings.IndexByte(string(out), '.')
	i := dot + 20
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}
