package ftps

import (
	"fmt"
	"strings"

	"github.com/eventexport/eventexport/delivery"
)

// The FTPS ports: explicit TLS (AUTH TLS on the FTP port) and implicit TLS.
const (
	DefaultPort  = 21
	ImplicitPort = 990
)

// URL is a customer's FTPS URL, read.
type URL struct {
	User, Password string
	Host           string
	Port           int // 0 when the URL names none
	Dir            string
}

// ParseURL reads ftps://user:password@host[:port]/path. The user name and password are
// percent-decoded; the path is the remote directory ("/upload" absolute, "/~/upload" or ""
// relative to the login directory). ftp:// is refused: plain FTP sends passwords in the clear.
// Errors never contain the password.
func ParseURL(raw string) (URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return URL{}, fmt.Errorf("the url is empty")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return URL{}, fmt.Errorf("missing scheme: want ftps://user:password@host:port/path")
	}
	switch strings.ToLower(scheme) {
	case "ftps":
	case "ftp":
		return URL{}, fmt.Errorf("plain FTP (ftp://) sends passwords and files in the clear and is not supported: ask the customer for FTPS (ftps://, FTP over TLS) or SFTP (sftp://)")
	default:
		return URL{}, fmt.Errorf("unsupported scheme %q: want ftps://user:password@host:port/path", delivery.Truncate(scheme, 16))
	}
	su, err := delivery.ParseServerURL("ftps", rest, 0)
	if err != nil {
		return URL{}, err
	}
	for _, part := range []string{su.User, su.Password, su.Dir} {
		// FTP commands end at CR LF: a control character could not be sent.
		if strings.ContainsFunc(part, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return URL{}, fmt.Errorf("parse ftps url: the user name, password or path contains a control character, which FTP cannot carry")
		}
	}
	return URL{User: su.User, Password: su.Password, Host: su.Host, Port: su.Port, Dir: su.Dir}, nil
}
