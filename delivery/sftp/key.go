package sftp

import (
	"bytes"
	//lint:ignore SA1019 DSA keys are recognised only to reject them with a clear message
	"crypto/dsa"
	"crypto/x509"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// ValidatePrivateKey checks that key is a private key this package can log
// in with: ed25519, ECDSA or RSA, in OpenSSH, PKCS#1, SEC 1 or unencrypted
// PKCS#8 format, decryptable with passphrase when it is encrypted. The error
// explains how to fix an unusable key. It is meant for when a destination is
// added, so a bad key is refused before the first night.
func ValidatePrivateKey(key, passphrase []byte) error {
	_, err := parseSigner(key, passphrase)
	return err
}

// parseSigner parses a private key into a signer, with errors that explain
// what to do.
func parseSigner(key, passphrase []byte) (ssh.Signer, error) {
	key = bytes.TrimSpace(key)
	switch {
	case len(key) == 0:
		return nil, errors.New("private key is empty")
	case bytes.HasPrefix(key, []byte("PuTTY-User-Key-File")):
		return nil, errors.New("private key is in PuTTY (.ppk) format, which is not supported: export it in OpenSSH format with PuTTYgen (Conversions > Export OpenSSH key)")
	case bytes.Contains(key, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----")):
		return nil, errors.New("private key is an encrypted PKCS#8 key, which is not supported: convert it to OpenSSH format with `ssh-keygen -p -f KEY` (it asks for the passphrase and keeps it), or to traditional PEM with `ssh-keygen -p -m PEM -f KEY`")
	case bytes.Contains(key, []byte("-----BEGIN PUBLIC KEY-----")) || bytes.Contains(key, []byte("-----BEGIN SSH2 PUBLIC KEY-----")):
		return nil, errors.New("this is a public key: the private key is needed (the public key goes into the server's authorized_keys)")
	case !bytes.Contains(key, []byte("-----BEGIN ")):
		if _, _, _, _, err := ssh.ParseAuthorizedKey(key); err == nil {
			return nil, errors.New("this is a public key: the private key is needed (the public key goes into the server's authorized_keys)")
		}
		return nil, errors.New("private key is not in a recognised format: want a PEM or OpenSSH private key starting with -----BEGIN")
	}

	raw, err := ssh.ParseRawPrivateKey(key)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		if len(passphrase) == 0 {
			return nil, errors.New("private key is encrypted: its passphrase is needed")
		}
		raw, err = ssh.ParseRawPrivateKeyWithPassphrase(key, passphrase)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, errors.New("private key passphrase is wrong")
		}
		if err != nil {
			return nil, fmt.Errorf("private key could not be decrypted: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("private key could not be parsed: %w; want an ed25519, ECDSA or RSA key in OpenSSH or PEM format", err)
	}
	if _, ok := raw.(*dsa.PrivateKey); ok {
		return nil, errors.New("private key is a DSA key, which current SSH servers no longer accept: generate an ed25519 key with `ssh-keygen -t ed25519`")
	}
	signer, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		return nil, fmt.Errorf("private key is not usable: %w", err)
	}
	return signer, nil
}
