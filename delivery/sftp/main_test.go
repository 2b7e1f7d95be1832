package sftp_test

import (
	"encoding/pem"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }
