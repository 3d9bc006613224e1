package job

import (
	"reflect"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
)

// TestShareCoversCounts: share takes every flow of imapi.Counts. A field
// added to Counts (as issue 20's Changed) fails here until share, and the
// metrics that read Result.Invocation, count it.
func TestShareCoversCounts(t *testing.T) {
	var c, base imapi.Counts
	cv, bv := reflect.ValueOf(&c).Elem(), reflect.ValueOf(&base).Elem()
	for i := range cv.NumField() {
		cv.Field(i).SetInt(10)
		bv.Field(i).SetInt(3)
	}
	got := reflect.ValueOf(share(c, base))
	for i := range cv.NumField() {
		name, v := cv.Type().Field(i).Name, got.Field(i).Int()
		want := int64(7)
		switch name {
		case "Total":
			want = 14 // Succeeded + Failed
		case "Pending":
			want = 0 // a state, not a flow: the records left are the report's
		}
		if v != want {
			t.Errorf("share: %s = %d, want %d: add it to share (and to the metrics of package metrics)", name, v, want)
		}
	}
}
