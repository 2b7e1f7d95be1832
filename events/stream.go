package events

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Querier begins the transaction events are read in: a *pgxpool.Pool, *pgx.Conn or pgx.Tx.
type Querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// streamSettings make the day stream from the first row. Left to itself, the planner may scan
// and sort a large company's whole day before returning anything (a parallel sequential scan
// feeding a sort that spills to disk), which keeps the upload waiting; the index on
// (company_id, type, occurred_at) yields the rows already in time order, so an incremental
// sort by id can pass them on at once and the upload overlaps the read. JIT compilation only
// adds start-up time to this simple query.
const streamSettings = `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL jit = off`

// streamSQL reads the payloads as text: the same bytes whatever result format the connection
// uses, with no jsonb version byte to strip.
const streamSQL = `SELECT payload::text FROM events
WHERE company_id = $1 AND type = $2 AND occurred_at >= $3 AND occurred_at < $4
ORDER BY occurred_at, id`

// Stream calls fn with the payload of each event of the company and type that occurred in w,
// ordered by (occurred_at, id), and returns how many it passed. The payload is the event's JSON
// and is valid only during the call.
//
// Any error fn returns stops the stream and is returned as is; the query is then cancelled
// rather than read to its end, which closes the connection it ran on (a pool replaces it). A
// query that fails, also after some events were passed (a lost connection, a timeout, ctx
// cancelled), returns an error too: a nil error means every event of the window was passed.
func Stream(ctx context.Context, q Querier, companyID string, t Type, w Window, fn func(payload []byte) error) (int64, error) {
	var company pgtype.UUID
	if err := company.Scan(companyID); err != nil {
		return 0, fmt.Errorf("stream %s events: company id %q is not a UUID", t.Name, companyID)
	}
	if !w.Start.Before(w.End) {
		return 0, fmt.Errorf("stream %s events: empty window %s", t.Name, w)
	}

	// Cancelling the query when fn fails ends it at once; closing the rows would otherwise
	// read the rest of the day from the server first.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	tx, err := q.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("query %s events of company %s in %s: %w", t.Name, companyID, w, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to commit
	if _, err := tx.Exec(ctx, streamSettings); err != nil {
		return 0, fmt.Errorf("query %s events of company %s in %s: %w", t.Name, companyID, w, err)
	}
	rows, err := tx.Query(ctx, streamSQL, company, t.Name, w.Start, w.End)
	if err != nil {
		return 0, fmt.Errorf("query %s events of company %s in %s: %w", t.Name, companyID, w, err)
	}
	defer rows.Close()

	var n int64
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 1 || v[0] == nil {
			return n, fmt.Errorf("read %s events of company %s: unexpected row shape", t.Name, companyID)
		}
		if err := fn(v[0]); err != nil {
			cancel()
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read %s events of company %s in %s after %d events: %w", t.Name, companyID, w, n, err)
	}
	return n, nil
}
