// Package config is how one Strowger process runs: flags, each also
// settable as a STROWGER_* environment variable, with defaults and checks.
// Only cli and node import it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strowger/strowger/internal/media"
)

// Roles a node can run.
const (
	RoleNATS  = "nats"
	RoleAPI   = "api"
	RoleEdge  = "edge"
	RoleMedia = "media"
)

// AllRoles is the default: everything in one process.
var AllRoles = []string{RoleNATS, RoleAPI, RoleEdge, RoleMedia}

// Config is one process's configuration.
type Config struct {
	DataDir      string
	HTTPAddr     string
	SIPAddr      string
	Roles        []string
	NATSURL      string
	NATSListen   string
	MasterAPIKey string
	Demo         bool
	LogLevel     string
	NodeName     string
	// PprofAddr, when set, serves Go's runtime profiles (net/http/pprof)
	// there: goroutines, heap, CPU. Keep it on loopback.
	PprofAddr string
	// Fsync is "always" (acknowledged writes are on disk: group commit),
	// "per-write" (JetStream fsyncs each message) or "interval" (every
	// FsyncInterval, as "--fsync 100ms" sets it).
	Fsync string
	// FsyncInterval is the period of Fsync "interval".
	FsyncInterval time.Duration
	// RTPIP is the media role's RTP address (SDP and sockets); RTPPortLow
	// and RTPPortHigh its UDP range (--rtp-ports LOW-HIGH); RTPTimeout ends
	// calls whose media stopped.
	RTPIP                   netip.Addr
	RTPPortLow, RTPPortHigh int
	RTPTimeout              time.Duration
	// RTPEngine is the relay's packet engine (--rtp-engine): "auto" (epoll
	// on Linux), "epoll" or "goroutines".
	RTPEngine string
	// SIPAllow lists the CIDRs (carriers, monitors, load generators) the
	// SIP edge never bans nor rate limits ("--sip-allow").
	SIPAllow []string
	// SIPMinExpires is the shortest registration the edge accepts, in
	// seconds ("--sip-min-expires"; 423 below it).
	SIPMinExpires int
	// SIPDigest lists the digest algorithms the edge offers, in order
	// ("--sip-digest"): MD5 and/or SHA-256.
	SIPDigest []string
	// Overload bounds of the media role; past any of them a new INVITE
	// gets 503 with Retry-After (and the edge tries another media node).
	// 0 disables a bound. MaxSetupCalls bounds the calls not yet ringing
	// nor answered ("--max-setup-calls"), MinFreeRTPPairs is the floor of
	// free RTP port pairs ("--min-free-rtp-pairs"), MaxCalls bounds the
	// live calls of the node ("--max-calls").
	MaxSetupCalls, MinFreeRTPPairs, MaxCalls int
}

// Has reports whether the process runs a role.
func (c *Config) Has(role string) bool { return slices.Contains(c.Roles, role) }

// Parse reads flags (args, without the program and subcommand names) over
// the environment (env, as os.Environ lists it) over defaults.
func Parse(name string, args []string, env []string) (*Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &Config{}
	var roles, fsync, rtpIP, rtpPorts, sipAllow, sipDigest string
	fs.StringVar(&c.DataDir, "data", "./data", "data folder (JetStream store, master key)")
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8000", "REST API listen address")
	fs.StringVar(&c.SIPAddr, "sip", "127.0.0.1:5060", "SIP edge listen address (UDP and TCP)")
	fs.StringVar(&roles, "roles", strings.Join(AllRoles, ","), "roles to run: nats,api,edge,media")
	fs.StringVar(&c.NATSURL, "nats", "", "external NATS URL (instead of the embedded server)")
	fs.StringVar(&c.NATSListen, "nats-listen", "", "address where the embedded NATS also accepts other nodes and clients")
	fs.StringVar(&c.MasterAPIKey, "master-api-key", "", "the master account's API key (generated on first start when empty)")
	fs.BoolVar(&c.Demo, "demo", false, "create a demo account with users, phones, extensions and a voicemail box")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.NodeName, "node-name", "", "this node's name (default: host name and API port)")
	fs.StringVar(&c.PprofAddr, "pprof", "", "address serving runtime profiles at /debug/pprof/ (off when empty; keep it on loopback)")
	fs.StringVar(&fsync, "fsync", "always", "embedded JetStream disk sync: 'always' (acknowledged writes are on disk, flushed in groups), 'per-write' (one fsync per message) or an interval such as 100ms")
	fs.StringVar(&rtpIP, "rtp-ip", "127.0.0.1", "media role: IP address for RTP, announced in SDP")
	fs.StringVar(&rtpPorts, "rtp-ports", "16384-32767", "media role: UDP port range LOW-HIGH for RTP/RTCP")
	fs.StringVar(&c.RTPEngine, "rtp-engine", "auto", "media role: RTP packet engine: auto (epoll on Linux), epoll or goroutines (one reader per socket)")
	fs.DurationVar(&c.RTPTimeout, "rtp-timeout", 60*time.Second, "media role: end a call whose RTP stopped this long")
	fs.StringVar(&sipAllow, "sip-allow", "", "comma-separated CIDRs the SIP edge never bans nor rate limits (carriers, monitors)")
	fs.IntVar(&c.SIPMinExpires, "sip-min-expires", 60, "shortest SIP registration accepted, in seconds (shorter ones get 423)")
	fs.IntVar(&c.MaxSetupCalls, "max-setup-calls", 300, "media role: refuse new calls (503) while this many are in setup (not yet ringing nor answered); 0: no bound")
	fs.IntVar(&c.MinFreeRTPPairs, "min-free-rtp-pairs", 2, "media role: refuse new calls (503) while fewer RTP port pairs are free; 0: no floor")
	fs.IntVar(&c.MaxCalls, "max-calls", 0, "media role: refuse new calls (503) while this many are live on the node; 0: no bound")
	fs.StringVar(&sipDigest, "sip-digest", "MD5", "digest algorithms the SIP edge offers, in order: MD5 and/or SHA-256 (some phones fail when offered one they lack)")
	// Environment first, so that flags given on the command line win.
	envArgs, err := fromEnv(fs, env)
	if err != nil {
		return nil, err
	}
	if err := fs.Parse(envArgs); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch fsync {
	case "always", "per-write":
		c.Fsync = fsync
	default:
		d, err := time.ParseDuration(fsync)
		if err != nil || d <= 0 || d > time.Minute {
			return nil, fmt.Errorf("--fsync %q: want 'always', 'per-write' or an interval up to 1m", fsync)
		}
		c.Fsync, c.FsyncInterval = "interval", d
	}
	if err := c.parseRTP(rtpIP, rtpPorts); err != nil {
		return nil, err
	}
	for _, p := range strings.Split(sipAllow, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			return nil, fmt.Errorf("--sip-allow %q: want CIDRs such as 192.0.2.0/24: %w", p, err)
		}
		c.SIPAllow = append(c.SIPAllow, p)
	}
	for _, a := range strings.Split(sipDigest, ",") {
		switch a = strings.ToUpper(strings.TrimSpace(a)); a {
		case "MD5", "SHA-256":
			if !slices.Contains(c.SIPDigest, a) {
				c.SIPDigest = append(c.SIPDigest, a)
			}
		default:
			return nil, fmt.Errorf("--sip-digest %q: want MD5 and/or SHA-256", a)
		}
	}
	c.Roles = nil
	for _, r := range strings.Split(roles, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("--roles: unknown role %q (want some of %s)", r, strings.Join(AllRoles, ","))
		}
		if !slices.Contains(c.Roles, r) {
			c.Roles = append(c.Roles, r)
		}
	}
	return c, c.check()
}

func (c *Config) check() error {
	if len(c.Roles) == 0 {
		return errors.New("--roles: no role given")
	}
	if !c.Has(RoleNATS) && c.NATSURL == "" {
		return errors.New("without the nats role, --nats must name the NATS server to use")
	}
	if c.Has(RoleNATS) && c.NATSURL != "" {
		return errors.New("--nats names an external server: drop the nats role from --roles")
	}
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			return fmt.Errorf("--pprof %q: %w", c.PprofAddr, err)
		}
	}
	for name, addr := range map[string]string{"--http": c.HTTPAddr, "--sip": c.SIPAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: %w", name, addr, err)
		}
	}
	if c.SIPMinExpires < 1 || c.SIPMinExpires > 3600 {
		return fmt.Errorf("--sip-min-expires %d: want 1 to 3600 seconds", c.SIPMinExpires)
	}
	if err := c.checkOverload(); err != nil {
		return err
	}
	if c.MasterAPIKey != "" && len(c.MasterAPIKey) < 32 {
		return errors.New("--master-api-key must be at least 32 characters")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.NodeName == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(c.HTTPAddr)
		if !c.Has(RoleAPI) && c.Has(RoleMedia) {
			// Media-only processes on one host differ by RTP range, not
			// by an API port they do not open.
			port = "rtp" + strconv.Itoa(c.RTPPortLow)
		}
		c.NodeName = sanitize(host + "-" + port)
	}
	return nil
}

// checkOverload checks the media role's overload bounds against each
// other and the RTP range (parsed before).
func (c *Config) checkOverload() error {
	for name, v := range map[string]int{"--max-setup-calls": c.MaxSetupCalls,
		"--min-free-rtp-pairs": c.MinFreeRTPPairs, "--max-calls": c.MaxCalls} {
		if v < 0 {
			return fmt.Errorf("%s %d: want 0 (no bound) or more", name, v)
		}
	}
	// Ports come in even/odd pairs; a floor at or above the range's pairs
	// would refuse every call.
	pairs := (c.RTPPortHigh - c.RTPPortLow + 1) / 2
	if c.MinFreeRTPPairs >= pairs {
		return fmt.Errorf("--min-free-rtp-pairs %d: the --rtp-ports range holds only %d pairs; want fewer", c.MinFreeRTPPairs, pairs)
	}
	return nil
}

// parseRTP reads --rtp-ip and --rtp-ports.
func (c *Config) parseRTP(ip, ports string) error {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil || a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("--rtp-ip %q: want the unicast address to announce in SDP", ip)
	}
	c.RTPIP = a.Unmap()
	lo, hi, ok := strings.Cut(strings.TrimSpace(ports), "-")
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || l < 1024 || h > 65535 || h-l < 1 {
		return fmt.Errorf("--rtp-ports %q: want LOW-HIGH within 1024-65535 holding at least one even/odd pair", ports)
	}
	c.RTPPortLow, c.RTPPortHigh = l, h
	if c.RTPTimeout < 0 || (c.RTPTimeout > 0 && c.RTPTimeout < time.Second) {
		return fmt.Errorf("--rtp-timeout %s: want 0 (off) or at least 1s", c.RTPTimeout)
	}
	if _, err := media.ParseEngine(c.RTPEngine); err != nil {
		return fmt.Errorf("--rtp-engine: %w", err)
	}
	return nil
}

// fromEnv turns STROWGER_<FLAG> variables into flag arguments.
func fromEnv(fs *flag.FlagSet, env []string) ([]string, error) {
	vals := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "STROWGER_") {
			vals[k] = v
		}
	}
	var args []string
	fs.VisitAll(func(f *flag.Flag) {
		key := "STROWGER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := vals[key]; ok {
			args = append(args, "--"+f.Name+"="+v)
		}
	})
	return args, nil
}

// sanitize keeps a node name usable as a NATS token.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
