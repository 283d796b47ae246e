package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relais-hub/relais/adapters/agent"
	"github.com/relais-hub/relais/contracts"
	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// BenchmarkAgentPeakMemoryMoving50MiB is the memory bound for the
// site agent itself (tests/attachments measures `relais send` and `relais
// inbox`): a 50 MiB scan is composed with `relais agent compose --attach`,
// uploaded by the sender's `relais agent run`, downloaded and decrypted by
// the recipient's, through `relais serve`, all on loopback. It prints the
// peak resident memory of each process: VmHWM from /proc for the three
// that keep running (exact: none is restarted), the kernel's maximum
// resident set size for the compose process, which has exited.
//
//	go test ./tests/agent -run '^$' -bench AgentPeakMemory -benchtime 1x
func BenchmarkAgentPeakMemoryMoving50MiB(b *testing.B) {
	for range b.N {
		root := b.TempDir()
		hub := relaistest.StartServe(b, b, relaisBin, relaistest.FreeAddr(b), filepath.Join(root, "hub-data"), filepath.Join(root, "hub.log"))
		token, err := os.ReadFile(filepath.Join(hub.Data, "admin.token"))
		if err != nil {
			b.Fatal(err)
		}
		ci := benchSite(b, root, senderID, hub.URL(), strings.TrimSpace(string(token)))
		ml := benchSite(b, root, recipientID, hub.URL(), strings.TrimSpace(string(token)))
		for _, s := range []*site{ci, ml} {
			if err := s.start(); err != nil {
				b.Fatal(err)
			}
		}
		relaistest.Eventually(b, 30*time.Second, 50*time.Millisecond, func() error {
			for _, s := range []*site{ci, ml} {
				if st := statusOf(b, s); st.LastSync.IsZero() {
					return fmt.Errorf("%s has not reached the hub yet", s.ID)
				}
			}
			return nil
		})
		hubPID := (&hubProcess{data: hub.Data}).pid()
		hubIdle, _ := vmHWM(hubPID)

		files := writeOriginals(b, root, 1, 50<<20, rand.New(rand.NewPCG(1, 2)))
		files[0].MessageID = contracts.NewMessageID()
		draft := filepath.Join(root, "with-50mib-scan.json")
		raw, err := json.Marshal(referralDraft(files[0].MessageID, "CI-ABJ-2026-0050"))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(draft, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		composePeak := composeMeasured(b, ci, draft, files[0].Path)
		relaistest.Eventually(b, 5*time.Minute, 100*time.Millisecond, func() error {
			return downloaded(b, ml, files[0].MessageID)
		})
		peaks := map[string]int64{"compose": composePeak}
		for role, pid := range map[string]int{"hub": hubPID, "sender agent": ci.pid(), "recipient agent": ml.pid()} {
			if peaks[role], err = vmHWM(pid); err != nil {
				b.Fatalf("%s: %v", role, err)
			}
		}
		if chk := assertAttachmentsArrivedOnce(b, hub.Data, ml, files); chk.Verified != 1 {
			b.Fatalf("the 50 MiB scan did not arrive byte-identical")
		}
		b.ReportMetric(float64(peaks["hub"])/(1<<20), "hub-peak-MiB")
		b.ReportMetric(float64(peaks["sender agent"])/(1<<20), "sender-agent-peak-MiB")
		b.ReportMetric(float64(peaks["recipient agent"])/(1<<20), "recipient-agent-peak-MiB")
		b.ReportMetric(float64(peaks["compose"])/(1<<20), "compose-peak-MiB")
		fmt.Printf("moving a 50 MiB attachment between agents: peak memory of relais serve %.1f MiB (%.1f MiB idle), "+
			"of relais agent compose %.1f MiB, of the sender's relais agent run %.1f MiB, of the recipient's %.1f MiB (bound 64 MiB each)\n",
			float64(peaks["hub"])/(1<<20), float64(hubIdle)/(1<<20), float64(peaks["compose"])/(1<<20),
			float64(peaks["sender agent"])/(1<<20), float64(peaks["recipient agent"])/(1<<20))
		for role, peak := range peaks {
			if peak > 64<<20 {
				b.Errorf("%s peaked at %.1f MiB, over the 64 MiB bound", role, float64(peak)/(1<<20))
			}
		}
	}
}

// benchSite is newSite for a benchmark: `relais agent init` and
// `relais agent register`, agents dialling the hub directly.
func benchSite(b *testing.B, root, id, hubURL, adminToken string) *site {
	b.Helper()
	s := &site{ID: id, Dir: filepath.Join(root, id), Log: filepath.Join(root, id+".log"), HubURL: hubURL}
	relaistest.MustRun(b, relaisBin, "agent", "init", "--dir", s.Dir, "--id", id, "--hub", hubURL)
	relaistest.MustRun(b, relaisBin, "agent", "register", "--dir", s.Dir, "--name", id, "--admin-token", adminToken)
	b.Cleanup(s.stop)
	return s
}

// openSite is site.open for benchmarks too.
func openSite(tb testing.TB, s *site) *agent.Agent {
	tb.Helper()
	a, err := agent.Open(context.Background(), s.Dir, agent.Options{WithoutKeys: true})
	if err != nil {
		tb.Fatalf("open %s: %v", s.ID, err)
	}
	return a
}

func statusOf(tb testing.TB, s *site) agent.Status {
	tb.Helper()
	a := openSite(tb, s)
	defer a.Close()
	st, err := a.Status(context.Background(), false)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// downloaded tells whether the site stored the message and every file it
// carries; a file given up fails the benchmark.
func downloaded(tb testing.TB, s *site, id string) error {
	tb.Helper()
	a := openSite(tb, s)
	defer a.Close()
	r, err := a.Read(context.Background(), id)
	if err != nil {
		return fmt.Errorf("%s: %w", s.ID, err)
	}
	for _, at := range r.Attachments {
		if at.Failed != "" {
			tb.Fatalf("%s gave attachment %s up: %s", s.ID, at.ID, at.Failed)
		}
		if at.Downloaded.IsZero() {
			return fmt.Errorf("%s has not downloaded %s yet", s.ID, at.ID)
		}
	}
	return nil
}

// composeMeasured composes the draft with the file attached and returns
// the compose process's peak resident memory.
func composeMeasured(b *testing.B, s *site, draft, file string) int64 {
	b.Helper()
	p, err := startProcess(s.Log, "agent", "compose", "--dir", s.Dir, "--file", draft, "--attach", file)
	if err != nil {
		b.Fatal(err)
	}
	<-p.exited
	if !p.cmd.ProcessState.Success() {
		b.Fatalf("compose failed (see %s)", s.Log)
	}
	usage, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage for the compose process")
	}
	return usage.Maxrss << 10 // Linux reports kilobytes
}
