package sftp

import (
	"slices"

	"golang.org/x/crypto/ssh"
)

// algorithmConfig returns the key exchanges, ciphers and MACs to offer.
// Without legacy it offers only what golang.org/x/crypto/ssh considers
// secure: no SHA-1 key exchange, no CBC or RC4 ciphers.
func algorithmConfig(legacy bool) ssh.Config {
	ok := ssh.SupportedAlgorithms()
	cfg := ssh.Config{
		KeyExchanges: ok.KeyExchanges,
		Ciphers:      ok.Ciphers,
		MACs:         ok.MACs,
	}
	if legacy {
		old := ssh.InsecureAlgorithms()
		cfg.KeyExchanges = slices.Concat(cfg.KeyExchanges, old.KeyExchanges)
		cfg.Ciphers = slices.Concat(cfg.Ciphers, old.Ciphers)
		cfg.MACs = slices.Concat(cfg.MACs, old.MACs)
	}
	return cfg
}

// userSigner restricts RSA user keys to SHA-2 signatures unless legacy
// algorithms are allowed.
func userSigner(s ssh.Signer, legacy bool) (ssh.Signer, error) {
	if legacy || s.PublicKey().Type() != ssh.KeyAlgoRSA {
		return s, nil
	}
	as, ok := s.(ssh.AlgorithmSigner)
	if !ok {
		return s, nil
	}
	return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
}
