package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// baselineChild is the minimal streaming program the exporter is compared with: pgx rows →
// JSON array → pkg/sftp with concurrent writes, no bookkeeping.
func baselineChild() error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	nc, err := net.Dial("tcp", os.Getenv("BENCH_SFTP_ADDR"))
	if err != nil {
		return err
	}
	auth := []ssh.AuthMethod{ssh.Password(os.Getenv("BENCH_SFTP_PASSWORD"))}
	if keyFile := os.Getenv("BENCH_SFTP_KEY"); keyFile != "" {
		pemBytes, err := os.ReadFile(keyFile)
		if err != nil {
			return err
		}
		signer, err := ssh.ParsePrivateKey(pemBytes)
		if err != nil {
			return err
		}
		auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, os.Getenv("BENCH_SFTP_ADDR"), &ssh.ClientConfig{
		User: os.Getenv("BENCH_SFTP_USER"), Auth: auth,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // loopback benchmark server only
	})
	if err != nil {
		return err
	}
	client, err := sftp.NewClient(ssh.NewClient(sc, chans, reqs), sftp.UseConcurrentWrites(true))
	if err != nil {
		return err
	}
	defer client.Close()
	dir := os.Getenv("BENCH_SFTP_DIR")
	if err := client.MkdirAll(dir); err != nil {
		return err
	}
	f, err := client.OpenFile(dir+"/baseline.json", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	ny, _ := time.LoadLocation("America/New_York")
	w := benchDay.Window(ny)
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		rows, err := conn.Query(ctx, `SELECT payload::text FROM events WHERE company_id = $1 AND type = $2
			AND occurred_at >= $3 AND occurred_at < $4 ORDER BY occurred_at, id`, company, "courseComplete", w.Start, w.End)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		sep := byte('[')
		for rows.Next() {
			bw.WriteByte(sep)
			bw.Write(rows.RawValues()[0])
			sep = ','
		}
		if sep == '[' {
			bw.WriteByte('[')
		}
		bw.WriteString("]\n")
		if err := rows.Err(); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(bw.Flush())
	}()
	n, err := f.ReadFromWithConcurrency(pr, 64)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("%s/baseline.json\t0 events\t%d bytes\n", dir, n)
	return nil
}
