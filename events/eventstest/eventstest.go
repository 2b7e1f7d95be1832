// Package eventstest writes events into a test database and makes realistic payloads, for
// tests and benchmarks of the code that reads and exports them.
package eventstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventexport/eventexport/events"
)

// Copier copies rows into a table: a *pgxpool.Pool, *pgx.Conn or pgx.Tx.
type Copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// Insert writes evs into the events table, failing tb on error. An event without an ID gets a
// random one.
func Insert(tb testing.TB, db Copier, evs ...events.Event) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := db.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"id", "company_id", "type", "occurred_at", "payload"},
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
			e := evs[i]
			id := e.ID
			if id == "" {
				id = uuid.NewString()
			}
			return []any{id, e.CompanyID, e.Type, e.OccurredAt, string(e.Payload)}, nil
		}))
	if err != nil {
		tb.Fatalf("insert %d events: %v", len(evs), err)
	}
}

// Generate writes n courseComplete events of company into the events table, spread evenly
// over w, with payloads from CourseCompletePayload. It copies them in batches, so that n may
// be large.
func Generate(tb testing.TB, db Copier, company string, w events.Window, n int) {
	tb.Helper()
	const batch = 10_000
	step := w.Duration() / time.Duration(max(n, 1))
	evs := make([]events.Event, 0, min(n, batch))
	for i := range n {
		id := uuid.NewString()
		evs = append(evs, events.Event{
			ID:         id,
			CompanyID:  company,
			Type:       events.CourseComplete.Name,
			OccurredAt: w.Start.Add(time.Duration(i) * step),
			Payload:    CourseCompletePayload(i, id, company),
		})
		if len(evs) == batch || i == n-1 {
			Insert(tb, db, evs...)
			evs = evs[:0]
		}
	}
}

// CourseCompletePayload returns a realistic courseComplete payload of about 680 bytes (as the database returns it), shaped
// as in the product's documentation, numbered i.
func CourseCompletePayload(i int, id, company string) []byte {
	return fmt.Appendf(nil, `{"id": %q, "source": "course_completed", "timestamp": "2026-03-08T%02d:%02d:%02d.%03dZ", `+
		`"type": "status_change", "user": "learner.%06d@example.com", "companyId": %q, `+
		`"event": "courseCompletion", "notifiableId": "7670fdbe-15ed-504b-a680-d404fa4b0eb4", `+
		`"title": "New Student Orientation, part %d: \"Welcome\"", `+
		`"userDetail": {"id": "61149b2c-3f37-5032-be63-%012d", "firstName": "Bob", "lastName": "Johnson-Ødegård", `+
		`"externalCustomerId": "%012d", "sfContactId": null, "sfAccountId": null, `+
		`"client": "00f928f4-8718-5043-9164-32398b165c60", "ref1": "%012d", "ref2": "Department", `+
		`"ref3": "Cohort — %d"}}`,
		id, i/3600%24, i/60%60, i%60, i%1000, i, company, i%12, i, 111222333444+i, 111222333444+i, i%40)
}
