package export

import (
	"testing"

	"github.com/eventexport/eventexport/migrations/pgtest"
)

// The tests' schemas are dropped, and a throwaway cluster stopped, once they have run.
func TestMain(m *testing.M) { pgtest.Main(m) }
