// Package baresip runs the baresip softphone as a real user agent in
// tests: headless (no audio device, no terminal), in a temporary
// configuration folder, bounded in time, stopped by its own PID. It is a
// test helper; only tests import it.
//
// A UA is controlled through baresip's ctrl_tcp module (JSON commands in
// netstrings on a loopback port) and observed through its log.
//
//	ua := baresip.Start(t, baresip.Options{Accounts: []baresip.Account{{
//		User: "alice", Password: "secret", Realm: "acme.test", Proxy: edgeAddr, RegInt: 60}}})
//	ua.WaitLog(t, "200 OK", 10*time.Second)
//	ua.Command("dial", "sip:101@acme.test")
//	ua.Stop(5 * time.Second) // SIGTERM: baresip unregisters, then exits
package baresip

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strowger/strowger/test/server"
)

// Binary is the baresip executable looked up in PATH.
const Binary = "baresip"

// ModulePath is where Debian installs baresip's modules.
var ModulePath = "/usr/lib/baresip/modules"

// Available reports whether baresip and its modules are installed.
func Available() bool {
	if _, err := exec.LookPath(Binary); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(ModulePath, "ctrl_tcp.so"))
	return err == nil
}

// SkipIfMissing skips the test when baresip is not installed (scripts/test.sh
// installs it).
func SkipIfMissing(t testing.TB) {
	t.Helper()
	if !Available() {
		t.Skip("baresip is not installed (scripts/test.sh installs it)")
	}
}

// Account is one SIP account of the UA.
type Account struct {
	User, Password string
	// Realm is the SIP domain (the Strowger account's realm).
	Realm string
	// Proxy is the edge's host:port; every request goes there (outbound).
	Proxy string
	// Transport is udp (default) or tcp.
	Transport string
	// RegInt is the registration interval (Expires) in seconds; 0 = 3600.
	RegInt int
	// Params are extra account parameters, e.g. ";answermode=auto".
	Params string
}

func (a Account) line() string {
	// baresip 1.0 refuses ";transport=udp" (ENOSYS): UDP is the default.
	tr := ""
	if a.Transport != "" && a.Transport != "udp" {
		tr = ";transport=" + a.Transport
	}
	reg := a.RegInt
	if reg == 0 {
		reg = 3600
	}
	return fmt.Sprintf("<sip:%s@%s%s>;auth_user=%s;auth_pass=%s;outbound=\"sip:%s%s\";regint=%d%s",
		a.User, a.Realm, tr, a.User, a.Password, a.Proxy, tr, reg, a.Params)
}

// Options describe one baresip process.
type Options struct {
	Accounts []Account
	// Modules are extra modules to load (e.g. "aufile.so" for calls).
	Modules []string
	// Config are extra lines for the config file (e.g. "audio_source aufile,/x.wav").
	Config []string
	// Lifetime bounds the process (baresip -t); default 2 minutes.
	Lifetime time.Duration
	// Trace logs every SIP message (baresip -s) and debug output (-v).
	Trace bool
}

// UA is one running baresip.
type UA struct {
	cmd  *exec.Cmd
	dir  string
	ctrl string // ctrl_tcp address
	log  *server.SyncBuffer
	done chan struct{}

	mu   sync.Mutex
	conn net.Conn
	rd   *bufio.Reader
	seq  int
}

// Start runs baresip with opts in a temporary folder and waits until its
// control port answers. The process is killed (by PID) when the test ends.
func Start(t testing.TB, opts Options) *UA {
	t.Helper()
	SkipIfMissing(t)
	dir := t.TempDir()
	ctrl := freeTCP(t)
	sipPort := freeUDPPort(t)
	cfg := []string{
		"poll_method epoll",
		// Loopback only: the transport must bind where the edge is.
		"net_interface 127.0.0.1",
		"sip_listen 127.0.0.1:" + strconv.Itoa(sipPort),
		"module_path " + ModulePath,
		"module g711.so",
		"module_app account.so",
		"module_app menu.so", // commands: reginfo, dial, accept, hangup, ...
		"module_app ctrl_tcp.so",
		"ctrl_tcp_listen " + ctrl,
		"call_max_calls 8",
	}
	for _, m := range opts.Modules {
		cfg = append(cfg, "module "+m)
	}
	cfg = append(cfg, opts.Config...)
	var accts []string
	for _, a := range opts.Accounts {
		accts = append(accts, a.line())
	}
	write(t, filepath.Join(dir, "config"), strings.Join(cfg, "\n")+"\n")
	write(t, filepath.Join(dir, "accounts"), strings.Join(accts, "\n")+"\n")
	write(t, filepath.Join(dir, "contacts"), "")
	life := opts.Lifetime
	if life == 0 {
		life = 2 * time.Minute
	}
	args := []string{"-f", dir, "-t", strconv.Itoa(int(life.Seconds()))}
	if opts.Trace {
		args = append(args, "-s", "-v")
	}
	cmd := exec.Command(Binary, args...)
	u := &UA{cmd: cmd, dir: dir, ctrl: ctrl, log: &server.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = u.log, u.log
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting baresip: %v", err)
	}
	go func() { _ = cmd.Wait(); close(u.done) }()
	t.Cleanup(u.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ctrl, time.Second)
		if err == nil {
			u.conn, u.rd = c, bufio.NewReader(c)
			return u
		}
		select {
		case <-u.done:
			t.Fatalf("baresip exited at start:\n%s", u.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip control port %s did not open: %v\n%s", ctrl, err, u.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID is the process ID.
func (u *UA) PID() int { return u.cmd.Process.Pid }

// Log is everything baresip printed so far.
func (u *UA) Log() string { return u.log.String() }

// WaitLog waits until the log contains substr (after the first from
// bytes, see LogLen), bounded by timeout.
func (u *UA) WaitLog(substr string, from int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if l := u.Log(); len(l) > from && strings.Contains(l[from:], substr) {
			return nil
		}
		select {
		case <-u.done:
			return fmt.Errorf("baresip exited before logging %q:\n%s", substr, u.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("baresip did not log %q within %s:\n%s", substr, timeout, u.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Wait waits up to timeout for baresip to exit by itself (its Lifetime
// ended, or a command made it quit).
func (u *UA) Wait(timeout time.Duration) error {
	select {
	case <-u.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("baresip did not exit within %s", timeout)
	}
}

// LogLen is the current log length, to wait for lines logged after now.
func (u *UA) LogLen() int { return len(u.Log()) }

// Command sends one ctrl_tcp command and returns its response data.
// Events baresip sends meanwhile are skipped.
func (u *UA) Command(command, params string) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	token := strconv.Itoa(u.seq)
	req, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": token})
	_ = u.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(u.conn, "%d:%s,", len(req), req); err != nil {
		return "", fmt.Errorf("baresip command %s: %w", command, err)
	}
	for {
		msg, err := readNetstring(u.rd)
		if err != nil {
			return "", fmt.Errorf("baresip command %s: %w", command, err)
		}
		var r struct {
			Response bool   `json:"response"`
			OK       bool   `json:"ok"`
			Data     string `json:"data"`
			Token    string `json:"token"`
		}
		if json.Unmarshal(msg, &r) != nil || !r.Response || r.Token != token {
			continue // an event, or an answer to an earlier timed-out command
		}
		if !r.OK {
			return r.Data, fmt.Errorf("baresip command %s %q failed: %s", command, params, r.Data)
		}
		return r.Data, nil
	}
}

// Stop sends SIGTERM (baresip unregisters its accounts, then exits) and
// waits up to timeout; then it kills the process.
func (u *UA) Stop(timeout time.Duration) error {
	if u.conn != nil {
		_ = u.conn.Close()
	}
	_ = u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-u.done:
		return nil
	case <-time.After(timeout):
		u.Kill()
		return errors.New("baresip did not exit after SIGTERM")
	}
}

// Kill ends the process at once (no unregistration) and waits for it.
func (u *UA) Kill() {
	if u.conn != nil {
		_ = u.conn.Close()
	}
	select {
	case <-u.done:
		return
	default:
	}
	_ = u.cmd.Process.Signal(syscall.SIGKILL)
	<-u.done
}

func readNetstring(r *bufio.Reader) ([]byte, error) {
	lenStr, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("bad netstring length %q", lenStr)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("netstring without trailing comma")
	}
	return buf[:n], nil
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freeTCP returns a free loopback TCP address.
func freeTCP(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// freeUDPPort returns a loopback port p free for UDP and TCP, with TCP p+1
// free too: baresip listens on UDP and TCP p and TLS p+1.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		free := true
		for _, q := range []int{port, port + 1} {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		c.Close()
		if free {
			return port
		}
	}
	t.Fatal("no free loopback port for baresip")
	return 0
}
