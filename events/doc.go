// Package events owns the platform's events as the exporter sees them: the Event, the
// event-type registry, the calendar Day and its Window in the instance time zone, and reading
// a day's events of one company and type from PostgreSQL in order.
package events
