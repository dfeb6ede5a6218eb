//go:build !linux

package controller

import (
	"net"
	"time"
)

// dialPeer dials a quorum peer. Outside Linux there is no TCP_USER_TIMEOUT:
// a connection whose packets vanish is noticed only when its socket buffer
// fills (transport_linux.go).
func dialPeer(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}
