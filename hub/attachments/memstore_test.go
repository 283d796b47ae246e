package attachments

import (
	"context"
	"sort"
	"sync"
	"time"
)

// memMeta is an in-memory MetaStore for the service's tests; the SQL one
// (adapters/sqlstore) is exercised end to end in tests/attachments.
type memMeta struct {
	mu      sync.Mutex
	records map[string]Record
	links   []Link
	// receipted and erased stand for the hub's messages and transfers.
	receipted map[string]time.Time
	erased    map[string]bool
}

func newMemMeta() *memMeta {
	return &memMeta{records: map[string]Record{}, receipted: map[string]time.Time{}, erased: map[string]bool{}}
}

func (m *memMeta) CreateAttachment(_ context.Context, r Record) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.records[r.ID]; ok {
		return old, false, nil
	}
	m.records[r.ID] = r
	return r, true, nil
}

func (m *memMeta) Attachment(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[id]
	if !ok {
		return Record{}, ErrNotFound
	}
	return r, nil
}

func (m *memMeta) SetAttachmentOffset(_ context.Context, id string, offset int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[id]
	r.Offset, r.UpdatedAt = offset, at
	m.records[id] = r
	return nil
}

func (m *memMeta) SetAttachmentState(_ context.Context, id string, state State, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[id]
	r.State, r.UpdatedAt = state, at
	m.records[id] = r
	return nil
}

func (m *memMeta) DeleteAttachment(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, id)
	return nil
}

func (m *memMeta) AttachmentLinks(_ context.Context, id string) ([]Link, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Link
	for _, l := range m.links {
		if l.AttachmentID == id {
			out = append(out, l)
		}
	}
	return out, nil
}

func (m *memMeta) AbandonedAttachments(_ context.Context, before time.Time, limit int) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.records {
		linked := false
		for _, l := range m.links {
			linked = linked || l.AttachmentID == r.ID
		}
		if r.UpdatedAt.Before(before) && (r.State == StateUploading || r.State == StateComplete && !linked) {
			out = append(out, r)
		}
	}
	return out[:min(len(out), limit)], nil
}

func (m *memMeta) ErasedAttachments(_ context.Context, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, l := range m.links {
		if m.erased[l.Transfer] && m.records[l.AttachmentID].State != StateDeleted {
			out = append(out, l.AttachmentID)
		}
	}
	return out[:min(len(out), limit)], nil
}

func (m *memMeta) LinkedComplete(_ context.Context, limit int) ([]LinkedMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []LinkedMessage
	for _, l := range m.links {
		if m.records[l.AttachmentID].State == StateComplete {
			out = append(out, LinkedMessage{Link: l, ReceiptedAt: m.receipted[l.MessageID]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AttachmentID < out[j].AttachmentID })
	return out[:min(len(out), limit)], nil
}

// LinkAttachment makes memMeta a TxStore too.
func (m *memMeta) LinkAttachment(_ context.Context, l Link) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links = append(m.links, l)
	return nil
}
