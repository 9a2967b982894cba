package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestSIPpCallWithPcapAudio places one call UAC → Strowger → UAS with SIPp:
// the callee registers with digest, the caller authenticates its INVITE and
// plays g711u-sweep.pcap; the callee's media is a socket of this test,
// which checks the caller's frames arrive through the media node's ports
// and that audio sent back reaches the caller (SIPp echoes it). The call
// is listed in channels while it lasts and leaves a CDR per leg.
func TestSIPpCallWithPcapAudio(t *testing.T) {
	needSIPp(t)
	needMediaRole(t)
	dir := t.TempDir()
	sipPort := freeUDPPort(t)
	edge := fmt.Sprintf("127.0.0.1:%d", sipPort)
	const rtpLow, rtpHigh = 31000, 31999
	p := start(t, "--data", filepath.Join(dir, "data"), "--master-api-key", masterKey(),
		"--sip", edge, "--rtp-ip", "127.0.0.1", "--rtp-ports", fmt.Sprintf("%d-%d", rtpLow, rtpHigh))
	c := newClient(p.addr)
	master := c.Login(t, masterKey())
	tn := provisionTenant(t, c, master, "sipp.e2e.test", dir)

	uasPort, uacPort, uacMedia := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	registerCallee(t, tn, edge, uasPort, dir)
	peer := newRTPPeer(t)

	uas := goSIPp(t, dir, 60*time.Second, "-sf", filepath.Join(sippDir, "uas-answer.xml"),
		"-i", "127.0.0.1", "-p", fmt.Sprint(uasPort), "-set", "rtp_ip", "127.0.0.1",
		"-set", "rtp_port", fmt.Sprint(peer.port()), "-m", "1", "-recv_timeout", "30000")
	// The call lasts 4 s from ACK to BYE: channels list it meanwhile.
	sawChannel := make(chan bool, 1)
	go func() {
		ok := waitFor(20*time.Second, func() bool { return peer.heard() > 10 })
		sawChannel <- ok && len(tn.channels(t)) > 0
	}()
	runSIPp(t, dir, 60*time.Second, edge, "-sf", filepath.Join(sippDir, "uac-pcap.xml"),
		"-inf", tn.callerCSV, "-auth_uri", tn.realm, "-i", "127.0.0.1", "-p", fmt.Sprint(uacPort),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(uacMedia), "-rtp_echo", "-d", "4000", "-m", "1",
		"-recv_timeout", "30000")
	if uasOut, uasErr := uas(); uasErr != nil {
		t.Fatalf("UAS: %v\n%s\n%s\nstrowger:\n%s", uasErr, uasOut, sippErrors(dir), p.Log())
	}
	peer.check(t, 2, rtpLow, rtpHigh)
	if !<-sawChannel {
		t.Error("the live call was not listed in /channels")
	}
	checkCallCDRs(t, tn, tn.waitCDRs(t, 2, 10*time.Second), 3)
	if !waitFor(5*time.Second, func() bool { return len(tn.channels(t)) == 0 }) {
		t.Fatalf("channels after hangup: %v", tn.channels(t))
	}
}
