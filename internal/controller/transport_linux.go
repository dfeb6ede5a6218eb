//go:build linux

package controller

import (
	"net"
	"syscall"
	"time"
)

// peerUserTimeout bounds how long data written to a quorum peer may stay
// unacknowledged before the kernel drops the connection (TCP_USER_TIMEOUT).
// Connections are one-way and never read by the sender, so without it a
// connection whose packets vanish (a network cut, a peer host gone without
// a reset) looks healthy: writes land in the socket buffer, TCP retransmits
// with a backoff that reaches minutes, and the peer stays unreachable long
// after the network heals (found by tests/e2e/cluster_netcut_test.go). With
// it, the write fails, send redials, and Raft resends what was lost.
const peerUserTimeout = 5 * time.Second

// tcpUserTimeout is TCP_USER_TIMEOUT on every Linux architecture (syscall
// does not define it on all of them).
const tcpUserTimeout = 0x12

func dialPeer(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(peerUserTimeout/time.Millisecond))
		}); err != nil {
			return err
		}
		return serr
	}}
	return d.Dial("tcp", addr)
}
