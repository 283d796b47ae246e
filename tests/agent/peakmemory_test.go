package agent

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// peakMemory follows the peak resident memory (VmHWM in /proc) of the
// processes of a run — the hub, each agent — across restarts: each probe
// names the current process of a role (0 when there is none), and the
// figure kept per role is the highest VmHWM any of its processes reached
// when sampled. A process SIGKILLed between two samples may have peaked
// higher: the figures are lower bounds, so a figure over a bound is a real
// excess.
type peakMemory struct {
	probes map[string]func() int
	// sampling serialises samples: the ticker and a killer may sample at
	// once, and probes keep state (hubProcess).
	sampling sync.Mutex
	mu       sync.Mutex
	peak     map[string]int64
	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// watchPeakMemory samples every interval until stopped.
func watchPeakMemory(interval time.Duration, probes map[string]func() int) *peakMemory {
	p := &peakMemory{probes: probes, peak: map[string]int64{}, stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			p.sample()
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// sample reads every role's current process once; call it also just
// before killing one.
func (p *peakMemory) sample() {
	p.sampling.Lock()
	defer p.sampling.Unlock()
	for role, pid := range p.probes {
		id := pid()
		if id == 0 {
			continue
		}
		hwm, err := vmHWM(id)
		if err != nil {
			continue // gone meanwhile
		}
		p.mu.Lock()
		p.peak[role] = max(p.peak[role], hwm)
		p.mu.Unlock()
	}
}

// halt stops sampling, after a last sample, and returns the peaks; it may
// be called again (from a cleanup).
func (p *peakMemory) halt() map[string]int64 {
	p.stopOnce.Do(func() { close(p.stop) })
	p.done.Wait()
	p.sample()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.peak))
	for k, v := range p.peak {
		out[k] = v
	}
	return out
}

func (p *peakMemory) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for _, role := range []string{"hub", senderID, recipientID} {
		parts = append(parts, fmt.Sprintf("%s %.1f MiB", role, float64(p.peak[role])/(1<<20)))
	}
	return strings.Join(parts, ", ")
}

// vmHWM is a live process's peak resident memory in bytes.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for process %d", pid)
}

// pid is the site's running agent process, 0 when none.
func (s *site) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	if exited, _ := s.proc.done(); exited {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// hubProcess finds the `relais serve` process of a data directory; the
// hub restarts with a new pid, so it is looked up again when the last one
// is gone.
type hubProcess struct {
	data string
	last int
}

func (h *hubProcess) pid() int {
	if h.last != 0 && h.serves(h.last) {
		return h.last
	}
	h.last = 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if id, err := strconv.Atoi(e.Name()); err == nil && h.serves(id) {
			h.last = id
			break
		}
	}
	return h.last
}

func (h *hubProcess) serves(pid int) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	return len(args) > 1 && args[0] == relaisBin && args[1] == "serve" && strings.Contains(string(cmdline), h.data)
}
