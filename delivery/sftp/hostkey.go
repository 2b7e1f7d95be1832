package sftp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/eventexport/eventexport/delivery"
)

// Fingerprint returns the SHA256 fingerprint of k as OpenSSH prints it:
// "SHA256:" followed by 43 unpadded base64 characters.
func Fingerprint(k ssh.PublicKey) string {
	return ssh.FingerprintSHA256(k)
}

// authorizedLine returns k as one authorized_keys style line, "type base64".
func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// describeKey names a key for messages: "ssh-ed25519 key SHA256:…".
func describeKey(k ssh.PublicKey) string {
	return k.Type() + " key " + Fingerprint(k)
}

// ValidateHostKeyPin checks a host key pin before it is stored: one or more
// lines, each a "SHA256:<43 base64 characters>" fingerprint, a known_hosts
// line (hashed host names and [host]:port entries included) or an
// authorized_keys style "type base64 [comment]" line. Blank lines and lines
// starting with # are ignored, but at least one pin is required.
func ValidateHostKeyPin(pin string) error {
	pins, err := parsePins(pin)
	if err != nil {
		return err
	}
	if len(pins) == 0 {
		return errors.New("host key pin is empty: want a SHA256:… fingerprint or a known_hosts line")
	}
	return nil
}

// A hostPin is one accepted host key.
type hostPin struct {
	fingerprint string        // "SHA256:…" for fingerprint pins
	key         ssh.PublicKey // the key, for known_hosts and authorized_keys pins
	hosts       []string      // host patterns of a known_hosts line; nil matches any host
	revoked     bool          // an @revoked known_hosts line
}

func parsePins(s string) ([]hostPin, error) {
	var pins []hostPin
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := parsePin(line)
		if err != nil {
			return nil, fmt.Errorf("host key pin line %d: %w", i+1, err)
		}
		pins = append(pins, p)
	}
	return pins, nil
}

func parsePin(line string) (hostPin, error) {
	fields := strings.Fields(line)
	// "SHA256:…" alone, or as printed by ssh-keygen -l: "256 SHA256:… comment (ED25519)".
	fp := fields[0]
	if _, err := strconv.Atoi(fp); err == nil && len(fields) > 1 && strings.HasPrefix(fields[1], "SHA256:") {
		fp = fields[1]
	}
	if strings.HasPrefix(fp, "SHA256:") {
		return parseFingerprintPin(fp)
	}
	if strings.HasPrefix(strings.ToUpper(fp), "MD5:") || strings.Count(fp, ":") == 15 {
		return hostPin{}, errors.New("MD5 fingerprints are not accepted: use the SHA256 fingerprint (ssh-keygen -l -f KEYFILE prints it)")
	}
	if isKeyType(fields[0]) {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return hostPin{}, fmt.Errorf("invalid public key: %w", err)
		}
		return hostPin{key: key}, nil
	}
	marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil {
		return hostPin{}, fmt.Errorf("not a SHA256 fingerprint, known_hosts line or public key: %w", err)
	}
	if key == nil {
		return hostPin{}, errors.New("not a SHA256 fingerprint, known_hosts line or public key")
	}
	switch marker {
	case "":
	case "revoked":
		return hostPin{key: key, hosts: hosts, revoked: true}, nil
	case "cert-authority":
		return hostPin{}, errors.New("@cert-authority lines are not supported: pin the server's own host key")
	default:
		return hostPin{}, fmt.Errorf("unknown known_hosts marker @%s", marker)
	}
	for _, h := range hosts {
		if strings.HasPrefix(h, "|") {
			if _, _, err := decodeHashedHost(h); err != nil {
				return hostPin{}, err
			}
		}
	}
	return hostPin{key: key, hosts: hosts}, nil
}

func parseFingerprintPin(fp string) (hostPin, error) {
	b64 := strings.TrimRight(strings.TrimPrefix(fp, "SHA256:"), "=")
	sum, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(sum) != 32 || len(b64) != 43 {
		return hostPin{}, fmt.Errorf("invalid fingerprint %q: want SHA256: followed by 43 base64 characters, as printed by ssh-keygen -l", delivery.Truncate(fp, 60))
	}
	return hostPin{fingerprint: "SHA256:" + b64}, nil
}

func isKeyType(s string) bool {
	switch s {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSA, ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return true
	}
	//lint:ignore SA1019 DSA host keys are recognised, and accepted only with legacy crypto
	if s == ssh.InsecureKeyAlgoDSA {
		return true
	}
	return strings.HasSuffix(s, "-cert-v01@openssh.com")
}

func decodeHashedHost(h string) (salt, sum []byte, err error) {
	parts := strings.Split(h, "|")
	if len(parts) != 4 || parts[1] != "1" {
		return nil, nil, fmt.Errorf("invalid hashed host name %q: want |1|salt|hash", delivery.Truncate(h, 40))
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	sum, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(sum) != sha1.Size {
		return nil, nil, fmt.Errorf("invalid hashed host name %q", delivery.Truncate(h, 40))
	}
	return salt, sum, nil
}

// matchesHost reports whether a known_hosts host list names host, given in
// known_hosts form (knownhosts.Normalize: "host" or "[host]:port").
func matchesHost(patterns []string, host string) bool {
	matched := false
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		var ok bool
		if strings.HasPrefix(p, "|") {
			salt, sum, err := decodeHashedHost(p)
			if err != nil {
				continue
			}
			mac := hmac.New(sha1.New, salt)
			mac.Write([]byte(host))
			ok = hmac.Equal(mac.Sum(nil), sum)
		} else {
			ok = globMatch(strings.ToLower(p), strings.ToLower(host))
		}
		if ok && negate {
			return false
		}
		matched = matched || ok
	}
	return matched
}

// globMatch matches s against a known_hosts pattern with * and ?, in
// linear time.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // the last * seen, and where s stood then
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			// Let the last * swallow one more character.
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// hostKeyAlgorithmsFor returns the host key signature algorithms that a key
// of type keyType can be presented with.
func hostKeyAlgorithmsFor(keyType string, legacy bool) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		if legacy {
			return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	//lint:ignore SA1019 DSA host keys are accepted only with legacy crypto
	case ssh.InsecureKeyAlgoDSA:
		if legacy {
			return []string{ssh.InsecureKeyAlgoDSA} //lint:ignore SA1019 as above
		}
		return nil
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return []string{keyType}
	}
	return nil
}

// hostKeyTypes lists host key types in order of preference.
var hostKeyTypes = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	//lint:ignore SA1019 DSA host keys are accepted only with legacy crypto
	ssh.KeyAlgoRSA, ssh.InsecureKeyAlgoDSA,
}

// hostKeyChecker verifies the server's host key against the pins of one
// target and remembers the key presented.
type hostKeyChecker struct {
	pins          []hostPin
	host          string // known_hosts form of the address dialed
	acceptUnknown bool
	legacy        bool

	mu        sync.Mutex
	presented ssh.PublicKey // set by check
}

// presentedKey returns the key the server presented last.
func (c *hostKeyChecker) presentedKey() ssh.PublicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.presented
}

func newHostKeyChecker(cfg Config) (*hostKeyChecker, error) {
	pins, err := parsePins(cfg.HostKey)
	if err != nil {
		return nil, err
	}
	return &hostKeyChecker{
		pins:          pins,
		host:          knownhosts.Normalize(net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))),
		acceptUnknown: cfg.AcceptUnknownHostKey,
		legacy:        cfg.LegacyCrypto,
	}, nil
}

// applies reports whether p pins keys for the host dialed.
func (c *hostKeyChecker) applies(p hostPin) bool {
	return p.hosts == nil || matchesHost(p.hosts, c.host)
}

// algorithms returns the host key algorithms to offer, pinned key types
// first, so that a server with several host keys presents a pinned one.
// With fingerprint pins (whose key type is unknown) every type is offered;
// exclude lists key types already presented and found wrong.
func (c *hostKeyChecker) algorithms(exclude []string) []string {
	var types []string
	anyType := len(c.pins) == 0
	for _, p := range c.pins {
		switch {
		case p.revoked:
		case p.fingerprint != "":
			anyType = true
		case c.applies(p):
			types = append(types, p.key.Type())
		}
	}
	if anyType || len(types) == 0 {
		// No pinned key type applies to this host: offer all, to learn
		// which key the server presents.
		types = append(types, hostKeyTypes...)
	}
	var algos []string
	for _, t := range types {
		if slices.Contains(exclude, t) {
			continue
		}
		for _, a := range hostKeyAlgorithmsFor(t, c.legacy) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// canProbe reports whether another key type may still match a fingerprint
// pin after the server presented keys of the types in tried.
func (c *hostKeyChecker) canProbe(tried []string) bool {
	if len(c.pins) == 0 {
		return false
	}
	for _, p := range c.pins {
		if p.fingerprint != "" {
			return len(c.algorithms(tried)) > 0
		}
	}
	return false
}

// hostKeyError is returned by check; connect turns it into an *Error.
type hostKeyError struct {
	class delivery.Class
	key   ssh.PublicKey
	hint  string
}

func (e *hostKeyError) Error() string {
	return fmt.Sprintf("%s: %s", e.class, describeKey(e.key))
}

// check is the ssh.HostKeyCallback.
func (c *hostKeyChecker) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	c.mu.Lock()
	c.presented = key
	c.mu.Unlock()
	fp := Fingerprint(key)
	wire := key.Marshal()
	same := func(p hostPin) bool { return p.key != nil && bytes.Equal(p.key.Marshal(), wire) }

	for _, p := range c.pins {
		if p.revoked && same(p) && c.applies(p) {
			return &hostKeyError{class: delivery.ClassHostKeyMismatch, key: key,
				hint: "Nothing was uploaded. This key is marked @revoked in the pinned known_hosts lines; confirm a new key with the customer"}
		}
	}
	otherHost := false
	for _, p := range c.pins {
		switch {
		case p.revoked:
		case p.fingerprint != "":
			if p.fingerprint == fp {
				return nil
			}
		case same(p):
			if c.applies(p) {
				return nil
			}
			otherHost = true
		}
	}
	if len(c.pins) == 0 {
		if c.acceptUnknown {
			return nil
		}
		return &hostKeyError{class: delivery.ClassHostKeyUnknown, key: key}
	}
	e := &hostKeyError{class: delivery.ClassHostKeyMismatch, key: key}
	if otherHost {
		e.hint = fmt.Sprintf("Nothing was uploaded. The key matches a pinned known_hosts line for another host name; the line must name %s", c.host)
	}
	return e
}
