// Package export turns a day of events into delivered files: it owns the encoders (JSON, CSV),
// the file names, planning each night into runs (one file per destination, event type and day),
// and running a run — streaming the events through an encoder into a delivery.
package export
