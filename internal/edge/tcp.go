package edge

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tcpConn is one accepted SIP-over-TCP connection.
type tcpConn struct {
	c  *net.TCPConn
	mu sync.Mutex // serialises writes
}

func (t *tcpConn) write(b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := t.c.Write(b)
	return err
}

// Connections idle this long are closed; phones keep them open with
// re-registrations or CRLF keep-alives (RFC 5626).
const tcpIdle = 10 * time.Minute

func (e *Edge) acceptTCP() {
	defer e.wg.Done()
	for {
		c, err := e.tcp.AcceptTCP()
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		remote := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if e.guard.banned(remote.Addr()) {
			_ = c.Close()
			continue
		}
		tc := &tcpConn{c: c}
		e.mu.Lock()
		e.conns[remote] = tc
		e.mu.Unlock()
		e.wg.Add(1)
		go e.readTCP(tc, remote)
	}
}

// readTCP frames messages by Content-Length (RFC 3261 §18.3). A message
// without a usable Content-Length cannot be framed: it gets a 400 and the
// connection is closed, since the next message's start is unknown.
func (e *Edge) readTCP(tc *tcpConn, remote netip.AddrPort) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		if e.conns[remote] == tc {
			delete(e.conns, remote)
		}
		e.mu.Unlock()
		_ = tc.c.Close()
	}()
	r := bufio.NewReaderSize(tc.c, 16<<10)
	f := flow{transport: "tcp", remote: remote, conn: tc}
	for {
		_ = tc.c.SetReadDeadline(time.Now().Add(tcpIdle))
		head, err := readHead(r)
		if err != nil {
			return
		}
		if len(head) == 0 {
			// CRLF keep-alive ping: answer with a pong (RFC 5626 §3.5.1).
			_ = tc.write([]byte("\r\n"))
			continue
		}
		cl, ok := headContentLength(head)
		if !ok || cl > maxDatagram-len(head) {
			if m, recognised := splitRaw(head); recognised && !m.response {
				resp := response{code: 400, reason: "Bad Content-Length", toTag: toTagFor(&m)}
				tc.write(resp.build(&m, remote.Addr().String(), int(remote.Port())))
			}
			return
		}
		msg := make([]byte, len(head)+cl)
		copy(msg, head)
		if _, err := io.ReadFull(r, msg[len(head):]); err != nil {
			return
		}
		if e.guard.banned(remote.Addr()) {
			return
		}
		e.dispatch(msg, f)
	}
}

// readHead reads up to and including the blank line. Leading CRLFs are
// keep-alives: a lone "\r\n\r\n" returns an empty head.
func readHead(r *bufio.Reader) ([]byte, error) {
	var buf bytes.Buffer
	for buf.Len() < maxDatagram {
		line, err := r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if buf.Len() == 0 && (string(line) == "\r\n" || string(line) == "\n") {
			// Skip CRLFs between messages; two in a row is a ping.
			next, perr := r.Peek(2)
			if perr == nil && string(next) == "\r\n" {
				_, _ = r.Discard(2)
				return nil, nil
			}
			continue
		}
		buf.Write(line)
		if bytes.HasSuffix(buf.Bytes(), []byte("\r\n\r\n")) {
			return buf.Bytes(), nil
		}
	}
	return nil, errors.New("sip header too long")
}

// headContentLength finds Content-Length (or l) in a header block.
func headContentLength(head []byte) (int, bool) {
	n, found := 0, false
	for _, ln := range strings.Split(string(head), "\r\n")[1:] {
		name, v, ok := strings.Cut(ln, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "content-length" && name != "l" {
			continue
		}
		if found {
			return 0, false
		}
		x, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || x < 0 {
			return 0, false
		}
		n, found = x, true
	}
	return n, found
}
