package e2e

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// placeCalls runs n SIPp calls at rate calls/s, each held holdMs, from the
// tenant's caller to its callee (SIPp UAS on uasPort, media to peerPort);
// it returns an error when any call failed on either side.
func placeCalls(t *testing.T, tn *tenant, edge, dir string, n, rate, holdMs, uasPort, peerPort int) error {
	t.Helper()
	limit := time.Duration(n/rate+holdMs/1000+30) * time.Second
	uas := goSIPp(t, dir, limit+10*time.Second, "-sf", filepath.Join(sippDir, "uas-answer.xml"),
		"-i", "127.0.0.1", "-p", fmt.Sprint(uasPort), "-set", "rtp_ip", "127.0.0.1",
		"-set", "rtp_port", fmt.Sprint(peerPort), "-m", fmt.Sprint(n), "-recv_timeout", "15000")
	uacOut, uacErr := sippCmd(dir, limit, edge, "-sf", filepath.Join(sippDir, "uac-pcap.xml"),
		"-inf", tn.callerCSV, "-auth_uri", tn.realm, "-i", "127.0.0.1", "-p", fmt.Sprint(freeUDPPort(t)),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(freeUDPPort(t)), "-d", fmt.Sprint(holdMs),
		"-m", fmt.Sprint(n), "-r", fmt.Sprint(rate), "-l", fmt.Sprint(n), "-recv_timeout", "15000")
	if uacErr != nil {
		// The UAS still waits for calls that never came: the test's
		// cleanup stops it.
		return fmt.Errorf("UAC: %w\n%s\n%s", uacErr, uacOut, sippErrors(dir))
	}
	if uasOut, uasErr := uas(); uasErr != nil {
		return fmt.Errorf("UAS: %w\n%s\n%s", uasErr, uasOut, sippErrors(dir))
	}
	return nil
}

// TestSplitProcessesSpreadCallsAndSurviveMediaLoss runs the roles as three
// processes: nats+api+edge in one, media in two more (their own RTP
// ranges), all over NATS on 127.0.0.1. New calls spread over both media
// nodes; after kill -9 of one, new calls go to the other.
func TestSplitProcessesSpreadCallsAndSurviveMediaLoss(t *testing.T) {
	needSIPp(t)
	needMediaRole(t)
	dir := t.TempDir()
	natsAddr := freePort(t)
	edge := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	core := start(t, "--data", filepath.Join(dir, "core"), "--master-api-key", masterKey(),
		"--roles", "nats,api,edge", "--nats-listen", natsAddr, "--sip", edge, "--node-name", "core")
	media := map[string]*proc{}
	for i, name := range []string{"media-a", "media-b"} {
		low := 32000 + i*500
		media[name] = startNode(t, "--roles", "media", "--nats", "nats://"+natsAddr,
			"--data", filepath.Join(dir, name), "--node-name", name, "--http", freePort(t),
			"--rtp-ip", "127.0.0.1", "--rtp-ports", fmt.Sprintf("%d-%d", low, low+499))
	}
	c := newClient(core.addr)
	master := c.Login(t, masterKey())
	tn := provisionTenant(t, c, master, "split.e2e.test", dir)
	uasPort := freeUDPPort(t)
	registerCallee(t, tn, edge, uasPort, dir)
	peer := newRTPPeer(t)

	// 20 overlapping calls: with two live nodes, both take some.
	const first = 20
	if err := placeCalls(t, tn, edge, dir, first, 10, 1500, uasPort, peer.port()); err != nil {
		t.Fatalf("calls with both media nodes up: %v\ncore:\n%s", err, core.Log())
	}
	perNode := func(cdrs []map[string]any) map[string]int {
		m := map[string]int{}
		for _, r := range cdrs {
			if r["call_direction"] == "inbound" {
				s, _ := r["media_server"].(string)
				m[s]++
			}
		}
		return m
	}
	spread := perNode(tn.waitCDRs(t, 2*first, 15*time.Second))
	if spread["media-a-media"] == 0 || spread["media-b-media"] == 0 || spread["media-a-media"]+spread["media-b-media"] != first {
		t.Fatalf("calls per media node %v: want all %d spread over media-a and media-b", spread, first)
	}
	t.Logf("calls per media node: %v", spread)

	// kill -9 media-a; a second later every new call must go to media-b.
	if err := media["media-a"].Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-media["media-a"].Done()
	killed := time.Now()
	// This wait is the requirement itself (the edge must stop choosing the
	// dead node within about a second), not a wait for something to happen.
	time.Sleep(time.Second)
	const second = 10
	if err := placeCalls(t, tn, edge, dir, second, 10, 500, uasPort, peer.port()); err != nil {
		t.Fatalf("calls placed %s after media-a died: %v\ncore:\n%s\nmedia-b:\n%s", time.Since(killed).Round(time.Millisecond),
			err, core.Log(), media["media-b"].Log())
	}
	after := perNode(tn.waitCDRs(t, 2*(first+second), 15*time.Second))
	if after["media-b-media"]-spread["media-b-media"] != second || after["media-a-media"] != spread["media-a-media"] {
		t.Fatalf("after the kill: calls per node %v (before %v), want %d more on media-b only", after, spread, second)
	}
}
