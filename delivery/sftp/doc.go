// Package sftp is the SFTP transport.
//
// A [Config] describes one target server: where it is, how to log in, which host key to trust
// and which directory to write to. It is usually built from a customer's URL with [ParseURL].
// [New] turns it into a [Target] whose [Target.Put] uploads one file atomically (temporary
// name, then rename) within hard time limits, verifying the server's host key first. The
// [Transport] registered as kind "sftp" makes Configs from stored targets.
package sftp
