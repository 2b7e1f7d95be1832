package events

import "time"

// Event is a row of the platform's events table. Payload is the event as the customer
// receives it: a JSON object, shaped as its type documents.
type Event struct {
	ID         string // a UUID
	CompanyID  string // a UUID
	Type       string // a registered Type's Name
	OccurredAt time.Time
	Payload    []byte
}
