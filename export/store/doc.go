// Package store owns the exporter's own tables: targets, destinations, runs and attempts.
// Every query of those tables is here, with the run states and attempt outcomes as constants,
// the sealing of secrets at rest (AES-256-GCM under the operator's key) and key rotation.
// Nothing else in the service writes those tables; the events table is read by package events.
package store
