// Package delivery owns what every way of delivering files to customers' servers shares.
//
// A [Transport] is one kind of target server (SFTP today, in package delivery/sftp): it reads
// a customer's URL and fields into a [Target] (its settings and secrets), checks them, shows
// them without secrets, pins the identity a server presents on first use, and opens a [Sink]
// whose Put delivers one file atomically within hard time limits. Transports [Register]
// themselves by kind and URL scheme; the service finds them with [Lookup] and [ForURL] and
// never names a kind itself.
//
// Every failure is an [*Error] that names what went wrong in words a support engineer can act
// on, carries a [Class] and the [Stage] it happened in, and tells with [IsPermanent] whether
// retrying can help. [Options] carry the service-wide settings of a delivery: the time limits
// and the source address outbound connections are bound to.
//
// The package moves bytes named by its caller; it knows nothing about events or export formats.
package delivery
