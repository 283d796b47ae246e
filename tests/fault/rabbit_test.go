package fault

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rabbitNode is a RabbitMQ node of the fault tests' own: its own name,
// ports and data directory next to the machine's broker, so that killing
// it disturbs no other test running on the machine. It is started the way
// tests/engines.sh starts the shared one (rabbitmq-server -detached, then
// rabbitmqctl wait on the pid file) and shares its Erlang cookie and port
// mapper.
type rabbitNode struct {
	name     string
	port     int
	distPort int
	dir      string
	pidFile  string
	env      []string
}

// newRabbitNode prepares (does not start) a node on free ports below the
// ephemeral range, where no client socket can be sitting on them.
func newRabbitNode() (*rabbitNode, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root to run a RabbitMQ node as the rabbitmq user")
	}
	if _, err := exec.LookPath("rabbitmq-server"); err != nil {
		return nil, errors.New("rabbitmq-server is not installed (tests/engines.sh start installs it)")
	}
	owner, err := user.Lookup("rabbitmq")
	if err != nil {
		return nil, fmt.Errorf("rabbitmq user: %w", err)
	}
	port, err := freeLowPortPair()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "relais-fault-rabbit-")
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, err
		}
	}
	// No plugins: the management plugin would want the shared node's port.
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	err = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
	if err != nil {
		return nil, err
	}
	n := &rabbitNode{
		name: fmt.Sprintf("relais-fault-%d@localhost", os.Getpid()), port: port, distPort: port + 1,
		dir: dir, pidFile: filepath.Join(dir, "rabbit.pid"),
	}
	n.env = append(os.Environ(),
		"RABBITMQ_NODENAME="+n.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(n.distPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+n.pidFile,
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
	)
	return n, nil
}

// freeLowPortPair finds p, p+1 both free in 20000..29998.
func freeLowPortPair() (int, error) {
	start := 20000 + os.Getpid()%4000*2
	for i := 0; i < 2000; i++ {
		p := 20000 + (start-20000+2*i)%9998
		if portFree(p) && portFree(p+1) {
			return p, nil
		}
	}
	return 0, errors.New("no free port pair in 20000..29999")
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// URL is the node's AMQP address for vhost ("" for the default one).
func (n *rabbitNode) URL(vhost string) string {
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/%s", n.port, vhost)
}

// Addr is the node's AMQP listener, host:port.
func (n *rabbitNode) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

func (n *rabbitNode) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = n.env
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return out, nil
}

// ctl runs rabbitmqctl against the node.
func (n *rabbitNode) ctl(args ...string) ([]byte, error) {
	return n.run("rabbitmqctl", append([]string{"-n", n.name}, args...)...)
}

// Start starts the node and returns once it accepts AMQP connections.
func (n *rabbitNode) Start() error {
	// A pid file left by a killed node would have `wait` watch the dead
	// process instead of the new one.
	_ = os.Remove(n.pidFile)
	if _, err := n.run("rabbitmq-server", "-detached"); err != nil {
		return err
	}
	if _, err := n.ctl("wait", "--timeout", "120", n.pidFile); err != nil {
		return fmt.Errorf("%w (log in %s)", err, filepath.Join(n.dir, "log"))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", n.Addr(), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s runs but %s does not accept connections", n.name, n.Addr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *rabbitNode) pid() (int, error) {
	raw, err := os.ReadFile(n.pidFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// Kill sends SIGKILL to the node's Erlang VM (beam.smp) and waits until it
// is gone: no shutdown, no flush, connections cut without a close.
func (n *rabbitNode) Kill() error {
	pid, err := n.pid()
	if err != nil {
		return fmt.Errorf("node pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("beam %d still alive 30 s after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// processAlive is false for a gone or zombie process.
func processAlive(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// Stop stops the node cleanly (rabbitmqctl stop returns once it exited).
func (n *rabbitNode) Stop() error {
	pid, err := n.pid()
	if err != nil || !processAlive(pid) {
		return nil
	}
	_, err = n.ctl("stop", n.pidFile)
	return err
}

// AddVhost creates a vhost guest may use, so each test starts on an empty
// topology; DeleteVhost removes it and everything in it.
func (n *rabbitNode) AddVhost(vhost string) error {
	if _, err := n.ctl("add_vhost", vhost); err != nil {
		return err
	}
	_, err := n.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
	return err
}

func (n *rabbitNode) DeleteVhost(vhost string) error {
	_, err := n.ctl("delete_vhost", vhost)
	return err
}

// Remove stops the node and deletes its data directory.
func (n *rabbitNode) Remove() error {
	err := n.Stop()
	if rmErr := os.RemoveAll(n.dir); err == nil {
		err = rmErr
	}
	return err
}
