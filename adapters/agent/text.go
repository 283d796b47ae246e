package agent

import (
	"fmt"
	"strings"
	"time"
)

// English reports whether lang asks for English; French is the default,
// the network's working language.
func English(lang string) bool { return strings.HasPrefix(strings.ToLower(lang), "en") }

func tr(lang, fr, en string) string {
	if English(lang) {
		return en
	}
	return fr
}

// Ago says how long ago t was, roughly, in lang.
func Ago(lang string, t, now time.Time) string {
	d := now.Sub(t)
	var n int
	var unitFR, unitEN string
	switch {
	case d < time.Minute:
		return tr(lang, "à l'instant", "just now")
	case d < time.Hour:
		n, unitFR, unitEN = int(d/time.Minute), "min", "min"
	case d < 48*time.Hour:
		n, unitFR, unitEN = int(d/time.Hour), "h", "h"
	default:
		n, unitFR, unitEN = int(d/(24*time.Hour)), "jours", "days"
	}
	return tr(lang, fmt.Sprintf("il y a %d %s", n, unitFR), fmt.Sprintf("%d %s ago", n, unitEN))
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// Text renders the status for a terminal, in French or English.
func (s Status) Text(lang string, now time.Time) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, "  "+format+"\n", args...) }
	fmt.Fprintf(&b, tr(lang, "Agent de %s — hub %s\n", "Agent of %s — hub %s\n"), s.Agency, s.Hub)

	queued := fmt.Sprintf(tr(lang, "Envois en attente : %d", "Queued outgoing items: %d"), s.Queued)
	if s.Queued > 0 {
		queued += fmt.Sprintf(tr(lang, " (le plus ancien composé %s)", " (oldest composed %s)"), Ago(lang, s.OldestQueued, now))
	}
	line("%s", queued)

	if s.LastSync.IsZero() {
		line("%s", tr(lang, "Dernière synchronisation réussie : jamais", "Last successful sync: never"))
	} else {
		line(tr(lang, "Dernière synchronisation réussie : %s (%s)", "Last successful sync: %s (%s)"), stamp(s.LastSync), Ago(lang, s.LastSync, now))
	}
	if s.LastError != "" && s.LastErrorAt.After(s.LastSync) {
		line(tr(lang, "Dernier échec : %s, %s — nouvel essai automatique", "Last failure: %s, %s — retrying automatically"), s.LastError, stamp(s.LastErrorAt))
	}

	line(tr(lang, "En attente d'accusé de réception : %d", "Awaiting the recipient's receipt: %d"), s.AwaitingReceipt)
	if s.Refused > 0 {
		line(tr(lang, "Refusés par le hub : %d (voir 'relais agent outbox')", "Refused by the hub: %d (see 'relais agent outbox')"), s.Refused)
	}
	inbox := fmt.Sprintf(tr(lang, "Messages reçus non lus : %d", "Unread received messages: %d"), s.Unread)
	if s.Violations > 0 {
		inbox += fmt.Sprintf(tr(lang, " (%d non conformes, signalés à l'expéditeur)", " (%d non-compliant, reported to the sender)"), s.Violations)
	}
	line("%s", inbox)
	if s.AttachmentsToUpload > 0 {
		line(tr(lang, "Pièces jointes à téléverser : %d (leurs messages partent ensuite)", "Attachments to upload: %d (their messages leave after them)"), s.AttachmentsToUpload)
	}
	if s.AttachmentsToDownload > 0 {
		line(tr(lang, "Pièces jointes reçues à télécharger : %d", "Received attachments to download: %d"), s.AttachmentsToDownload)
	}
	if s.AttachmentsFailed > 0 {
		line(tr(lang, "Pièces jointes impossibles à télécharger : %d", "Attachments that could not be downloaded: %d"), s.AttachmentsFailed)
	}
	if s.Rejected > 0 {
		line(tr(lang, "Messages écartés (signature ou chiffrement invalide) : %d", "Messages discarded (invalid signature or encryption): %d"), s.Rejected)
	}

	switch {
	case !s.OverdueKnown:
		line("%s", tr(lang, "Transferts en retard : inconnu (le hub n'a pas encore été joint)", "Overdue transfers: unknown (the hub was not reached yet)"))
	case s.OverdueLive:
		line(tr(lang, "Transferts en retard (hub, à l'instant) : %d", "Overdue transfers (hub, just now): %d"), len(s.Overdue))
	default:
		line(tr(lang, "Transferts en retard (dernier état connu, %s) : %d", "Overdue transfers (last known, %s): %d"), stamp(s.OverdueAsOf), len(s.Overdue))
	}
	for _, t := range s.Overdue {
		for _, d := range t.Overdue {
			if d.Stage != "reminder" {
				continue
			}
			line(tr(lang, "  %s  %s · %s attendu de %s depuis le %s", "  %s  %s · %s expected from %s since %s"),
				t.Transfer, t.State, d.Timer, d.Party, stamp(d.DueAt))
		}
	}
	return b.String()
}
