package awslambda

import (
	"testing"

	"github.com/removetag/removetag/pkg/adapters/trigger/triggertest"
)

// FuzzDecode holds decode to the promises of triggertest.Fuzz.
func FuzzDecode(f *testing.F) { triggertest.Fuzz(f, "../../../examples/events/*.json", decode) }

// TestDecodeBounds holds decode to the bounds of triggertest.TestBounds.
func TestDecodeBounds(t *testing.T) { triggertest.TestBounds(t, decode) }
