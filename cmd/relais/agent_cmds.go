package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/adapters/console"
	"github.com/relais-hub/relais/contracts"
)

// agentFlags are the flags every `relais agent` command shares.
type agentFlags struct {
	Dir            string
	Lang           string
	PassphraseFile string
}

func (f *agentFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Dir, "dir", envOr("RELAIS_AGENT_DIR", "relais-agent"), "agent directory (RELAIS_AGENT_DIR)")
	cmd.Flags().StringVar(&f.Lang, "lang", os.Getenv("RELAIS_LANG"), "language: fr or en (default: the agent's, else fr)")
	cmd.Flags().StringVar(&f.PassphraseFile, "passphrase-file", os.Getenv("RELAIS_AGENT_PASSPHRASE_FILE"),
		"file holding the passphrase of the agency's keys, e.g. a systemd credential (RELAIS_AGENT_PASSPHRASE_FILE; or RELAIS_AGENT_PASSPHRASE)")
}

// passphrase reads the keys' passphrase from the file or the environment;
// nil when neither is set.
func (f *agentFlags) passphrase() ([]byte, error) {
	if f.PassphraseFile != "" {
		b, err := os.ReadFile(f.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		return bytes.TrimRight(b, "\r\n"), nil
	}
	if p := os.Getenv("RELAIS_AGENT_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	return nil, nil
}

// open opens the agent; withoutKeys falls back to the local store alone
// when the keys are locked and no passphrase was given.
func (f *agentFlags) open(ctx context.Context, opts agent.Options, keysOptional bool) (*agent.Agent, error) {
	pass, err := f.passphrase()
	if err != nil {
		return nil, err
	}
	opts.Passphrase = pass
	a, err := agent.Open(ctx, f.Dir, opts)
	if errors.Is(err, agent.ErrPassphraseRequired) && keysOptional {
		opts.WithoutKeys = true
		a, err = agent.Open(ctx, f.Dir, opts)
	}
	if err != nil {
		return nil, agentError(err, f.lang(nil))
	}
	if f.Lang == "" {
		f.Lang = a.Config().Lang
	}
	return a, nil
}

func (f *agentFlags) lang(a *agent.Agent) string {
	switch {
	case f.Lang != "":
		return f.Lang
	case a != nil && a.Config().Lang != "":
		return a.Config().Lang
	}
	return "fr"
}

func agentText(lang, fr, en string) string {
	if agent.English(lang) {
		return en
	}
	return fr
}

// agentError says in the case worker's language what the common failures
// mean and what to do.
func agentError(err error, lang string) error {
	switch {
	case errors.Is(err, agent.ErrNoDirectory):
		return errors.New(agentText(lang,
			"le répertoire du hub n'a encore jamais été synchronisé : connectez-vous une fois et lancez 'relais agent run'",
			"the hub directory was never synchronised: connect once and run 'relais agent run'"))
	case errors.Is(err, agent.ErrPassphraseRequired):
		return errors.New(agentText(lang,
			"les clés du service sont protégées par une phrase secrète : donnez-la avec --passphrase-file ou RELAIS_AGENT_PASSPHRASE",
			"the agency's keys are protected by a passphrase: give it with --passphrase-file or RELAIS_AGENT_PASSPHRASE"))
	case errors.Is(err, agent.ErrWrongPassphrase):
		return errors.New(agentText(lang, "phrase secrète incorrecte", "wrong passphrase"))
	}
	var p *contracts.Problem
	if errors.As(err, &p) {
		return fmt.Errorf("%s (%s): %s", p.Code.Title(lang), p.Code, p.Detail)
	}
	return err
}

func agentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Site agent: compose offline, sync with the hub when the link allows (store-and-forward)",
		Long: `The site agent runs next to the case workers. It keeps the agency's keys
and a local outbox and inbox (SQLite): messages are sealed and queued
offline; 'relais agent run' sends them and pulls the inbox whenever the hub
is reachable, and sends each receipt only once the message is stored.`,
	}
	cmd.AddCommand(agentInitCmd(), agentRegisterCmd(), agentRunCmd(), agentComposeCmd(), agentStatusCmd(),
		agentInboxCmd(), agentReadCmd(), agentOutboxCmd())
	return cmd
}

func agentInitCmd() *cobra.Command {
	var f agentFlags
	var id, hubURL, existing string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create an agent directory: configuration, the agency's keys (0600, or passphrase-protected), database",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pass, err := f.passphrase()
			if err != nil {
				return err
			}
			lang := f.lang(nil)
			cfg, err := agent.Init(cmd.Context(), f.Dir, agent.InitOptions{Agency: id, Hub: hubURL, ExistingKeys: existing, Passphrase: pass, Lang: f.Lang})
			if err != nil {
				return err
			}
			keys := cfg.KeysDir(f.Dir)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, agentText(lang, "Agent de %s créé dans %s (hub %s).\n", "Agent of %s created in %s (hub %s).\n"), cfg.Agency, f.Dir, cfg.Hub)
			if len(pass) > 0 {
				fmt.Fprintln(out, agentText(lang, "Clés privées protégées par la phrase secrète.", "Private keys protected by the passphrase."))
			}
			fmt.Fprintf(out, agentText(lang, "Clés publiques à enregistrer auprès du hub : %s\n  relais agent register --dir %s --name \"…\" --admin-token …\n",
				"Public keys to register with the hub: %s\n  relais agent register --dir %s --name \"…\" --admin-token …\n"),
				filepath.Join(keys, "public.jwks"), f.Dir)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "agency id, e.g. ci.dpe-abidjan (optional with --keys)")
	cmd.Flags().StringVar(&hubURL, "hub", envOr("RELAIS_HUB", ""), "hub URL (RELAIS_HUB)")
	cmd.Flags().StringVar(&existing, "keys", "", "adopt an existing key directory written by 'relais agency init' instead of creating keys")
	_ = cmd.MarkFlagRequired("hub")
	return cmd
}

func agentRegisterCmd() *cobra.Command {
	var f agentFlags
	var name, adminToken string
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register the agent's public keys with the hub (admin); no passphrase needed",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := agent.ReadConfig(f.Dir)
			if err != nil {
				return err
			}
			jwks, err := os.ReadFile(filepath.Join(cfg.KeysDir(f.Dir), "public.jwks"))
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"id": cfg.Agency, "country": contracts.AgencyCountry(cfg.Agency), "name": name, "jwks": json.RawMessage(jwks)})
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, cfg.Hub+"/v1/agencies", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if resp.StatusCode != http.StatusCreated {
				return hubError(resp, raw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), agentText(f.lang(nil), "%s enregistré auprès du hub\n", "%s registered with the hub\n"), cfg.Agency)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the agency's official name")
	cmd.Flags().StringVar(&adminToken, "admin-token", os.Getenv("RELAIS_ADMIN_TOKEN"), "hub admin token (RELAIS_ADMIN_TOKEN)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func agentRunCmd() *cobra.Command {
	var f agentFlags
	var once bool
	var opts agent.Options
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Sync with the hub until stopped (SIGTERM): send the outbox, pull the inbox, send receipts",
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			a, err := f.open(cmd.Context(), opts, false)
			if err != nil {
				return err
			}
			defer a.Close()
			if once {
				if err := a.SyncOnce(cmd.Context()); err != nil {
					return agentError(err, f.lang(a))
				}
				st, err := a.Status(cmd.Context(), false)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), st.Text(f.lang(a), time.Now()))
				return nil
			}
			opts.Logger.Info("agent running", "agency", a.Config().Agency, "hub", a.Config().Hub)
			console.StartAgent(cmd.Context(), os.Getenv("RELAIS_AGENT_CONSOLE"), console.AgentConfig{Site: a, Dir: a.Dir(), Logger: opts.Logger})
			err = a.Run(cmd.Context())
			opts.Logger.Info("agent stopped")
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&once, "once", false, "sync once and exit (for a scheduled task)")
	cmd.Flags().DurationVar(&opts.Backoff.Base, "min-backoff", agent.DefaultBackoffBase, "first wait after a failure; doubles up to --max-backoff, with jitter")
	cmd.Flags().DurationVar(&opts.Backoff.Cap, "max-backoff", agent.DefaultBackoffCap, "longest wait between two attempts while the hub is unreachable")
	cmd.Flags().DurationVar(&opts.InboxWait, "wait", 50*time.Second, "how long one inbox read waits for mail (long-poll)")
	cmd.Flags().DurationVar(&opts.OutboxPoll, "poll", time.Second, "how often to look for messages composed by other processes")
	cmd.Flags().IntVar(&opts.InboxPage, "page", 16, "messages per inbox read (small pages finish between drops on a slow link)")
	return cmd
}

func agentComposeCmd() *cobra.Command {
	var f agentFlags
	var file, to, kind, caseRef string
	var attach []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "compose",
		Short: "Seal messages offline and queue them (a draft JSON file, or an array of drafts)",
		Long: `The file holds a draft as for 'relais send' — or a JSON array of drafts:
  {"kind": "referral.request", "to": "ml.dnpef", "case": "CI-ABJ-2026-0042",
   "purpose": "protection_referral", "data_categories": [...],
   "consent": {...}, "body": {...}}
Each draft is validated, encrypted for the recipient with the last synced
directory, signed and committed to the outbox before this command returns;
no network is needed. A draft may preset its "id" (a UUIDv7): composing the
same draft again then queues nothing new, so a compose interrupted by a
power cut can simply be run again. Files given with --attach (one draft
only) are encrypted for the recipient now and uploaded before the message,
on a lane that gives way to messages.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			drafts, err := readDrafts(file)
			if err != nil {
				return err
			}
			if len(attach) > 0 && len(drafts) != 1 {
				return errors.New("--attach goes with a file holding one draft")
			}
			files := make([]agent.Attachment, 0, len(attach))
			for _, p := range attach {
				files = append(files, agent.Attachment{Path: p})
			}
			a, err := f.open(cmd.Context(), agent.Options{}, false)
			if err != nil {
				return err
			}
			defer a.Close()
			lang := f.lang(a)
			var queued []agent.Queued
			for i, d := range drafts {
				if to != "" {
					d.To = to
				}
				if kind != "" {
					d.Kind = kind
				}
				if caseRef != "" {
					d.Case = caseRef
				}
				q, err := a.Compose(cmd.Context(), d, files...)
				if err != nil {
					return fmt.Errorf("draft %d: %w", i+1, agentError(err, lang))
				}
				queued = append(queued, q)
				if !asJSON {
					state := agentText(lang, "mis en file", "queued")
					if q.Existing {
						state = agentText(lang, "déjà en file", "already queued")
					}
					fmt.Fprintf(cmd.OutOrStdout(), agentText(lang, "%s %s %s → %s (%d octets signés)\n", "%s %s %s → %s (%d signed bytes)\n"),
						state, q.ID, q.Kind, q.To, q.JWSBytes)
				}
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(queued)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "draft JSON file (an object, or an array of drafts)")
	cmd.Flags().StringVar(&to, "to", "", "recipient agency id (overrides the file)")
	cmd.Flags().StringVar(&kind, "kind", "", "message kind (overrides the file)")
	cmd.Flags().StringVar(&caseRef, "case", "", "your pseudonymous case reference (overrides the file)")
	cmd.Flags().StringArrayVar(&attach, "attach", nil, "file to attach (repeatable; up to 50 MiB each)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// readDrafts reads one draft or an array of drafts, strictly.
func readDrafts(path string) ([]agency.Draft, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var drafts []agency.Draft
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
		err = dec.Decode(&drafts)
	} else {
		var d agency.Draft
		err = dec.Decode(&d)
		drafts = append(drafts, d)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return drafts, nil
}

func agentStatusCmd() *cobra.Command {
	var f agentFlags
	var offline, asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Queued outgoing items, last successful sync, items awaiting a receipt, overdue transfers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := f.open(cmd.Context(), agent.Options{}, true)
			if err != nil {
				return err
			}
			defer a.Close()
			st, err := a.Status(cmd.Context(), !offline)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprint(cmd.OutOrStdout(), st.Text(f.lang(a), time.Now()))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&offline, "offline", false, "do not ask the hub for the overdue transfers; show the last known list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func agentInboxCmd() *cobra.Command {
	var f agentFlags
	var unread, asJSON bool
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "List the messages received and stored by the agent",
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := f.open(cmd.Context(), agent.Options{}, true)
			if err != nil {
				return err
			}
			defer a.Close()
			list, err := a.Inbox(cmd.Context(), agent.InboxFilter{Unread: unread})
			if err != nil {
				return err
			}
			if asJSON {
				type item struct {
					ID, Kind, From, Transfer string
					StoredAt                 time.Time
					Read                     bool
					Violation                *agent.Violation `json:",omitempty"`
				}
				out := make([]item, 0, len(list))
				for _, r := range list {
					out = append(out, item{r.Envelope.ID, r.Envelope.Kind, r.Envelope.From, r.Envelope.Transfer, r.StoredAt, !r.ReadAt.IsZero(), r.Violation})
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
			}
			lang := f.lang(a)
			fmt.Fprintf(cmd.OutOrStdout(), agentText(lang, "%d message(s)\n", "%d message(s)\n"), len(list))
			for _, r := range list {
				mark := " "
				if r.ReadAt.IsZero() {
					mark = "•"
				}
				if r.Violation != nil {
					mark = "⚠"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s  %s  %s %s  %s\n", mark, r.Envelope.ID, r.Envelope.Kind,
					agentText(lang, "de", "from"), r.Envelope.From, r.StoredAt.UTC().Format("2006-01-02 15:04"))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&unread, "unread", false, "only messages not yet read")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func agentReadCmd() *cobra.Command {
	var f agentFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "read ID",
		Short: "Show a received message in clear (and mark it read)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := f.open(cmd.Context(), agent.Options{}, true)
			if err != nil {
				return err
			}
			defer a.Close()
			lang := f.lang(a)
			r, err := a.Read(cmd.Context(), args[0])
			if errors.Is(err, agent.ErrNotInInbox) {
				return fmt.Errorf(agentText(lang, "%s n'est pas dans la boîte de réception de l'agent", "%s is not in the agent's inbox"), args[0])
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var body bytes.Buffer
			if json.Indent(&body, r.Plaintext, "", "  ") != nil {
				body.Reset()
				body.Write(r.Plaintext)
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"envelope": r.Envelope, "body": json.RawMessage(body.Bytes()), "stored_at": r.StoredAt,
					"violation": r.Violation, "attachments": r.Attachments})
			}
			env := r.Envelope
			label := env.Kind
			if spec, ok := contracts.Kind(env.Kind); ok {
				label = spec.Label.FR
				if agent.English(lang) {
					label = spec.Label.EN
				}
			}
			fmt.Fprintf(out, "%s — %s\n", env.ID, label)
			fmt.Fprintf(out, agentText(lang, "  de %s à %s · dossier %s · transfert %s\n", "  from %s to %s · case %s · transfer %s\n"), env.From, env.To, env.Case, env.Transfer)
			fmt.Fprintf(out, agentText(lang, "  reçu par le hub %s · conservé ici %s\n", "  received by the hub %s · stored here %s\n"),
				r.HubReceivedAt.Format(time.RFC3339), r.StoredAt.Format(time.RFC3339))
			if v := r.Violation; v != nil {
				fmt.Fprintf(out, agentText(lang, "  ⚠ non conforme (%s %s) — signalé à l'expéditeur (message %s)\n", "  ⚠ non-compliant (%s %s) — reported to the sender (message %s)\n"),
					v.Code, strings.Join(v.Categories, ","), v.Report)
			}
			for _, at := range r.Attachments {
				switch {
				case !at.Downloaded.IsZero():
					fmt.Fprintf(out, agentText(lang, "  pièce jointe : %s (%s, %d octets) → %s\n", "  attachment: %s (%s, %d bytes) → %s\n"), at.Name, at.MediaType, at.Size, at.Path)
				case at.Failed != "":
					fmt.Fprintf(out, agentText(lang, "  pièce jointe %s : téléchargement abandonné (%s)\n", "  attachment %s: download given up (%s)\n"), at.ID, at.Failed)
				default:
					fmt.Fprintf(out, agentText(lang, "  pièce jointe %s : pas encore téléchargée\n", "  attachment %s: not downloaded yet\n"), at.ID)
				}
			}
			fmt.Fprintf(out, "%s\n", body.Bytes())
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func agentOutboxCmd() *cobra.Command {
	var f agentFlags
	var state string
	var receipts, asJSON bool
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "List outgoing items: queued, sent (and receipted), or refused with the hub's code",
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := f.open(cmd.Context(), agent.Options{}, true)
			if err != nil {
				return err
			}
			defer a.Close()
			list, err := a.Outbox(cmd.Context(), agent.OutboxFilter{State: state, IncludeReceipts: receipts})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(list)
			}
			lang := f.lang(a)
			for _, o := range list {
				var what string
				switch {
				case o.State == agent.StateQueued && o.LastError != "":
					what = fmt.Sprintf(agentText(lang, "en attente (%d essai(s), dernier échec %s)", "queued (%d attempt(s), last failure %s)"), o.Attempts, o.LastError)
				case o.State == agent.StateQueued:
					what = agentText(lang, "en attente", "queued")
				case o.State == agent.StateRefused:
					what = fmt.Sprintf(agentText(lang, "refusé : %s", "refused: %s"), o.RefusedCode)
				case o.AwaitsReceipt():
					what = fmt.Sprintf(agentText(lang, "envoyé (journal #%d), accusé de réception attendu", "sent (log #%d), awaiting receipt"), o.LeafIndex)
				default:
					what = fmt.Sprintf(agentText(lang, "envoyé (journal #%d)", "sent (log #%d)"), o.LeafIndex)
					if !o.ReceiptedAt.IsZero() {
						what += agentText(lang, ", reçu par le destinataire", ", received by the recipient")
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s → %s  %s\n", o.ID, o.Kind, o.To, what)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&state, "state", "", "only items in this state: queued, sent or refused")
	cmd.Flags().BoolVar(&receipts, "receipts", false, "list the receipts the agent sent too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
