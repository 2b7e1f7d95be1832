// Package export is the engine that turns events into delivered files: the planner creates
// each night's runs, the worker claims due runs with a lease and retries them on a durable
// schedule, the runner streams a run's events through its file format into a delivery sink and
// records each attempt, and failures for good are alerted on. Storage is package store, file
// formats and names package file, transports package delivery.
package export
