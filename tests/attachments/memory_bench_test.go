package attachments

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/relais-hub/relais/tests/internal/relaistest"
)

// peakLimit is the bound on the peak memory of the hub and of each
// client process while a 50 MiB attachment moves.
const peakLimit = 64 << 20

// BenchmarkPeakMemoryMoving50MiB sends a 50 MiB file with `relais send
// --attach` and receives it with `relais inbox --save-attachments`, each
// a process of its own, through a `relais serve` process, and prints the
// peak resident memory of the three: VmHWM from /proc for the hub, the
// maximum resident set size (the same figure, kept by the kernel after
// exit) for the two clients.
//
//	go test ./tests/attachments -run '^$' -bench PeakMemory -benchtime 1x
func BenchmarkPeakMemoryMoving50MiB(b *testing.B) {
	for range b.N {
		w := newWorld(b)
		hubPID := hubProcessID(b, w.hub.Data)
		hubIdle := vmHWM(b, hubPID)
		const size = 50 << 20
		dir := b.TempDir()
		path, want := randomFile(b, dir, size)
		draft, _ := json.Marshal(referralDraft("CI-ABJ-2026-0701"))
		draftPath := filepath.Join(dir, "draft.json")
		if err := os.WriteFile(draftPath, draft, 0o600); err != nil {
			b.Fatal(err)
		}

		sendPeak := runMeasured(b, "send", "--hub", w.hub.URL(), "--keys", w.keyDirs[senderID], "--lang", "en", "--file", draftPath, "--attach", path)
		saveDir := filepath.Join(dir, "received")
		inboxPeak := runMeasured(b, "inbox", "--hub", w.hub.URL(), "--keys", w.keyDirs[recipientID], "--lang", "en", "--save-attachments", saveDir)
		hubPeak := vmHWM(b, hubPID)

		got := receivedDigest(b, saveDir, filepath.Base(path))
		if got != want {
			b.Fatalf("the received file hashes to %s, the original to %s", got, want)
		}
		b.ReportMetric(float64(hubPeak)/(1<<20), "hub-peak-MiB")
		b.ReportMetric(float64(sendPeak)/(1<<20), "sender-peak-MiB")
		b.ReportMetric(float64(inboxPeak)/(1<<20), "recipient-peak-MiB")
		fmt.Printf("moving a 50 MiB attachment: peak memory of relais serve %.1f MiB (%.1f MiB before), of relais send %.1f MiB, of relais inbox %.1f MiB (bound %d MiB each)\n",
			float64(hubPeak)/(1<<20), float64(hubIdle)/(1<<20), float64(sendPeak)/(1<<20), float64(inboxPeak)/(1<<20), peakLimit>>20)
		for name, peak := range map[string]int64{"relais serve": hubPeak, "relais send": sendPeak, "relais inbox": inboxPeak} {
			if peak > peakLimit {
				b.Errorf("%s peaked at %d MiB, over the %d MiB bound", name, peak>>20, peakLimit>>20)
			}
		}
	}
}

// runMeasured runs the CLI and returns its peak resident memory in bytes.
func runMeasured(b *testing.B, args ...string) int64 {
	b.Helper()
	cmd := exec.Command(relaisBin, args...)
	cmd.Env = relaistest.CleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("relais %s: %v\n%s", args[0], err, out)
	}
	usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage for the process")
	}
	return usage.Maxrss << 10 // Linux reports kilobytes
}

// hubProcessID finds the `relais serve` process serving data.
func hubProcessID(b *testing.B, data string) int {
	b.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 1 && args[0] == relaisBin && args[1] == "serve" && strings.Contains(string(cmdline), data) {
			return pid
		}
	}
	b.Fatal("the hub process is not in /proc")
	return 0
}

// vmHWM is a live process's peak resident memory in bytes.
func vmHWM(b *testing.B, pid int) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

// receivedDigest hashes the one file saved under dir/<message id>/name.
func receivedDigest(b *testing.B, dir, name string) string {
	b.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "*", name))
	if len(matches) != 1 {
		b.Fatalf("found %d received copies of %s under %s", len(matches), name, dir)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
