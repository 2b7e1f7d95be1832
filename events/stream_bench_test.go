package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventexport/eventexport/events"
	"github.com/eventexport/eventexport/events/eventstest"
	"github.com/eventexport/eventexport/migrations/pgtest"
)

// BenchmarkStream reads a day of 100,000 realistic courseComplete events, once per iteration.
//
//	go test ./events -run '^$' -bench Stream -benchtime 10x
func BenchmarkStream(b *testing.B) {
	const n = 100_000
	db := pgtest.New(b)
	company := uuid.NewString()
	w := events.Day{Year: 2026, Month: time.March, Day: 8}.Window(time.UTC)
	eventstest.Generate(b, db.Pool, company, w, n)
	if _, err := db.Pool.Exec(context.Background(), "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()

	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bytes = 0
		got, err := events.Stream(ctx, db.Pool, company, events.CourseComplete, w, func(p []byte) error {
			bytes += int64(len(p))
			return nil
		})
		if err != nil || got != n {
			b.Fatalf("Stream = %d, %v; want %d", got, err, n)
		}
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
