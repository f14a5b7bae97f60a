//go:build !notorch

package cli

import "testing"

// The LibTorch build implements every use of torchUses (registerTorch
// refuses any other at start-up).
func TestTorchBuildImplementsEveryUse(t *testing.T) {
	for _, u := range torchUses {
		if torchActions[u.String()] == nil {
			t.Errorf("%s has no LibTorch implementation in registry_torch.go", u)
		}
	}
	if len(torchActions) != len(torchUses) {
		t.Errorf("%d implementations for %d uses", len(torchActions), len(torchUses))
	}
}
