package e2e

import (
	"context"
	be "encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strowger/strowger/test/server"
	"github.com/strowger/strowger/test/sipp"
)

// This file holds what the call tests share: a tenant provisioned through
// the API, SIPp runs, an RTP peer that checks audio, CDR and channel reads.

// sippDir is the folder of the SIPp scenarios, absolute: SIPp runs in
// each test's temporary folder.
var sippDir = func() string {
	d, err := filepath.Abs(filepath.Join("..", "sipp"))
	if err != nil {
		panic(err)
	}
	return d
}()

// needSIPp skips a test when SIPp is not installed (scripts/test.sh
// installs it, so CI runs these tests).
func needSIPp(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (scripts/test.sh installs it: apt-get install sip-tester)")
	}
}

// freeUDPPort asks the OS for a free loopback UDP port.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitFor polls cond every 50 ms until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNode runs `strowger serve` with exactly args (no defaults added)
// and waits until its log says it started; for processes without the api
// role, which start cannot wait on.
func startNode(t *testing.T, args ...string) *proc {
	t.Helper()
	p := server.Spawn(t, binary, append([]string{"--log-level", "info"}, args...)...)
	p.WaitLog(t, "strowger started")
	return &proc{Proc: p}
}

// tenant is an account with two phones and an extension that rings the
// callee, created through the API as a provider's scripts would.
type tenant struct {
	c                      *client
	account, realm         string
	caller, callee         string // SIP usernames
	callerPW, calleePW     string
	callerDev, calleeDev   string
	number                 string // dials the callee
	callerCSV, registerCSV string // SIPp injection files
}

func provisionTenant(t *testing.T, c *client, master, realm, dir string) *tenant {
	t.Helper()
	ctx := context.Background()
	mustCreate := func(path string, data map[string]any) string {
		t.Helper()
		code, env, err := c.Request(ctx, http.MethodPut, "/v2"+path, data)
		if err != nil || code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v %v", path, code, err, env)
		}
		return field(env, "data", "id").(string)
	}
	tn := &tenant{c: c, realm: realm, caller: "sippcaller", callee: "sippcallee",
		callerPW: "callerSecret42", calleePW: "calleeSecret42", number: "2000"}
	tn.account = mustCreate("/accounts/"+master, map[string]any{"name": "Calls " + realm, "realm": realm})
	base := "/accounts/" + tn.account
	tn.callerDev = mustCreate(base+"/devices", map[string]any{"name": "caller",
		"sip":       map[string]any{"username": tn.caller, "password": tn.callerPW},
		"caller_id": map[string]any{"internal": map[string]any{"name": "Caller", "number": "1000"}}})
	tn.calleeDev = mustCreate(base+"/devices", map[string]any{"name": "callee",
		"sip":       map[string]any{"username": tn.callee, "password": tn.calleePW},
		"caller_id": map[string]any{"internal": map[string]any{"name": "Callee", "number": tn.number}}})
	mustCreate(base+"/callflows", map[string]any{"name": "callee", "numbers": []any{tn.number},
		"flow": map[string]any{"module": "device", "data": map[string]any{"id": tn.calleeDev, "timeout": 20}}})

	tn.callerCSV = filepath.Join(dir, "caller.csv")
	tn.registerCSV = filepath.Join(dir, "callee-reg.csv")
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tn.callerCSV, fmt.Sprintf("SEQUENTIAL\n%s;[authentication username=%s password=%s];%s;%s\n",
		tn.caller, tn.caller, tn.callerPW, tn.number, realm))
	write(tn.registerCSV, fmt.Sprintf("SEQUENTIAL\n%s;[authentication username=%s password=%s];%s\n",
		tn.callee, tn.callee, tn.calleePW, realm))
	return tn
}

// runSIPp runs sipp in dir with a hard time limit and returns its output;
// it fails the test when sipp does not exit 0.
func runSIPp(t *testing.T, dir string, limit time.Duration, args ...string) string {
	t.Helper()
	out, err := sippCmd(dir, limit, args...)
	if err != nil {
		t.Fatalf("sipp %s: %v\n%s\n%s", strings.Join(args, " "), err, out, sippErrors(dir))
	}
	return out
}

func sippCmd(dir string, limit time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return sippCtx(ctx, dir, args...)
}

// goSIPp starts sipp in the background for at most limit; wait returns
// its output and error. The test's cleanup stops it if it still runs, so
// a failing test leaves no SIPp behind.
func goSIPp(t *testing.T, dir string, limit time.Duration, args ...string) (wait func() (string, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	type result struct {
		out string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := sippCtx(ctx, dir, args...)
		ch <- result{out, err}
	}()
	var once sync.Once
	var r result
	wait = func() (string, error) {
		once.Do(func() { r = <-ch; cancel() })
		return r.out, r.err
	}
	t.Cleanup(func() { cancel(); _, _ = wait() })
	return wait
}

func sippCtx(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "sipp", append(args, "-nostdin", "-trace_err")...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sippErrors returns the tail of SIPp's error logs in dir.
func sippErrors(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if len(raw) > 4000 {
			raw = raw[len(raw)-4000:]
		}
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(f), raw)
	}
	return b.String()
}

// registerCallee registers the callee from 127.0.0.1:port with digest.
func registerCallee(t *testing.T, tn *tenant, edge string, port int, dir string) {
	t.Helper()
	runSIPp(t, dir, 30*time.Second, edge, "-sf", filepath.Join(sippDir, "reg-digest.xml"),
		"-inf", tn.registerCSV, "-auth_uri", tn.realm, "-i", "127.0.0.1", "-p", fmt.Sprint(port),
		"-m", "1", "-recv_timeout", "10000")
}

// probePayload is what the callee's RTP peer sends; the caller (SIPp with
// -rtp_echo) sends it back, so its return proves both directions.
var probePayload = func() []byte {
	b := make([]byte, sipp.FrameSamples)
	for i := range b {
		b[i] = 0x55
	}
	return b
}()

// rtpPeer is the callee's media endpoint: it records which sweep frames
// arrive, answers each with a probe packet to the sender (symmetric RTP),
// and counts the probes that come back.
type rtpPeer struct {
	conn    *net.UDPConn
	frames  map[string]int
	mu      sync.Mutex
	got     []int // sweep frame indexes in arrival order
	probes  int   // probes sent
	echoed  int   // probes received back
	other   int   // packets that are neither
	sources map[string]bool
	done    chan struct{}
}

func newRTPPeer(t *testing.T) *rtpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{conn: c, frames: map[string]int{}, sources: map[string]bool{}, done: make(chan struct{})}
	for i, f := range sipp.SweepFramesPCMU() {
		p.frames[string(f)] = i
	}
	go p.run()
	t.Cleanup(p.close)
	return p
}

func (p *rtpPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *rtpPeer) close() {
	_ = p.conn.Close()
	<-p.done
}

func (p *rtpPeer) run() {
	defer close(p.done)
	buf := make([]byte, 2048)
	var seq uint16
	out := make([]byte, 12+len(probePayload))
	out[0] = 0x80
	be.BigEndian.PutUint32(out[8:], 0x0bad0bad)
	copy(out[12:], probePayload)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 || buf[1]&0x7f >= 72 && buf[1]&0x7f <= 76 {
			continue // not RTP, or RTCP
		}
		payload := string(buf[12:n])
		p.mu.Lock()
		p.sources[from.String()] = true
		idx, isFrame := p.frames[payload]
		switch {
		case isFrame:
			p.got = append(p.got, idx)
			p.probes++
			seq++
			be.BigEndian.PutUint16(out[2:], seq)
			be.BigEndian.PutUint32(out[4:], uint32(seq)*sipp.FrameSamples)
			_, _ = p.conn.WriteToUDP(out, from)
		case payload == string(probePayload):
			p.echoed++
		default:
			p.other++
		}
		p.mu.Unlock()
	}
}

// check asserts the sweep arrived (at most maxLossPct lost, in order) and
// the probes came back (at most maxLossPct lost), from an anchored
// address: a port in [rtpLow, rtpHigh].
func (p *rtpPeer) check(t *testing.T, maxLossPct, rtpLow, rtpHigh int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 1; i < len(p.got); i++ {
		if p.got[i] <= p.got[i-1] {
			t.Fatalf("sweep frames out of order or repeated: %d after %d", p.got[i], p.got[i-1])
		}
	}
	minFrames := sipp.SweepFrames * (100 - maxLossPct) / 100
	if len(p.got) < minFrames {
		t.Fatalf("callee heard %d of %d caller frames (want ≥ %d); %d other packets", len(p.got), sipp.SweepFrames, minFrames, p.other)
	}
	if p.echoed < p.probes*(100-maxLossPct)/100 {
		t.Fatalf("caller returned %d of %d callee probes", p.echoed, p.probes)
	}
	for src := range p.sources {
		ap, err := net.ResolveUDPAddr("udp4", src)
		if err != nil || !ap.IP.IsLoopback() || ap.Port < rtpLow || ap.Port > rtpHigh {
			t.Fatalf("RTP came from %s, not from the media node's ports %d-%d: media is not anchored", src, rtpLow, rtpHigh)
		}
	}
	t.Logf("callee heard %d/%d caller frames, caller returned %d/%d callee probes, from %v",
		len(p.got), sipp.SweepFrames, p.echoed, p.probes, p.sources)
}

// heard is how many sweep frames have arrived so far.
func (p *rtpPeer) heard() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

// cdrs lists the account's CDRs (the last day).
func (tn *tenant) cdrs(t *testing.T) []map[string]any {
	t.Helper()
	code, env, err := tn.c.Request(context.Background(), http.MethodGet, "/v2/accounts/"+tn.account+"/cdrs?paginate=false", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET cdrs: %d %v %v", code, err, env)
	}
	var out []map[string]any
	for _, v := range env["data"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

// channels lists the account's live calls.
func (tn *tenant) channels(t *testing.T) []any {
	t.Helper()
	code, env, err := tn.c.Request(context.Background(), http.MethodGet, "/v2/accounts/"+tn.account+"/channels", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET channels: %d %v %v", code, err, env)
	}
	l, _ := env["data"].([]any)
	return l
}

// waitCDRs polls until the account has at least n CDRs.
func (tn *tenant) waitCDRs(t *testing.T, n int, timeout time.Duration) []map[string]any {
	t.Helper()
	var got []map[string]any
	if !waitFor(timeout, func() bool { got = tn.cdrs(t); return len(got) >= n }) {
		t.Fatalf("%d CDRs after %s, want %d: %v", len(got), timeout, n, got)
	}
	return got
}

// checkCallCDRs checks the two legs of one answered, normally cleared call.
func checkCallCDRs(t *testing.T, tn *tenant, legs []map[string]any, minBilled int64) {
	t.Helper()
	if len(legs) != 2 {
		t.Fatalf("%d CDRs for one call, want one per leg: %v", len(legs), legs)
	}
	byDir := map[string]map[string]any{}
	for _, l := range legs {
		d, _ := l["call_direction"].(string)
		byDir[d] = l
		for _, k := range []string{"id", "call_id", "media_server", "hangup_cause", "hangup_code"} {
			if s, _ := l[k].(string); s == "" {
				t.Fatalf("CDR lacks %s: %v", k, l)
			}
		}
		if l["hangup_cause"] != "NORMAL_CLEARING" {
			t.Fatalf("hangup_cause %v, want NORMAL_CLEARING: %v", l["hangup_cause"], l)
		}
		if b := number(l["billing_seconds"]); b < minBilled {
			t.Fatalf("billing_seconds %d, want ≥ %d: %v", b, minBilled, l)
		}
		if ccv, _ := l["custom_channel_vars"].(map[string]any); ccv["account_id"] != tn.account {
			t.Fatalf("custom_channel_vars.account_id %v, want %s", ccv["account_id"], tn.account)
		}
	}
	in, out := byDir["inbound"], byDir["outbound"]
	if in == nil || out == nil {
		t.Fatalf("want an inbound and an outbound leg: %v", legs)
	}
	if in["other_leg_call_id"] != out["call_id"] || out["other_leg_call_id"] != in["call_id"] {
		t.Fatalf("legs do not name each other: inbound %v ↔ outbound %v", in["other_leg_call_id"], out["other_leg_call_id"])
	}
}

func number(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case int64:
		return x
	}
	return -1
}

// needMediaRole skips a call test on a build whose serve has no media
// role flags (the B2BUA not yet merged); with the media role it always runs.
func needMediaRole(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(binary, "serve", "-h").CombinedOutput()
	if !strings.Contains(string(out), "-rtp-ports") {
		t.Skip("this build's serve has no --rtp-ports: no media role to call through")
	}
}
