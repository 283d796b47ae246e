package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/hub/audit"
)

func auditWatchCmd() *cobra.Command {
	var af auditFlags
	var state, keyFile, keyString string
	var interval time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Follow the hub's checkpoints and fail loudly on a fork or a shrunk log",
		Long: `Fetches the hub's latest signed checkpoint and, from the last checkpoint
verified (kept in --state), a consistency proof that the log only grew.
The first checkpoint seen becomes the reference. Any inconsistency (a fork:
two signed checkpoints of the same size with different roots; a shrunk log;
a rewritten history; a bad signature) stops the watch with a non-zero exit
status, an alarm on standard error, and the offending checkpoint kept next
to the state file as evidence. An unreachable hub is only a warning, retried
at the next interval (with --once, it is an error).

The hub key is pinned next to the state file (STATE.key) on first use; give
it with --hub-key or --hub-key-string to pin a key obtained out of band.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out, alarm := cmd.OutOrStdout(), cmd.ErrOrStderr()
			key, err := watchKey(ctx, c, state, keyFile, keyString, out, af.Lang)
			if err != nil {
				return err
			}
			w, err := audit.NewWatcherWithKeys(state, key.Origin, key.all())
			if err != nil {
				if _, isFailure := audit.FailureOf(err); isFailure {
					return raiseAlarm(alarm, state, nil, nil, err, af.Lang)
				}
				return err
			}
			for {
				note, err := watchRound(ctx, c, w, key, out, af.Lang)
				if _, isFailure := audit.FailureOf(err); isFailure {
					last, _ := w.Last()
					return raiseAlarm(alarm, state, &last, note, err, af.Lang)
				}
				if err != nil {
					if once || ctx.Err() != nil {
						return err
					}
					fmt.Fprintf(alarm, inLang(af.Lang, "%s ⚠ hub injoignable ou en erreur (%v) ; nouvel essai dans %s\n",
						"%s ⚠ hub unreachable or failing (%v); retrying in %s\n"), now(), err, interval)
				}
				if once {
					return nil
				}
				if sleepCtx(ctx, interval) != nil {
					return nil
				}
			}
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&state, "state", "", "file keeping the last verified checkpoint (created on first run)")
	cmd.Flags().DurationVar(&interval, "interval", 30*time.Second, "time between two checks")
	cmd.Flags().BoolVar(&once, "once", false, "check once and exit")
	cmd.Flags().StringVar(&keyFile, "hub-key", "", "file holding the hub's public key, obtained out of band")
	cmd.Flags().StringVar(&keyString, "hub-key-string", "", "the hub's public key as a note verifier key string")
	_ = cmd.MarkFlagRequired("state")
	return cmd
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// watchKey returns the hub key to verify checkpoints with: the one given,
// else the one pinned next to the state file, else the hub's own (pinned
// from then on: trust on first use, said out loud).
func watchKey(ctx context.Context, c *auditClient, state, keyFile, keyString string, out io.Writer, lang string) (trustedKey, error) {
	pinnedPath := state + ".key"
	pinned, err := os.ReadFile(pinnedPath)
	havePinned := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return trustedKey{}, err
	}
	var key trustedKey
	switch {
	case keyFile != "" || keyString != "":
		if key, err = loadTrustedKey(keyFile, keyString); err != nil {
			return trustedKey{}, err
		}
		if key.Origin == "" {
			return trustedKey{}, errors.New("watch needs the hub key with its log name: a note verifier key string or the JSON of GET /v1/audit/key, not a bare JWK")
		}
	case havePinned:
		if key, err = parseHubKeyText(pinned); err != nil {
			return trustedKey{}, fmt.Errorf("pinned hub key %s: %w", pinnedPath, err)
		}
		return key, nil
	default:
		doc, err := c.hubKey(ctx)
		if err != nil {
			return trustedKey{}, fmt.Errorf("fetch the hub key: %w", err)
		}
		if key, err = parseVerifierKey(doc.NoteVerifier); err != nil {
			return trustedKey{}, fmt.Errorf("the hub's key: %w", err)
		}
		fmt.Fprintf(out, inLang(lang,
			"⚠ Clé du hub épinglée à la première utilisation : %s\n  Vérifiez-la auprès du hub par un autre canal (courrier officiel, site du réseau) ; elle est conservée dans %s.\n",
			"⚠ Hub key pinned on first use: %s\n  Check it with the hub through another channel (official letter, network website); it is kept in %s.\n"),
			doc.NoteVerifier, pinnedPath)
	}
	vkey := key.verifierString("")
	if havePinned {
		was, err := parseHubKeyText(pinned)
		if err != nil || was.verifierString("") != vkey {
			return trustedKey{}, fmt.Errorf("%s pins another hub key than the one given: a hub key is never replaced silently; move the state away to start over", pinnedPath)
		}
		return key, nil
	}
	if err := os.WriteFile(pinnedPath, []byte(vkey+"\n"), 0o600); err != nil {
		return trustedKey{}, err
	}
	return key, nil
}

// watchRound checks the hub's latest checkpoint against the last verified
// one. It returns the checkpoint text it got (for the evidence) and an
// error that is a verification failure (audit.FailureOf) when the log is
// not trustworthy, or any other error when the hub could not be asked.
func watchRound(ctx context.Context, c *auditClient, w *audit.Watcher, key trustedKey, out io.Writer, lang string) ([]byte, error) {
	note, err := c.checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := audit.ParseCheckpointWithKeys(note, key.Origin, key.all())
	if err != nil {
		return note, err
	}
	last, had := w.Last()
	var proof [][]byte
	if had && cp.Size > last.Size && last.Size > 0 {
		if proof, err = c.consistency(ctx, last.Size, cp.Size); err != nil {
			return note, fmt.Errorf("consistency proof %d → %d: %w", last.Size, cp.Size, err)
		}
	}
	if err := w.Observe(note, proof); err != nil {
		return note, err
	}
	switch {
	case !had:
		fmt.Fprintf(out, inLang(lang, "%s ✔ point de contrôle de référence : taille %d, racine %s\n", "%s ✔ reference checkpoint: size %d, root %s\n"),
			now(), cp.Size, base64.StdEncoding.EncodeToString(cp.Root))
	case cp.Size == last.Size:
		fmt.Fprintf(out, inLang(lang, "%s ✔ inchangé : taille %d\n", "%s ✔ unchanged: size %d\n"), now(), cp.Size)
	default:
		fmt.Fprintf(out, inLang(lang, "%s ✔ taille %d → %d : le journal n'a fait que grandir (preuve de cohérence vérifiée)\n",
			"%s ✔ size %d → %d: the log only grew (consistency proof verified)\n"), now(), last.Size, cp.Size)
	}
	return note, nil
}

// raiseAlarm reports an untrustworthy log as loudly as a terminal allows,
// keeps the offending checkpoint as evidence, and returns the error that
// makes the command exit non-zero.
func raiseAlarm(w io.Writer, state string, last *audit.SignedCheckpoint, rejected []byte, err error, lang string) error {
	t := func(fr, en string) string { return inLang(lang, fr, en) }
	fmt.Fprintln(w, "")
	fmt.Fprintln(w, t("████ ALERTE : JOURNAL D'AUDIT NON FIABLE ████", "████ ALARM: AUDIT LOG NOT TRUSTWORTHY ████"))
	fmt.Fprintln(w, failureText(err, lang))
	code := contracts.CodeOf(err)
	fmt.Fprintln(w, t("Ce que cela veut dire : ", "What it means: ")+alarmMeaning(code, lang))
	if last != nil && last.Note != nil {
		fmt.Fprintf(w, t("Dernier point de contrôle vérifié : taille %d, racine %s (dans %s)\n", "Last verified checkpoint: size %d, root %s (in %s)\n"),
			last.Size, base64.StdEncoding.EncodeToString(last.Root), state)
	}
	if rejected != nil {
		evidence := state + ".rejected"
		if werr := os.WriteFile(evidence, rejected, 0o600); werr == nil {
			fmt.Fprintf(w, t("Point de contrôle refusé conservé comme preuve : %s\n", "Rejected checkpoint kept as evidence: %s\n"), evidence)
		}
	}
	fmt.Fprintln(w, t(
		"Que faire : ne supprimez ni le fichier d'état ni la preuve (deux points de contrôle signés par le hub qui se contredisent prouvent la falsification) ; prévenez sans délai le secrétariat du réseau et l'autorité de protection des données ; ne vous fiez plus aux réponses de ce hub avant explication.",
		"What to do: keep the state file and the evidence (two hub-signed checkpoints that contradict each other prove the tampering); alert the network's secretariat and the data-protection authority at once; do not trust this hub's answers until it is explained."))
	return fmt.Errorf("%s (%s)", t("journal d'audit non fiable", "audit log not trustworthy"), code)
}

func alarmMeaning(code contracts.Code, lang string) string {
	switch code {
	case contracts.CodeAuditFork:
		return inLang(lang, "le hub a signé deux versions différentes du journal de même taille : l'historique a été réécrit.",
			"the hub signed two different versions of the log of the same size: history was rewritten.")
	case contracts.CodeAuditShrunk:
		return inLang(lang, "le journal signé est plus court qu'avant : des événements déjà publiés ont disparu.",
			"the signed log is shorter than before: events already published have disappeared.")
	case contracts.CodeAuditConsistencyFailed:
		return inLang(lang, "le nouveau journal ne contient pas l'ancien tel quel : des événements ont été modifiés, supprimés ou réordonnés.",
			"the new log does not contain the old one unchanged: events were altered, deleted or reordered.")
	case contracts.CodeAuditCheckpointInvalid:
		return inLang(lang, "le point de contrôle n'est pas signé par la clé du hub que vous avez épinglée : falsification, ou changement de clé non annoncé.",
			"the checkpoint is not signed by the hub key you pinned: forgery, or an unannounced key change.")
	}
	return inLang(lang, "la vérification a échoué.", "verification failed.")
}
