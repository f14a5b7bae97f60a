//go:build !notorch

package cli

import (
	"fmt"
	"testing"

	"medzoo/features"
)

// bin/zoo completes --protocol from its own list (it cannot import
// features): it must be the protocols zoo-torch parses.
func TestEvaluateProtocolsCompleteAsParsed(t *testing.T) {
	if got, want := fmt.Sprint(evaluateProtocols), fmt.Sprint(features.Protocols); got != want {
		t.Errorf("completion offers %s, features.Protocols are %s", got, want)
	}
	if got := fmt.Sprint(flagValues("protocol")); got != fmt.Sprint(features.Protocols) {
		t.Errorf("flagValues(protocol) = %s", got)
	}
}
