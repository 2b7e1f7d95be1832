package sftp

import (
	"fmt"
	"strings"

	"github.com/eventexport/eventexport/delivery"
)

// DefaultPort is the SSH port used when a URL or Config names none.
const DefaultPort = 22

// ParseURL parses a customer's SFTP URL, sftp://user:password@host:port/path.
//
// The user name and password are percent-decoded (customers percent-encode
// characters such as @ : / ? # and space in them). The port defaults to 22.
// The path is the remote directory: "/upload" is the absolute directory
// /upload, "/~/upload" is the directory upload inside the login directory, and
// an empty path means the login directory. IPv6 hosts are written in brackets:
// sftp://user@[::1]:2222/upload.
//
// Errors name the part of the URL that is wrong and never contain the password.
func ParseURL(raw string) (Config, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Config{}, fmt.Errorf("parse sftp url: the url is empty")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Config{}, fmt.Errorf("parse sftp url: missing scheme: want sftp://user:password@host:port/path")
	}
	if !strings.EqualFold(scheme, "sftp") {
		return Config{}, fmt.Errorf("parse sftp url: unsupported scheme %q: only sftp:// urls are supported", delivery.Truncate(scheme, 16))
	}

	u, err := delivery.ParseServerURL("sftp", rest, DefaultPort)
	if err != nil {
		return Config{}, err
	}
	return Config{Host: u.Host, Port: u.Port, User: u.User, Password: u.Password, Dir: u.Dir}, nil
}
