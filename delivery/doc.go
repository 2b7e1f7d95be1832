// Package delivery owns moving bytes to customers' SFTP servers.
//
// A [Config] describes one target server: where it is, how to log in, which
// host key to trust and which directory to write to. It is usually built from
// a customer's URL with [ParseURL]. [New] turns it into a [Target] whose
// [Target.Put] uploads one file atomically (temporary name, then rename)
// within hard time limits, verifying the server's host key first.
//
// Every failure is an [*Error] that names what went wrong in words a support
// engineer can act on, carries a [Class] and the [Stage] it happened in, and
// tells with [IsPermanent] whether retrying can help.
//
// The package moves bytes named by its caller; it knows nothing about events
// or export formats.
package delivery
