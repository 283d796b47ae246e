package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrNoDirectory is returned when a message must be sealed or opened but
// the agent never obtained the hub's directory (the recipients' public
// keys): it needs to reach the hub once.
var ErrNoDirectory = errors.New("the hub directory was never synchronised: connect once and run 'relais agent run'")

// localDirectory is the transport of the agent's agency.Client. The client
// resolves recipients' encryption keys and senders' signing keys through
// GET /v1/directory; the agent answers that from the last copy it synced,
// so composing works offline and opening a message costs no round trip.
// Every other request is refused: the agent's network exchanges all go
// through hubAPI, where retries and the inbox cursor are handled.
type localDirectory struct {
	load func(ctx context.Context) ([]byte, error)
}

func isDirectoryRequest(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/v1/directory")
}

func (l localDirectory) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	if !isDirectoryRequest(r) {
		return nil, fmt.Errorf("agent: %s %s is not answered locally", r.Method, r.URL.Path)
	}
	raw, err := l.load(r.Context())
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Date": {time.Now().UTC().Format(http.TimeFormat)}},
		Body:          io.NopCloser(bytes.NewReader(raw)),
		ContentLength: int64(len(raw)),
		Request:       r,
	}, nil
}

// directoryThenNetwork is the transport of the client that moves
// attachments: the directory from the local copy (its tokens need the hub's
// id), attachment requests to the network.
type directoryThenNetwork struct {
	local localDirectory
	next  http.RoundTripper
}

func (t directoryThenNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	if isDirectoryRequest(r) {
		return t.local.RoundTrip(r)
	}
	return t.next.RoundTrip(r)
}
