// Package auth holds Quill's security pieces that do not touch the network:
// TLS configuration from PEM files (with reload on change), principals, the
// SASL mechanisms a broker serves (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER
// with unsecured tokens) and the ACL authorizer.
//
// SASL mechanisms are state machines over byte messages: the server feeds
// each client message to Step and sends back what it returns, so the same
// code serves SaslHandshake v0 (raw frames) and SaslAuthenticate. Nothing
// here reads a socket.
//
// Principals are Kafka's "User:<name>" strings: the SASL user name, the
// subject DN of a TLS client certificate (RFC 2253 form, like Kafka's
// default principal builder), or User:ANONYMOUS.
package auth

// Anonymous is the principal of unauthenticated connections (PLAINTEXT
// listeners, SSL listeners without a client certificate).
const Anonymous = "User:ANONYMOUS"

// UserPrincipal returns Kafka's principal string for a user name.
func UserPrincipal(name string) string { return "User:" + name }
