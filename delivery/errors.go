package delivery

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Class says what kind of failure an Error is. Its string form is stable and
// suitable for metrics labels and logs.
type Class string

// Failure classes. Whether retrying can help is decided by [IsPermanent].
const (
	ClassRefused         Class = "refused"           // connection refused, host unreachable or not resolvable
	ClassTimeout         Class = "timeout"           // a time limit passed; see Error.Stage and Error.Limit
	ClassAuth            Class = "auth failed"       // the server rejected the user name, password or key
	ClassHostKeyUnknown  Class = "host key unknown"  // no host key pinned for this target
	ClassHostKeyMismatch Class = "host key mismatch" // the server presented a key other than the pinned one
	ClassPermission      Class = "permission denied" // the server refused a file operation
	ClassNoSuchDir       Class = "no such directory" // the remote directory is missing and cannot be created
	ClassConnLost        Class = "connection lost"   // the connection broke
	ClassIncompatible    Class = "incompatible"      // no common algorithms, or no SFTP service
	ClassServer          Class = "server error"      // the server failed an operation for another reason
	ClassSource          Class = "source failed"     // reading the data to upload failed
	ClassCanceled        Class = "canceled"          // the caller canceled the attempt
	ClassConfig          Class = "config"            // the target's configuration is unusable
	ClassRejected        Class = "rejected"          // the receiver answered that it refuses the file (HTTP 4xx)
)

// Stage says how far an attempt got.
type Stage string

// Attempt stages, in order.
const (
	StageConfig      Stage = "configuration"
	StageTCPConnect  Stage = "tcp connect"
	StageHandshake   Stage = "ssh handshake"
	StageAuth        Stage = "authentication"
	StageSFTPSession Stage = "sftp session"
	StageMkdir       Stage = "create directory"
	StageUpload      Stage = "upload"
	StageRename      Stage = "rename"
)

// Limit names the time limit that passed in a ClassTimeout error.
type Limit string

// Time limits.
const (
	LimitConnect Limit = "connect timeout"
	LimitAttempt Limit = "attempt timeout"
	LimitCaller  Limit = "caller deadline"
)

// Error is a failed delivery attempt.
type Error struct {
	Class Class
	Stage Stage
	Err   error // the underlying error, for logs and errors.Is/As

	// Presented is the fingerprint of the key the server presented, on host
	// key errors.
	Presented string
	// Limit is the time limit that passed, on ClassTimeout errors, and
	// Duration its length.
	Limit    Limit
	Duration time.Duration
	// Addr is the server's host:port; Path the remote path concerned, if any.
	Addr string
	Path string
	// Hint replaces the generic advice for the class, when set.
	Hint string
	// RetryAfter is how long the server asked to be left alone before the next attempt
	// (HTTP Retry-After); 0 when it did not say.
	RetryAfter time.Duration
	// Once says the attempt is not retried (a manual run or a test send): the advice then
	// promises no retry.
	Once bool
}

// Error says what happened and what to do, in plain words.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.what())
	switch e.Class {
	case ClassSource, ClassHostKeyUnknown, ClassHostKeyMismatch, ClassTimeout, ClassCanceled:
		// The underlying error adds nothing a reader needs.
	default:
		if e.Err == nil {
			break
		}
		b.WriteString(" (")
		b.WriteString(e.Err.Error())
		b.WriteString(")")
	}
	advice := cmpStr(e.Hint, e.advice())
	if e.Once {
		advice = strings.Replace(advice, "; it will be retried", "; this attempt is not retried", 1)
	}
	if advice != "" {
		b.WriteString(". ")
		b.WriteString(advice)
	}
	return b.String()
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (e *Error) server() string {
	if e.Addr == "" {
		return "the server"
	}
	return e.Addr
}

func (e *Error) what() string {
	switch e.Class {
	case ClassRefused:
		return fmt.Sprintf("could not connect to %s", e.server())
	case ClassTimeout:
		if e.Duration == 0 {
			return fmt.Sprintf("timed out during %s with %s: the %s passed", e.Stage, e.server(), e.Limit)
		}
		return fmt.Sprintf("timed out during %s with %s: the %s of %s passed", e.Stage, e.server(), e.Limit, e.Duration)
	case ClassAuth:
		return fmt.Sprintf("authentication failed at %s", e.server())
	case ClassHostKeyUnknown:
		return fmt.Sprintf("the host key of %s is not known: the server presented %s", e.server(), e.Presented)
	case ClassHostKeyMismatch:
		return fmt.Sprintf("HOST KEY MISMATCH at %s: the server presented %s, which does not match the pinned host key", e.server(), e.Presented)
	case ClassPermission:
		switch e.Stage {
		case StageUpload:
			return fmt.Sprintf("permission denied at %s: could not create a file in %s", e.server(), e.pathOrDir())
		case StageRename:
			return fmt.Sprintf("permission denied at %s: could not rename the uploaded file to %s", e.server(), e.pathOrDir())
		}
		return fmt.Sprintf("permission denied at %s during %s of %s", e.server(), e.Stage, e.pathOrDir())
	case ClassNoSuchDir:
		if e.Path == "" || e.Path == "/" || e.Path == "." {
			return fmt.Sprintf("the login directory does not exist at %s", e.server())
		}
		return fmt.Sprintf("the remote directory %s does not exist at %s and could not be created", e.Path, e.server())
	case ClassConnLost:
		return fmt.Sprintf("the connection to %s was lost during %s", e.server(), e.Stage)
	case ClassIncompatible:
		return fmt.Sprintf("could not agree on a secure connection with %s during %s", e.server(), e.Stage)
	case ClassServer:
		return fmt.Sprintf("%s failed during %s of %s", e.server(), e.Stage, e.pathOrDir())
	case ClassSource:
		if e.Err != nil {
			return fmt.Sprintf("reading the data to upload failed: %v", e.Err)
		}
		return "reading the data to upload failed"
	case ClassCanceled:
		return fmt.Sprintf("the delivery to %s was canceled during %s", e.server(), e.Stage)
	case ClassConfig:
		return "the target's configuration is unusable"
	case ClassRejected:
		return fmt.Sprintf("the receiver at %s rejected the file", e.server())
	default:
		return fmt.Sprintf("delivery to %s failed during %s", e.server(), e.Stage)
	}
}

func (e *Error) pathOrDir() string {
	if e.Path == "" {
		return "the login directory"
	}
	return e.Path
}

func (e *Error) advice() string {
	switch e.Class {
	case ClassRefused:
		return "Check the host name and port, and that the customer's firewall allows our source addresses; it will be retried"
	case ClassTimeout:
		switch e.Stage {
		case StageTCPConnect:
			return "The server did not answer; a firewall may be dropping our connection (check the customer's allow-list) or the host is down; it will be retried"
		case StageHandshake:
			return "The server accepted the connection but did not complete the SSH handshake; it may be overloaded, or not an SSH server; it will be retried"
		case StageAuth, StageSFTPSession:
			return "The server stopped answering while logging in; it will be retried"
		default:
			return "The server stopped answering or became too slow; the partial upload was not published under its final name; it will be retried"
		}
	case ClassAuth:
		return "Check the user name, password or private key with the customer; retrying will not help"
	case ClassHostKeyUnknown:
		return "Nothing was uploaded. Confirm this fingerprint with the customer, then pin it: eventexport test-send DESTINATION --accept-host-key, or eventexport destinations update DESTINATION --host-key PIN (targets update for a shared target)"
	case ClassHostKeyMismatch:
		return "Nothing was uploaded. The server may have been reinstalled, or the connection intercepted; confirm the new key with the customer before pinning it with eventexport destinations update DESTINATION --host-key PIN (targets update for a shared target)"
	case ClassPermission:
		return "The account may not write there; ask the customer to grant write access or correct the path; retrying will not help"
	case ClassNoSuchDir:
		return "Ask the customer to create the directory or correct the path; retrying will not help"
	case ClassConnLost:
		return "The server or the network closed the connection; it will be retried"
	case ClassIncompatible:
		return "The server offers only algorithms we do not accept, or no SFTP service; ask the customer to update the server, or enable legacy crypto for this target; retrying will not help"
	case ClassServer:
		return "The server reported a failure (it may be out of space); it will be retried"
	case ClassRejected:
		return "Ask the customer why their receiver refuses the file, and re-send it once they have fixed it; retrying will not help"
	case ClassConfig:
		return "Correct the target's settings (eventexport destinations update, or targets update for a shared target); retrying will not help"
	}
	return ""
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same attempt cannot succeed.
func (e *Error) Permanent() bool {
	switch e.Class {
	case ClassAuth, ClassHostKeyUnknown, ClassHostKeyMismatch, ClassPermission,
		ClassNoSuchDir, ClassIncompatible, ClassConfig, ClassCertificate, ClassRejected:
		return true
	}
	return false
}

// Timeout reports whether the error is a time limit passing.
func (e *Error) Timeout() bool { return e.Class == ClassTimeout }

// IsPermanent reports whether err is a delivery failure that retrying will
// not fix: authentication, host key, permission, missing directory and
// configuration problems. Connection-level failures and timeouts are
// transient; so is any error that is not an *Error.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// ClassOf returns the Class of a delivery error, or "" if err is not one.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ""
}
