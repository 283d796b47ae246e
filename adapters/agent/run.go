package agent

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// SyncOnce does one full exchange with the hub: refresh the directory if
// needed, push the outbox, pull the inbox to its end, push the receipts
// that queued, and fetch the overdue transfers. `agent run --once` and
// tests use it; Run is the same work in two loops that never stop.
func (a *Agent) SyncOnce(ctx context.Context) error {
	if err := a.requireKeys(); err != nil {
		return err
	}
	err := a.syncOnce(ctx)
	a.noteOutcome(ctx, err)
	return err
}

func (a *Agent) syncOnce(ctx context.Context) error {
	if err := a.ensureDirectory(ctx); err != nil {
		return err
	}
	if _, err := a.Push(ctx); err != nil {
		return err
	}
	if _, err := a.UploadAttachments(ctx); err != nil {
		return err
	}
	// The messages whose attachments are now uploaded.
	if _, err := a.Push(ctx); err != nil {
		return err
	}
	if _, err := a.Pull(ctx, 0); err != nil {
		return err
	}
	if _, err := a.Push(ctx); err != nil {
		return err
	}
	if _, err := a.DownloadAttachments(ctx); err != nil {
		return err
	}
	a.refreshOverdueQuietly(ctx)
	return nil
}

// refreshOverdueQuietly refreshes the overdue transfers; a failure only
// leaves the last known list in place, it must not hold up the messages.
func (a *Agent) refreshOverdueQuietly(ctx context.Context) {
	if err := a.RefreshOverdue(ctx); err != nil && ctx.Err() == nil {
		a.log.WarnContext(ctx, "overdue transfers not refreshed", "error", errorCode(err))
	}
}

// Run syncs until ctx ends: one loop pushes the outbox (woken by receipts
// the other queues, and polling for items other processes compose), one
// long-polls the inbox, and the attachment lanes upload and download
// files below them. Each backs off on its own after failures, so an inbox
// read failing does not delay outgoing messages, nor the reverse. Run
// returns nil when ctx ends: everything is in the database.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.requireKeys(); err != nil {
		return err
	}
	loops := []func(context.Context){a.pushLoop, a.pullLoop, a.uploadLoop, a.downloadLoop}
	var wg sync.WaitGroup
	wg.Add(len(loops))
	for _, loop := range loops {
		go func() { defer wg.Done(); loop(ctx) }()
	}
	wg.Wait()
	return nil
}

// uploadLoop runs the attachment upload lane: it yields to due messages
// (UploadAttachments returns then) and polls for new work.
func (a *Agent) uploadLoop(ctx context.Context) {
	a.laneLoop(ctx, "upload", func(ctx context.Context) error {
		_, err := a.UploadAttachments(ctx)
		return err
	})
}

// downloadLoop runs the attachment download lane.
func (a *Agent) downloadLoop(ctx context.Context) {
	a.laneLoop(ctx, "download", func(ctx context.Context) error {
		_, err := a.DownloadAttachments(ctx)
		return err
	})
}

// laneLoop runs pass every OutboxPoll, backing off after failures.
func (a *Agent) laneLoop(ctx context.Context, lane string, pass func(context.Context) error) {
	bo := a.opts.Backoff
	for ctx.Err() == nil {
		wait := a.opts.OutboxPoll
		err := pass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = bo.Next()
			a.log.WarnContext(ctx, "attachment lane failed; retrying", "lane", lane, "error", errorCode(err), "retry_in", wait.Round(time.Millisecond))
		default:
			bo.Reset()
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (a *Agent) pushLoop(ctx context.Context) {
	bo := a.opts.Backoff
	for ctx.Err() == nil {
		wait := a.opts.OutboxPoll
		res, err := a.Push(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			a.noteOutcome(ctx, err)
			wait = bo.Next()
			a.log.WarnContext(ctx, "push failed; retrying", "error", errorCode(err), "retry_in", wait.Round(time.Millisecond), "failures", bo.Failures())
		default:
			bo.Reset()
			if res.Sent+res.Refused > 0 {
				a.noteOutcome(ctx, nil)
			}
		}
		select {
		case <-ctx.Done():
		case <-a.wake:
		case <-time.After(wait):
		}
	}
}

func (a *Agent) pullLoop(ctx context.Context) {
	bo := a.opts.Backoff
	var overdueAfter time.Time
	for ctx.Err() == nil {
		err := a.pullRound(ctx, &overdueAfter)
		if ctx.Err() != nil {
			return
		}
		a.noteOutcome(ctx, err)
		if err == nil {
			bo.Reset()
			continue
		}
		wait := bo.Next()
		a.log.WarnContext(ctx, "pull failed; retrying", "error", errorCode(err), "retry_in", wait.Round(time.Millisecond), "failures", bo.Failures())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// pullRound refreshes what is due (directory, overdue transfers every
// OverdueEvery from *overdueAfter on), then reads the inbox, long-polling
// when it is empty.
func (a *Agent) pullRound(ctx context.Context, overdueAfter *time.Time) error {
	if err := a.ensureDirectory(ctx); err != nil {
		return err
	}
	if time.Now().After(*overdueAfter) {
		a.refreshOverdueQuietly(ctx)
		*overdueAfter = time.Now().Add(a.opts.OverdueEvery)
	}
	_, err := a.Pull(ctx, a.opts.InboxWait)
	return err
}

// noteOutcome records, for `agent status` in other processes, the last
// successful exchange with the hub or the last failure's code.
func (a *Agent) noteOutcome(ctx context.Context, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	now := time.Now()
	var kv []string
	if err == nil {
		kv = []string{stateLastSync, formatMillis(now)}
	} else {
		kv = []string{stateLastError, errorCode(err), stateLastErrorAt, formatMillis(now)}
	}
	// Recording must not be cut short by the loop's own cancellation.
	if sErr := a.db.setState(context.WithoutCancel(ctx), now, kv...); sErr != nil {
		a.log.ErrorContext(ctx, "cannot record the sync state", "error", sErr)
	}
}

// RefreshOverdue fetches the agency's transfers with passed deadlines and
// keeps them as the last known list for the status.
func (a *Agent) RefreshOverdue(ctx context.Context) error {
	if err := a.requireKeys(); err != nil {
		return err
	}
	hubID, err := a.hubID(ctx)
	if err != nil {
		return err
	}
	list, err := a.api.overdueTransfers(ctx, hubID)
	if err != nil {
		return err
	}
	if list == nil {
		list = []OverdueTransfer{}
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return err
	}
	now := time.Now()
	return a.db.setState(ctx, now, stateOverdue, string(raw), stateOverdueAt, formatMillis(now))
}
