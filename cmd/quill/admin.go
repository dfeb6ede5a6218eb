package main

import (
	"context"

	"github.com/quillstream/quill/internal/server"
)

// adminServer is the admin HTTP listener (metrics, health, console).
type adminServer interface {
	Start() error
	Stop(ctx context.Context)
}

type nopAdmin struct{}

func (nopAdmin) Start() error             { return nil }
func (nopAdmin) Stop(ctx context.Context) {}

// newAdmin builds the admin listener and the observer that feeds its
// metrics. It runs before the protocol server is created.
func newAdmin(b *broker) (adminServer, server.Observer, error) {
	return nopAdmin{}, nil, nil
}
