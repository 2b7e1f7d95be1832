package file

// OpenPGP encryption of delivered files, to a public key the customer gives.
//
// Files must open with what customers run, GnuPG 2.2 included, which knows neither AEAD nor
// v6 keys: messages are one public-key encrypted session key packet (v3) and one SEIPD v1
// packet (CFB with an MDC), in AES-256 when the key lists it in its preferences, else AES-128.
// Only a key that says it reads SEIPD v2 (the features subpacket of its self-signature, or any
// v6 key) gets SEIPD v2 (AEAD, in the key's preferred AEAD mode). The literal data packet is
// binary, with no file name and no date; nothing is compressed (the pipeline gzips before, when
// asked) and nothing is signed.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// ErrRecipientKey is returned, wrapped, when a key given as a recipient cannot be encrypted to:
// the rest of the message says why, in words for the person who gave the key.
var ErrRecipientKey = errors.New("unusable OpenPGP key")

// Recipient is a customer's public key that files are encrypted to.
// The zero Recipient encrypts to no one: Encrypt refuses it.
type Recipient struct {
	// Fingerprint is the primary key's fingerprint in upper-case hex: 40 digits for a v4 key,
	// 64 for a v6 key.
	Fingerprint string
	// Expires is when the key stops being usable: the earliest expiry of the primary key and
	// of the (sub)key files are encrypted to; nil when neither expires.
	Expires *time.Time
	// Algorithm names the primary key and, after a slash, the key files are encrypted to, when
	// they differ: "RSA 3072" (one key, or an RSA 3072 subkey under an RSA 3072 primary key),
	// "Ed25519/Cv25519", "ECDSA P-256/ECDH P-256", "Ed25519/X25519".
	Algorithm string
	// UserID is the primary user ID, such as "Name <name@example.com>"; empty for a v6 key
	// that has none.
	UserID string

	entity   *openpgp.Entity
	key      *openpgp.Key          // the (sub)key session keys are encrypted to
	cipher   packet.CipherFunction // SEIPD v1 cipher
	aead     bool                  // SEIPD v2 instead of v1
	suite    packet.CipherSuite    // SEIPD v2 cipher and mode
	pkeskMax int64                 // bytes of the public-key encrypted session key packet, at most
}

const (
	// pgpWriteSize is how much plaintext goes into the literal data packet per write: every
	// write costs at most one length octet in each of the two nested packets that stream with
	// partial lengths, so MaxOverhead counts writes.
	pgpWriteSize = 64 << 10
	// pgpAEADChunkSize is the SEIPD v2 chunk size, each chunk ending with a tag.
	pgpAEADChunkSize = 256 << 10
	// pgpAEADTagSize is the tag size of OCB, GCM and EAX.
	pgpAEADTagSize = 16
	// pgpMaxLengthOctets is the size of the longest packet length.
	pgpMaxLengthOctets = 5
)

// ParseRecipient reads a public key, ASCII-armored or binary, and checks files can be encrypted
// to it at now. It refuses, with an error wrapping ErrRecipientKey that says what is wrong: input
// that holds no public key or more than one, a secret key, a key that is expired, revoked or not
// yet valid, a key with no usable encryption (sub)key, RSA shorter than 2048 bits, and
// encryption algorithms other than RSA, ECDH, X25519/X448 and ML-KEM (ElGamal notably).
// The key files are encrypted to is the one the library chooses: the newest valid encryption
// subkey, else the primary key if it may encrypt.
func ParseRecipient(key []byte, now time.Time) (Recipient, error) {
	raw, err := pgpDearmor(key)
	if err != nil {
		return Recipient{}, err
	}
	fprs, err := pgpPrimaryKeys(raw)
	if err != nil {
		return Recipient{}, err
	}
	if len(fprs) > 1 {
		return Recipient{}, fmt.Errorf("%w: the input holds %d keys (%s): give exactly one, the key files are to be encrypted to",
			ErrRecipientKey, len(fprs), strings.Join(fprs, ", "))
	}
	el, err := openpgp.ReadKeyRing(bytes.NewReader(raw))
	if err != nil {
		var unsupported pgperrors.UnsupportedError
		if errors.As(err, &unsupported) {
			return Recipient{}, fmt.Errorf("%w: key %s uses an algorithm or format that is not supported: %v", ErrRecipientKey, fprs[0], err)
		}
		return Recipient{}, fmt.Errorf("%w: key %s cannot be read: %v", ErrRecipientKey, fprs[0], err)
	}
	if len(el) != 1 {
		return Recipient{}, fmt.Errorf("%w: key %s cannot be read", ErrRecipientKey, fprs[0])
	}
	e := el[0]
	if e.PrivateKey != nil {
		return Recipient{}, pgpSecretKeyError()
	}

	k, err := pgpUsableKey(e, now)
	if err != nil {
		return Recipient{}, err
	}
	fpr := pgpFingerprint(e.PrimaryKey)
	if err := pgpCheckAlgorithm(fpr, e.PrimaryKey, k.PublicKey); err != nil {
		return Recipient{}, err
	}

	selfSig, ident := e.PrimarySelfSignature()
	r := Recipient{
		Fingerprint: fpr,
		Expires:     pgpExpiry(e.PrimaryKey, selfSig, k),
		Algorithm:   pgpAlgorithmPair(e.PrimaryKey, k.PublicKey),
		entity:      e,
		key:         &k,
		cipher:      packet.CipherAES128,
		aead:        selfSig.SEIPDv2 || e.PrimaryKey.Version == 6,
		suite:       packet.CipherSuite{Cipher: packet.CipherAES128, Mode: packet.AEADModeOCB},
	}
	if ident == nil {
		ident = e.PrimaryIdentity()
	}
	if ident != nil {
		r.UserID = ident.Name
	}
	// AES-256 if the key lists it, else AES-128: what every OpenPGP implementation reads.
	if slices.Contains(selfSig.PreferredSymmetric, uint8(packet.CipherAES256)) {
		r.cipher = packet.CipherAES256
	}
	// The key's first preferred AEAD suite we write, else AES-128 in OCB, which all must read.
	for _, cs := range selfSig.PreferredCipherSuites {
		c, m := packet.CipherFunction(cs[0]), packet.AEADMode(cs[1])
		if (c == packet.CipherAES128 || c == packet.CipherAES256) &&
			(m == packet.AEADModeOCB || m == packet.AEADModeGCM || m == packet.AEADModeEAX) {
			r.suite = packet.CipherSuite{Cipher: c, Mode: m}
			break
		}
	}
	if r.pkeskMax, err = r.pkeskSize(); err != nil {
		return Recipient{}, fmt.Errorf("%w: key %s: cannot encrypt to its %s key: %v", ErrRecipientKey, fpr, pgpAlgorithm(k.PublicKey), err)
	}
	return r, nil
}

// Encrypt returns a writer that encrypts what is written into one binary (not armored)
// OpenPGP message to r, written to w as it flows, in memory bounded whatever the size of
// writes. Close ends the message; it does not close w. The key is checked again at the time of
// the call: a key that has expired since ParseRecipient is refused. One Recipient may encrypt
// in many goroutines at once.
func (r Recipient) Encrypt(w io.Writer) (io.WriteCloser, error) {
	if r.entity == nil {
		return nil, fmt.Errorf("%w: no key (a Recipient comes from ParseRecipient)", ErrRecipientKey)
	}
	now := time.Now()
	if _, err := pgpUsableKey(r.entity, now); err != nil {
		return nil, err
	}
	if err := pgpKeyValid(*r.key, now); err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", ErrRecipientKey, r.Fingerprint, err)
	}

	cfg := r.config()
	cipher := r.cipher
	if r.aead {
		cipher = r.suite.Cipher
	}
	sessionKey := make([]byte, cipher.KeySize())
	if _, err := io.ReadFull(cfg.Random(), sessionKey); err != nil {
		return nil, err
	}
	if err := packet.SerializeEncryptedKeyAEAD(w, r.key.PublicKey, cipher, r.aead, sessionKey, cfg); err != nil {
		return nil, fmt.Errorf("pgp: encrypting the session key: %w", err)
	}
	payload, err := packet.SerializeSymmetricallyEncrypted(w, r.cipher, r.aead, r.suite, sessionKey, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgp: starting the encrypted data packet: %w", err)
	}
	literal, err := packet.SerializeLiteral(payload, true, "", 0)
	if err != nil {
		return nil, fmt.Errorf("pgp: starting the literal data packet: %w", err)
	}
	return &pgpWriter{literal: literal, buf: make([]byte, 0, pgpWriteSize)}, nil
}

func (r Recipient) config() *packet.Config {
	cfg := &packet.Config{
		Rand:                   rand.Reader,
		DefaultCipher:          r.cipher,
		DefaultCompressionAlgo: packet.CompressionNone,
	}
	if r.aead {
		cfg.AEADConfig = &packet.AEADConfig{DefaultMode: r.suite.Mode, ChunkSize: pgpAEADChunkSize}
	}
	return cfg
}

// MaxOverhead is an upper bound of the bytes a message adds to n bytes written through Encrypt,
// for deciding when a size-limited file must end: the session key packet, packet headers,
// partial body length octets, the IV prefix and the MDC, or the AEAD salt and tags.
//
// For SEIPD v1 it is the session key packet (about 400 bytes for RSA 3072, 96 for Cv25519)
// plus 74 bytes plus 3 bytes per 64 KiB of data. The partial lengths follow from the library's
// writers (pinned in go.mod, checked by the tests): each write into a packet streaming with
// partial lengths emits at most one length octet, and Encrypt writes the literal data in
// 64 KiB pieces.
func (r Recipient) MaxOverhead(n int64) int64 {
	n = max(n, 0)
	writes := (n+pgpWriteSize-1)/pgpWriteSize + 3 // data pieces, and the 3 writes of the literal header
	// Literal data packet: tag, one length octet per write, the final length, then format,
	// file name length and date.
	literal := 1 + writes + pgpMaxLengthOctets + 1 + 1 + 4
	if !r.aead {
		// What reaches the SEIPD packet's writer: version, IV prefix and literal tag, then a
		// length octet and a piece per literal write, the literal's final length and rest, and
		// the MDC packet.
		seipdWrites := 3 + 2*writes + 2 + 1
		const prefix = 16 + 2 // an AES block of random data, its last 2 octets repeated
		const mdc = 2 + sha1.Size
		return r.pkeskMax + 1 + seipdWrites + pgpMaxLengthOctets + 1 + prefix + literal + mdc
	}
	plain := n + literal
	chunks := max((plain+pgpAEADChunkSize-1)/pgpAEADChunkSize, 1)
	// Version, cipher, mode, chunk size and salt, then the chunks, each with a tag, and the
	// final tag, each one write.
	seipdWrites := 2 + chunks + 1
	const header, salt = 4, 32
	return r.pkeskMax + 1 + seipdWrites + pgpMaxLengthOctets + header + salt + literal + (chunks+1)*pgpAEADTagSize
}

// pkeskSize is the largest public-key encrypted session key packet Encrypt writes: measured for
// elliptic curves and ML-KEM, whose sizes are fixed, and computed for RSA, whose ciphertext
// loses its leading zero octets.
func (r Recipient) pkeskSize() (int64, error) {
	pub := r.key.PublicKey
	cipher := r.cipher
	if r.aead {
		cipher = r.suite.Cipher
	}
	var c pgpCounter
	if err := packet.SerializeEncryptedKeyAEAD(&c, pub, cipher, r.aead, make([]byte, cipher.KeySize()), r.config()); err != nil {
		return 0, err
	}
	if pub.PubKeyAlgo != packet.PubKeyAlgoRSA && pub.PubKeyAlgo != packet.PubKeyAlgoRSAEncryptOnly {
		return c.n, nil
	}
	bits, err := pub.BitLength()
	if err != nil {
		return 0, err
	}
	body := int64(1 + 8 + 1) // version, key ID, algorithm
	if r.aead {
		body = int64(1 + 1 + 1 + len(pub.Fingerprint) + 1) // version, length, key version, fingerprint, algorithm
	}
	body += 2 + (int64(bits)+7)/8 // the ciphertext MPI
	size := 1 + pgpLengthOctets(body) + body
	return max(size, c.n), nil
}

func pgpLengthOctets(n int64) int64 {
	switch {
	case n < 192:
		return 1
	case n < 8384:
		return 2
	}
	return 5
}

// pgpWriter feeds the literal data packet in pieces of pgpWriteSize, which bounds both the
// memory the library's partial-length writers buffer and the length octets they write.
type pgpWriter struct {
	literal io.WriteCloser
	buf     []byte
	err     error
}

var errPGPClosed = errors.New("pgp: write to a closed message")

func (e *pgpWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n := 0
	for len(p) > 0 {
		if len(e.buf) == 0 && len(p) >= pgpWriteSize {
			if _, err := e.literal.Write(p[:pgpWriteSize]); err != nil {
				e.err = err
				return n, err
			}
			p, n = p[pgpWriteSize:], n+pgpWriteSize
			continue
		}
		c := copy(e.buf[len(e.buf):cap(e.buf)], p)
		e.buf = e.buf[:len(e.buf)+c]
		p, n = p[c:], n+c
		if len(e.buf) == cap(e.buf) {
			if _, err := e.literal.Write(e.buf); err != nil {
				e.err = err
				return n, err
			}
			e.buf = e.buf[:0]
		}
	}
	return n, nil
}

// Close writes what is left, ends the literal data and encrypted data packets, and writes the
// MDC or final tag. It does not close the writer the message goes to.
func (e *pgpWriter) Close() error {
	if e.err != nil {
		if e.err == errPGPClosed {
			return nil
		}
		return e.err
	}
	if len(e.buf) > 0 {
		if _, err := e.literal.Write(e.buf); err != nil {
			e.err = err
			return err
		}
	}
	e.buf = nil
	if err := e.literal.Close(); err != nil {
		e.err = err
		return err
	}
	e.err = errPGPClosed
	return nil
}

type pgpCounter struct{ n int64 }

func (c *pgpCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// pgpDearmor returns the binary OpenPGP data of key: key itself when binary, else the bodies of
// its armored public key blocks, one after the other.
func pgpDearmor(key []byte) ([]byte, error) {
	if len(bytes.TrimSpace(key)) == 0 {
		return nil, fmt.Errorf("%w: no key: the input is empty", ErrRecipientKey)
	}
	const begin, end = "-----BEGIN PGP ", "-----END PGP "
	if !bytes.Contains(key, []byte(begin)) {
		if key[0]&0x80 != 0 { // every binary OpenPGP packet starts so; ASCII never does
			return key, nil
		}
		return nil, fmt.Errorf("%w: no key found: the input is neither an ASCII-armored key (-----BEGIN PGP PUBLIC KEY BLOCK-----) nor a binary OpenPGP key", ErrRecipientKey)
	}
	var out []byte
	for rest := key; ; {
		i := bytes.Index(rest, []byte(begin))
		if i < 0 {
			break
		}
		block, err := armor.Decode(bytes.NewReader(rest[i:]))
		if err != nil {
			return nil, fmt.Errorf("%w: malformed ASCII armor: %v", ErrRecipientKey, err)
		}
		switch block.Type {
		case openpgp.PublicKeyType:
		case openpgp.PrivateKeyType:
			return nil, pgpSecretKeyError()
		default:
			return nil, fmt.Errorf("%w: not a public key: the input is an armored %s, not a PGP PUBLIC KEY BLOCK", ErrRecipientKey, block.Type)
		}
		body, err := io.ReadAll(block.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed ASCII armor: %v", ErrRecipientKey, err)
		}
		out = append(out, body...)
		j := bytes.Index(rest[i:], []byte(end))
		if j < 0 {
			break
		}
		rest = rest[i+j+len(end):]
	}
	return out, nil
}

func pgpSecretKeyError() error {
	return fmt.Errorf("%w: this is a secret (private) key, which must stay with its owner: give the public key instead (gpg --export --armor FINGERPRINT)", ErrRecipientKey)
}

// pgpPrimaryKeys walks the packets of raw and returns the fingerprints of the primary public
// keys it holds: one or more, else an error saying what raw is instead. It refuses secret keys.
func pgpPrimaryKeys(raw []byte) ([]string, error) {
	var fprs []string
	var tags []byte
	for off := 0; off < len(raw); {
		tag, body, next, err := pgpNextPacket(raw, off)
		if err != nil {
			if len(fprs) == 0 {
				return nil, fmt.Errorf("%w: not an OpenPGP key: %v", ErrRecipientKey, err)
			}
			return nil, fmt.Errorf("%w: malformed OpenPGP data: %v", ErrRecipientKey, err)
		}
		switch tag {
		case 5, 7: // secret key, secret subkey
			return nil, pgpSecretKeyError()
		case 6: // public key
			fprs = append(fprs, pgpBodyFingerprint(body))
		}
		tags = append(tags, tag)
		off = next
	}
	if len(fprs) == 0 {
		switch tags[0] {
		case 1, 3, 8, 9, 11, 18, 20: // session keys, compressed, encrypted, literal data
			return nil, fmt.Errorf("%w: not a public key: the input is an OpenPGP message", ErrRecipientKey)
		case 2, 4: // signatures
			return nil, fmt.Errorf("%w: not a public key: the input is an OpenPGP signature", ErrRecipientKey)
		}
		return nil, fmt.Errorf("%w: no public key found in the input", ErrRecipientKey)
	}
	return fprs, nil
}

// pgpNextPacket reads the packet header at raw[off:] (RFC 9580, section 4.2) and returns the
// packet's tag, body, and the offset of the packet after it.
func pgpNextPacket(raw []byte, off int) (tag byte, body []byte, next int, err error) {
	start := off
	h := raw[off]
	off++
	if h&0x80 == 0 {
		return 0, nil, 0, fmt.Errorf("byte %d is not a packet header", start)
	}
	truncated := fmt.Errorf("packet at byte %d is truncated", start)
	take := func(k int) (uint64, bool) {
		if len(raw)-off < k {
			return 0, false
		}
		var v uint64
		for _, b := range raw[off : off+k] {
			v = v<<8 | uint64(b)
		}
		off += k
		return v, true
	}
	if h&0x40 == 0 { // legacy format
		tag = (h >> 2) & 0x0f
		var n uint64
		var ok bool
		switch h & 3 {
		case 0:
			n, ok = take(1)
		case 1:
			n, ok = take(2)
		case 2:
			n, ok = take(4)
		case 3:
			n, ok = uint64(len(raw)-off), true
		}
		if !ok || n > uint64(len(raw)-off) {
			return 0, nil, 0, truncated
		}
		body = raw[off : off+int(n)]
		off += int(n)
	} else {
		tag = h & 0x3f
		for partial := true; partial; {
			o, ok := take(1)
			if !ok {
				return 0, nil, 0, truncated
			}
			var n uint64
			partial = false
			switch {
			case o < 192:
				n = o
			case o < 224:
				var o2 uint64
				if o2, ok = take(1); !ok {
					return 0, nil, 0, truncated
				}
				n = (o-192)<<8 + o2 + 192
			case o == 255:
				if n, ok = take(4); !ok {
					return 0, nil, 0, truncated
				}
			default:
				n, partial = 1<<(o&0x1f), true
			}
			if n > uint64(len(raw)-off) {
				return 0, nil, 0, truncated
			}
			body = append(body, raw[off:off+int(n)]...)
			off += int(n)
		}
	}
	if tag == 0 {
		return 0, nil, 0, fmt.Errorf("byte %d: packet tag 0 is reserved", start)
	}
	return tag, body, off, nil
}

// pgpBodyFingerprint is the fingerprint of a public key packet's body, computed here so that
// keys the library cannot read can still be named.
func pgpBodyFingerprint(body []byte) string {
	if len(body) == 0 {
		return "(empty key packet)"
	}
	var sum []byte
	switch body[0] {
	case 4:
		h := sha1.New()
		h.Write([]byte{0x99, byte(len(body) >> 8), byte(len(body))})
		h.Write(body)
		sum = h.Sum(nil)
	case 5, 6:
		h := sha256.New()
		h.Write([]byte{0x95 + body[0]}) // 0x9A, 0x9B
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
		h.Write(body)
		sum = h.Sum(nil)
	default:
		return fmt.Sprintf("(a v%d key)", body[0])
	}
	return strings.ToUpper(hex.EncodeToString(sum))
}

func pgpFingerprint(pk *packet.PublicKey) string {
	return strings.ToUpper(hex.EncodeToString(pk.Fingerprint))
}

func pgpTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// pgpLifetimeEnd is when a key or signature created at created with lifetime secs ends; nil
// for none.
func pgpLifetimeEnd(created time.Time, secs *uint32) *time.Time {
	if secs == nil || *secs == 0 {
		return nil
	}
	t := created.Add(time.Duration(*secs) * time.Second)
	return &t
}

// pgpUsableKey returns the key the library encrypts to at now, or says why there is none.
func pgpUsableKey(e *openpgp.Entity, now time.Time) (openpgp.Key, error) {
	fpr := pgpFingerprint(e.PrimaryKey)
	if e.PrimaryKey.CreationTime.Unix() > now.Unix() {
		return openpgp.Key{}, fmt.Errorf("%w: key %s was created at %s, later than now (%s): is a clock wrong?",
			ErrRecipientKey, fpr, pgpTime(e.PrimaryKey.CreationTime), pgpTime(now))
	}
	if e.Revoked(now) {
		return openpgp.Key{}, fmt.Errorf("%w: key %s is revoked%s", ErrRecipientKey, fpr, pgpRevocationReason(e.Revocations))
	}
	sig, ident := e.PrimarySelfSignature()
	if sig == nil {
		return openpgp.Key{}, fmt.Errorf("%w: key %s has no valid self-signature", ErrRecipientKey, fpr)
	}
	if ident != nil && ident.Revoked(now) {
		return openpgp.Key{}, fmt.Errorf("%w: key %s: its user IDs are revoked (%q%s)", ErrRecipientKey, fpr, ident.Name, pgpRevocationReason(ident.Revocations))
	}
	if e.PrimaryKey.KeyExpired(sig, now) {
		return openpgp.Key{}, fmt.Errorf("%w: key %s expired at %s: its owner can extend it (gpg --quick-set-expire) and send the public key again",
			ErrRecipientKey, fpr, pgpTime(*pgpLifetimeEnd(e.PrimaryKey.CreationTime, sig.KeyLifetimeSecs)))
	}
	if sig.SigExpired(now) {
		return openpgp.Key{}, fmt.Errorf("%w: key %s: %s", ErrRecipientKey, fpr, pgpSigExpired("its self-signature", sig, now))
	}
	if k, ok := e.EncryptionKey(now); ok {
		return k, nil
	}

	// Why no key may encrypt: every encryption subkey is unusable, or there is none.
	var why []string
	for _, sk := range e.Subkeys {
		if sk.Sig == nil || !sk.Sig.FlagsValid || !(sk.Sig.FlagEncryptCommunications || sk.Sig.FlagEncryptStorage) ||
			!sk.PublicKey.PubKeyAlgo.CanEncrypt() {
			continue
		}
		if err := pgpKeyValid(openpgp.Key{PublicKey: sk.PublicKey, SelfSignature: sk.Sig, Revocations: sk.Revocations}, now); err != nil {
			why = append(why, err.Error())
		} else if !sk.Sig.FlagEncryptCommunications {
			why = append(why, fmt.Sprintf("subkey %s may only encrypt storage", pgpFingerprint(sk.PublicKey)))
		}
	}
	if len(why) > 0 {
		return openpgp.Key{}, fmt.Errorf("%w: key %s has no usable encryption subkey: %s", ErrRecipientKey, fpr, strings.Join(why, "; "))
	}
	return openpgp.Key{}, fmt.Errorf("%w: key %s (%s) has no encryption-capable key, it can only sign: its owner can add an encryption subkey (gpg --quick-add-key %s cv25519 encr) and send the public key again",
		ErrRecipientKey, fpr, pgpAlgorithm(e.PrimaryKey), fpr)
}

// pgpKeyValid says why a (sub)key is not valid at now, if it is not.
func pgpKeyValid(k openpgp.Key, now time.Time) error {
	pk, sig := k.PublicKey, k.SelfSignature
	what := "subkey " + pgpFingerprint(pk)
	if !pk.IsSubkey {
		what = "primary key"
	}
	switch {
	case pgpRevoked(k.Revocations, now):
		return fmt.Errorf("%s is revoked%s", what, pgpRevocationReason(k.Revocations))
	case pk.CreationTime.Unix() > now.Unix():
		return fmt.Errorf("%s was created at %s, later than now (%s)", what, pgpTime(pk.CreationTime), pgpTime(now))
	case pk.KeyExpired(sig, now):
		return fmt.Errorf("%s expired at %s", what, pgpTime(*pgpLifetimeEnd(pk.CreationTime, sig.KeyLifetimeSecs)))
	case sig.SigExpired(now):
		return errors.New(pgpSigExpired("the binding signature of "+what, sig, now))
	}
	return nil
}

// pgpSigExpired says why sig, which SigExpired at now, is not valid.
func pgpSigExpired(what string, sig *packet.Signature, now time.Time) string {
	if end := pgpLifetimeEnd(sig.CreationTime, sig.SigLifetimeSecs); end != nil && sig.CreationTime.Unix() <= now.Unix() {
		return fmt.Sprintf("%s expired at %s", what, pgpTime(*end))
	}
	return fmt.Sprintf("%s was made at %s, later than now (%s)", what, pgpTime(sig.CreationTime), pgpTime(now))
}

func pgpRevoked(revs []*packet.Signature, now time.Time) bool {
	return (&openpgp.Key{Revocations: revs}).Revoked(now)
}

func pgpRevocationReason(revs []*packet.Signature) string {
	for _, r := range revs {
		var why []string
		if r.RevocationReason != nil {
			if s, ok := map[packet.ReasonForRevocation]string{
				packet.KeySuperseded:  "superseded",
				packet.KeyCompromised: "compromised",
				packet.KeyRetired:     "no longer used",
			}[*r.RevocationReason]; ok {
				why = append(why, s)
			}
		}
		if r.RevocationReasonText != "" {
			why = append(why, fmt.Sprintf("%q", r.RevocationReasonText))
		}
		if len(why) > 0 {
			return " (" + strings.Join(why, ": ") + ")"
		}
	}
	return ""
}

// pgpCheckAlgorithm refuses keys too weak, or of algorithms files are not encrypted with.
func pgpCheckAlgorithm(fpr string, primary, enc *packet.PublicKey) error {
	for _, pk := range []*packet.PublicKey{primary, enc} {
		switch pk.PubKeyAlgo {
		case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
			if bits, err := pk.BitLength(); err != nil || bits < 2048 {
				return fmt.Errorf("%w: key %s: its RSA key of %d bits is shorter than the 2048 bits required: its owner should create a new key, RSA 3072 or Ed25519/Cv25519",
					ErrRecipientKey, fpr, bits)
			}
		}
	}
	switch enc.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoECDH,
		packet.PubKeyAlgoX25519, packet.PubKeyAlgoX448,
		packet.PubKeyAlgoMlkem768X25519, packet.PubKeyAlgoMlkem1024X448:
		return nil
	}
	return fmt.Errorf("%w: key %s encrypts with %s, which is not supported: its owner should add an RSA (at least 2048 bits) or Cv25519 encryption subkey",
		ErrRecipientKey, fpr, pgpAlgorithm(enc))
}

// pgpExpiry is the earliest end of the primary key, its self-signature and the encryption
// key with its binding signature.
func pgpExpiry(primary *packet.PublicKey, selfSig *packet.Signature, k openpgp.Key) *time.Time {
	var first *time.Time
	for _, t := range []*time.Time{
		pgpLifetimeEnd(primary.CreationTime, selfSig.KeyLifetimeSecs),
		pgpLifetimeEnd(selfSig.CreationTime, selfSig.SigLifetimeSecs),
		pgpLifetimeEnd(k.PublicKey.CreationTime, k.SelfSignature.KeyLifetimeSecs),
		pgpLifetimeEnd(k.SelfSignature.CreationTime, k.SelfSignature.SigLifetimeSecs),
	} {
		if t != nil && (first == nil || t.Before(*first)) {
			first = t
		}
	}
	if first != nil {
		t := first.UTC()
		first = &t
	}
	return first
}

func pgpAlgorithmPair(primary, enc *packet.PublicKey) string {
	p, e := pgpAlgorithm(primary), pgpAlgorithm(enc)
	if p == e {
		return p
	}
	return p + "/" + e
}

// pgpAlgorithm names a key's algorithm as people know it: "RSA 3072", "Ed25519", "Cv25519",
// "ECDH P-256".
func pgpAlgorithm(pk *packet.PublicKey) string {
	bits, _ := pk.BitLength()
	curve, _ := pk.Curve()
	curveName := map[packet.Curve]string{
		packet.Curve25519:         "25519",
		packet.Curve448:           "448",
		packet.CurveNistP256:      "P-256",
		packet.CurveNistP384:      "P-384",
		packet.CurveNistP521:      "P-521",
		packet.CurveSecP256k1:     "secp256k1",
		packet.CurveBrainpoolP256: "brainpoolP256r1",
		packet.CurveBrainpoolP384: "brainpoolP384r1",
		packet.CurveBrainpoolP512: "brainpoolP512r1",
	}[curve]
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		return fmt.Sprintf("RSA %d", bits)
	case packet.PubKeyAlgoDSA:
		return fmt.Sprintf("DSA %d", bits)
	case packet.PubKeyAlgoElGamal:
		return fmt.Sprintf("ElGamal %d", bits)
	case packet.PubKeyAlgoECDSA:
		return "ECDSA " + curveName
	case packet.PubKeyAlgoECDH:
		if curve == packet.Curve25519 || curve == packet.Curve448 {
			return "Cv" + curveName
		}
		return "ECDH " + curveName
	case packet.PubKeyAlgoEdDSA:
		if curve == packet.Curve25519 || curve == packet.Curve448 {
			return "Ed" + curveName
		}
		return "EdDSA " + curveName
	case packet.PubKeyAlgoEd25519:
		return "Ed25519"
	case packet.PubKeyAlgoEd448:
		return "Ed448"
	case packet.PubKeyAlgoX25519:
		return "X25519"
	case packet.PubKeyAlgoX448:
		return "X448"
	case packet.PubKeyAlgoMlkem768X25519:
		return "ML-KEM-768+X25519"
	case packet.PubKeyAlgoMlkem1024X448:
		return "ML-KEM-1024+X448"
	case packet.PubKeyAlgoMldsa65Ed25519:
		return "ML-DSA-65+Ed25519"
	case packet.PubKeyAlgoMldsa87Ed448:
		return "ML-DSA-87+Ed448"
	}
	return fmt.Sprintf("public-key algorithm %d", pk.PubKeyAlgo)
}
