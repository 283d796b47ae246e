package amqp

import (
	"context"
	"fmt"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// outgoing is one marshalled message on its way to the broker.
type outgoing struct {
	id  string
	ctx context.Context
	pub amqp091.Publishing
}

// confirmChannel is a confirm-mode channel that also listens for returns.
// It is used by one Publish at a time, so every return and confirm it sees
// belongs to the window being published.
type confirmChannel struct {
	conn    *amqp091.Connection
	ch      *amqp091.Channel
	returns chan amqp091.Return
	// broken marks a channel whose state is unknown (failed send, confirm
	// timeout): it is closed instead of going back to the pool, so a late
	// confirm or return can never be mistaken for a later message's.
	broken bool
}

func openConfirmChannel(conn *amqp091.Connection, window int) (*confirmChannel, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: open channel: %w", ErrNotConnected, err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	// The broker sends a message's basic.return before its basic.ack, and
	// the connection's reader goroutine hands returns over in that order,
	// dropping one only if the listener stays full for seconds. With room
	// for a whole window, every return of the window is in this buffer by
	// the time its confirm arrives.
	returns := ch.NotifyReturn(make(chan amqp091.Return, window))
	return &confirmChannel{conn: conn, ch: ch, returns: returns}, nil
}

func (c *confirmChannel) usableOn(conn *amqp091.Connection) bool {
	return !c.broken && c.conn == conn && !c.ch.IsClosed()
}

func (c *confirmChannel) close() {
	if c.broken {
		// channel.close waits for the broker's close-ok, which a broker that
		// stopped answering never sends: do not hold the publish up for it.
		// The goroutine ends at the latest when the connection does.
		go func() { _ = c.ch.Close() }()
		return
	}
	_ = c.ch.Close()
}

// publish sends the window pipelined (mandatory, no wait between messages),
// then waits for all its confirms, then looks at the returns. It returns nil
// only when the broker confirmed every message and returned none.
func (c *confirmChannel) publish(exchange, routingKey string, window []outgoing, timeout time.Duration) error {
	confirms := make([]*amqp091.DeferredConfirmation, 0, len(window))
	for _, o := range window {
		dc, err := c.ch.PublishWithDeferredConfirmWithContext(o.ctx, exchange, routingKey, true, false, o.pub)
		if err != nil {
			c.broken = true
			return fmt.Errorf("send message %s: %w", o.id, err)
		}
		confirms = append(confirms, dc)
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var nacked []string
	for i, dc := range confirms {
		ack, err := dc.WaitContext(ctx)
		if err != nil {
			c.broken = true
			return fmt.Errorf("%w: %d of %d messages unconfirmed after %s", ErrConfirmTimeout, len(confirms)-i, len(confirms), timeout)
		}
		if !ack {
			nacked = append(nacked, window[i].id)
		}
	}
	if len(nacked) > 0 {
		// A closing channel releases its pending confirms as negative ones.
		if c.ch.IsClosed() {
			c.broken = true
			return fmt.Errorf("%w: %d of %d messages, first %s", ErrNotConfirmed, len(nacked), len(window), nacked[0])
		}
		return fmt.Errorf("%w: %d of %d messages, first %s", ErrNacked, len(nacked), len(window), nacked[0])
	}

	var returned []amqp091.Return
drain:
	for {
		select {
		case r, open := <-c.returns:
			if !open {
				break drain
			}
			returned = append(returned, r)
		default:
			break drain
		}
	}
	if len(returned) > 0 {
		r := returned[0]
		return fmt.Errorf("%w: %d of %d messages (%d %s), first %s", ErrUnroutable, len(returned), len(window), r.ReplyCode, r.ReplyText, r.MessageId)
	}
	return nil
}

// channelPool keeps up to size confirm channels on the current connection.
// Channels of a previous connection are discarded as they come back, which
// is how the pool follows the library's reconnections.
type channelPool struct {
	window  int
	slots   chan struct{}        // one token per channel in use
	idle    chan *confirmChannel // open channels waiting for a publish
	closing chan struct{}
}

func newChannelPool(size, window int) *channelPool {
	return &channelPool{
		window:  window,
		slots:   make(chan struct{}, size),
		idle:    make(chan *confirmChannel, size),
		closing: make(chan struct{}),
	}
}

func (p *channelPool) acquire(conn *amqp091.Connection) (*confirmChannel, error) {
	select {
	case p.slots <- struct{}{}:
	case <-p.closing:
		return nil, ErrClosed
	}
	for {
		select {
		case c := <-p.idle:
			if c.usableOn(conn) {
				return c, nil
			}
			c.close()
		default:
			c, err := openConfirmChannel(conn, p.window)
			if err != nil {
				<-p.slots
				return nil, err
			}
			return c, nil
		}
	}
}

func (p *channelPool) release(c *confirmChannel) {
	if c.broken || c.ch.IsClosed() {
		c.close()
	} else {
		p.idle <- c
	}
	<-p.slots
}

// close closes the idle channels; callers make sure no publish is running.
func (p *channelPool) close() {
	close(p.closing)
	for {
		select {
		case c := <-p.idle:
			c.close()
		default:
			return
		}
	}
}
