package imapi

import (
	"encoding/json"
	"fmt"
	"path"

	"github.com/removetag/removetag/pkg/records"
)

// Operation is an API of the service's all_member_push family, named by its
// path under the base URL. A [Client] makes one call of any of them; an
// [Engine] drives any that takes records in im_remove_tag's form, chosen per
// run with [WithOperation].
//
// To add an operation: a constant here, its request body in body if it is not
// {"UserTags":[…]}, and the emulator's strict version in package emulator.
type Operation string

// The operations this package knows. Sources: the Chat REST API's pages of the
// all_member_push family, e.g. "添加用户标签" (cloud.tencent.com/document/product/1212/45941:
// im_add_tag takes im_remove_tag's body, 100 accounts and 100 calls/s, and at most
// 10 tags per account) and "获取用户标签" for im_get_tag.
const (
	// RemoveTag removes tags: {"UserTags":[{"To_Account":"u1","Tags":["a"]},…]}. The engine's default.
	RemoveTag Operation = "/v4/all_member_push/im_remove_tag"
	// AddTag adds tags; its body is RemoveTag's. The decoders check records
	// against im_remove_tag's limits; the service refuses more than 10 tags per
	// account in an add, which a caller adding tags must check itself.
	AddTag Operation = "/v4/all_member_push/im_add_tag"
	// GetTag lists accounts' tags: {"To_Account":["u1",…]} (the records' Tags are not sent),
	// answered with their UserTags (see [Client.GetTags]).
	GetTag Operation = "/v4/all_member_push/im_get_tag"
)

// Limits of one call and of the call rate.
const (
	// MaxAccountsPerCall is the most accounts one im_remove_tag call may carry (more: error 90018).
	MaxAccountsPerCall = 100
	// MaxCallsPerSecond is the documented call rate limit of im_remove_tag.
	MaxCallsPerSecond = 100
)

// Name returns the API's name, the last element of its path: "im_remove_tag".
func (o Operation) Name() string { return path.Base(string(o)) }

// errorOp is the operation's name in errors' Op field: "" for im_remove_tag.
func (o Operation) errorOp() string {
	if o == RemoveTag {
		return ""
	}
	return o.Name()
}

// body encodes the records of one call as the operation's request body.
func (o Operation) body(recs []records.Record) ([]byte, error) {
	var v any
	switch o {
	case GetTag:
		accounts := make([]string, len(recs))
		for i, r := range recs {
			accounts[i] = r.Account
		}
		v = struct {
			To []string `json:"To_Account"`
		}{accounts}
	default:
		v = struct {
			UserTags []records.Record `json:"UserTags"`
		}{recs}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("imapi: encode %s request: %w", o.Name(), err)
	}
	return body, nil
}
