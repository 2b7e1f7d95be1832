// Package https delivers files to customers' web services: each file is one POST of its bytes
// to the target's URL, over TLS verified as for every transport (system roots, a CA bundle, or
// a pinned certificate), with headers naming the file and its run, an idempotency key, the
// customer's own headers (tokens, kept as secrets), and optionally an HMAC-SHA256 signature.
//
// Plain http:// is accepted only to loopback addresses, for tests and local relays.
package https
