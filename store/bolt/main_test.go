package bolt

import (
	"testing"

	"github.com/dtsrepl/dts/internal/testenv"
)

// Every test stops what it starts: no goroutine outlives the package's tests.
func TestMain(m *testing.M) { testenv.Main(m) }
