package hub

import "sync"

// notifier wakes long-polling inbox readers of one agency when a delivery
// lands. It is a hint: readers re-query the store, and poll it on a timer
// too, so deliveries made by another hub instance are seen as well.
type notifier struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
}

func newNotifier() *notifier { return &notifier{waiters: map[string]chan struct{}{}} }

// wait returns a channel closed at the next delivery to agency.
func (n *notifier) wait(agency string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.waiters[agency]
	if !ok {
		ch = make(chan struct{})
		n.waiters[agency] = ch
	}
	return ch
}

func (n *notifier) notify(agency string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch, ok := n.waiters[agency]; ok {
		close(ch)
		delete(n.waiters, agency)
	}
}
