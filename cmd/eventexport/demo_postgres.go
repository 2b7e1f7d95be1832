package main

import (
	"context"
	"fmt"
	"io"

	"github.com/eventexport/eventexport/migrations/pgcluster"
)

// localPostgresURL is the server the demo tries when DATABASE_URL is not set.
const localPostgresURL = pgcluster.LocalURL + "&connect_timeout=3"

// demoDatabase finds a PostgreSQL server for the demo: DATABASE_URL, a server on
// 127.0.0.1:5432, or a throwaway cluster started from local PostgreSQL binaries. stop ends
// whatever it started.
func demoDatabase(ctx context.Context, getenv env, log io.Writer) (url string, stop func(), err error) {
	if u := getenv("DATABASE_URL"); u != "" {
		fmt.Fprintln(log, "database: DATABASE_URL")
		return u, func() {}, nil
	}
	if reachable(ctx, localPostgresURL) {
		fmt.Fprintln(log, "database: PostgreSQL on 127.0.0.1:5432")
		return localPostgresURL, func() {}, nil
	}
	bin, err := findPostgresBin()
	if err != nil {
		return "", nil, err
	}
	fmt.Fprintf(log, "database: a throwaway cluster from %s\n", bin)
	return startThrowawayCluster(ctx, bin)
}

func reachable(ctx context.Context, url string) bool { return pgcluster.Reachable(ctx, url) }

// findPostgresBin returns the directory holding initdb and postgres.
func findPostgresBin() (string, error) { return pgcluster.FindBin() }

// startThrowawayCluster runs a cluster from bin in a temporary directory, on a free loopback
// port, until stop.
func startThrowawayCluster(ctx context.Context, bin string) (string, func(), error) {
	url, stop, err := pgcluster.Start(ctx, pgcluster.Options{Bin: bin})
	if err != nil {
		return "", nil, err
	}
	return url, func() { _ = stop() }, nil
}
