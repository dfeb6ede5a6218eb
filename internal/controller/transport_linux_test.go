//go:build linux

package controller

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// A connection to a quorum peer gives up on unacknowledged data after
// peerUserTimeout, so that a network cut is noticed and the peer redialed
// once it heals (regression: a controller cut off and healed stayed
// leaderless for minutes, tests/e2e TestClusterNetcutController).
func TestDialPeerSetsUserTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := dialPeer(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	if want := int(peerUserTimeout / time.Millisecond); got != want {
		t.Fatalf("TCP_USER_TIMEOUT = %d ms, want %d", got, want)
	}
}
