package sftp_test

import (
	"encoding/pem"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/eventexport/eventexport/delivery/sftp"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Connections kept for the next delivery are the pool's; everything else must be gone.
	sftp.CloseIdle()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }
