package zoo

import (
	"testing"

	"medzoo/internal/catalogtest"
)

func TestMain(m *testing.M) { catalogtest.Main(m) }

// userEntry is a minimal valid catalog entry.
var userEntry = catalogtest.Entry

// isolate points the config dir and the catalog list away from the user's.
var isolate = catalogtest.Isolate
