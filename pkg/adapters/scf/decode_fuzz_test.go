package scf

import (
	"testing"

	"github.com/removetag/removetag/pkg/adapters/trigger/triggertest"
)

// FuzzDecode holds Decode to the promises of triggertest.Fuzz.
func FuzzDecode(f *testing.F) { triggertest.Fuzz(f, "../../../examples/events/*.json", Decode) }

// TestDecodeBounds holds Decode to the bounds of triggertest.TestBounds.
func TestDecodeBounds(t *testing.T) { triggertest.TestBounds(t, Decode) }
